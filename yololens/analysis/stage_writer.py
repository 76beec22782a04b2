"""Write the stage report: ``stages.csv``, ``stages.<png|svg>`` and ``stages.md`` (all atomically)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from yololens.analysis import table as T
from yololens.analysis.stage_text import METRICS
from yololens.store.atomic import atomic_path, save_figure, write_text


def write_report(report, out: str | os.PathLike, chart_format: str = "png") -> dict:
    """Write the files of ``report`` (a :class:`~yololens.analysis.stages.StageReport`) into ``OUT``."""
    import matplotlib.pyplot as plt

    from yololens.figures.stage_chart import stage_chart

    d = T.out_dir(out)
    csv_path = d / "stages.csv"
    with atomic_path(csv_path) as tmp:
        report.table.to_csv(tmp, index=False, float_format="%.6g")
    chart_path = d / f"stages.{chart_format}"
    fig = stage_chart(report.table, report.params)
    save_figure(fig, chart_path, dpi=120)
    plt.close(fig)
    md_path = d / "stages.md"
    lines = ["# Stage report", "", report.recommendation, "", *markdown_table(report.table), "",
             f"![stage metrics]({chart_path.name})", ""]
    write_text(md_path, "\n".join(lines))
    report.paths = {"csv": csv_path, "chart": chart_path, "md": md_path}
    return report.paths


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
                cells.append(metric_cell(v, r.get(c + "_lo"), r.get(c + "_hi"), best.get(c) == pos))
            elif c == "stage":
                cells.append(str(v))
            else:
                cells.append("" if pd.isna(v) else str(int(v)))
        lines.append("| " + " | ".join(cells) + " |")
    return lines
