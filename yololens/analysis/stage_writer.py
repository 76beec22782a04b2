"""The stage table as text: best value per metric, metric cells, the markdown table."""

from __future__ import annotations

import pandas as pd

from yololens.analysis.metrics import Estimate
from yololens.analysis.stage_text import METRICS, best_per_metric
from yololens.analysis.verdict import stage_title

__all__ = ["best_per_metric", "markdown_table", "metric_cell"]


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
                cells.append(stage_title(str(v), r.get("role")))
            else:
                cells.append("" if pd.isna(v) else str(int(v)))
        lines.append("| " + " | ".join(cells) + " |")
    return lines
