"""The stage table as text: best value per metric, metric cells, the markdown table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from yololens.analysis.metrics import Estimate
from yololens.analysis.stage_text import METRICS


def best_per_metric(df: pd.DataFrame) -> dict[str, int]:
    """``{metric: row position}`` of the best value of each metric (max, or min for Davies-Bouldin)."""
    best = {}
    for m, _, higher in METRICS:
        v = df[m].astype(float).to_numpy() if m in df else np.array([])
        if np.isfinite(v).any():
            best[m] = int(np.nanargmax(v) if higher else np.nanargmin(v))
    return best


def metric_cell(value, lo, hi, bold: bool = False) -> str:
    """``0.812 [0.790, 0.833]``; the value alone when there is no interval; bold for the metric's best."""
    if pd.isna(value):
        return "n/a"
    text = f"**{value:.3f}**" if bold else f"{value:.3f}"
    return text if pd.isna(lo) or pd.isna(hi) else f"{text} [{lo:.3f}, {hi:.3f}]"


def markdown_table(df: pd.DataFrame) -> list[str]:
    """The stage table in markdown, the best value of each metric in bold."""
    metrics = [m for m, _, _ in METRICS]
    cols = ["stage", "n", "n_classes", *metrics]
    best = best_per_metric(df)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for pos, (_, r) in enumerate(df.iterrows()):
        cells = []
        for c in cols:
            v = r.get(c)
            if c in metrics:
                e = Estimate.of(r, c)
                cells.append(metric_cell(e.value, e.lo, e.hi, best.get(c) == pos))
            elif c == "stage":
                cells.append(str(v))
            else:
                cells.append("" if pd.isna(v) else str(int(v)))
        lines.append("| " + " | ".join(cells) + " |")
    return lines
