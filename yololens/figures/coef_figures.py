"""Figures of the coefficient report: histograms, class x prototype heatmaps, ablation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.colors import Normalize, TwoSlopeNorm
from matplotlib.figure import Figure

from yololens.analysis.coef_stats import ALL, CoefTable
from yololens.figures.readable import font_pt

DPI = 100
MAX_ROWS = 30  # classes shown in a heatmap (most frequent first)


def histograms_figure(table: CoefTable, max_classes: int = 8) -> Figure:
    """One panel per coefficient; per-class step histograms (density) on shared bins."""
    classes = table.class_order()
    shown = classes[:max_classes]
    groups = [(name, table.classes == name) for name in shown]
    if len(classes) > max_classes:
        groups.append(("other", ~np.isin(table.classes, shown)))
    n = len(table.indices)
    cols = min(8, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(2.4 * cols, 2.0 * rows + 1.0), dpi=DPI, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    colors = [f"C{i}" for i in range(10)]
    for j, k in enumerate(table.indices):
        ax = axes[j // cols][j % cols]
        v = table.values[:, j]
        bins = np.linspace(float(v.min()), float(v.max()) + 1e-6, 25)
        for g, (name, sel) in enumerate(groups):
            if sel.any():
                ax.hist(v[sel], bins=bins, histtype="step", density=True, color=colors[g % 10], label=name, lw=1.2)
        ax.axvline(0, color="grey", lw=0.6, ls=":")
        ax.set_title(f"coefficient {k}", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_yticks([])
    for j in range(n, rows * cols):
        axes[j // cols][j % cols].set_visible(False)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 9), fontsize=9, frameon=False)
    fig.suptitle(f"mask coefficients per class ({len(table.classes)} instances; density)", fontsize=12)
    return fig


def _heatmap(ax, matrix: pd.DataFrame, cmap: str, norm, label: str, fig: Figure, fmt_counts: dict | None = None):
    im = ax.imshow(matrix.to_numpy(), aspect="auto", cmap=cmap, norm=norm, interpolation="nearest")
    pt = font_pt(fig.get_figwidth() * DPI, dpi=DPI, at_least=8)  # >= 10 px where the report shows it
    ax.set_xticks(range(matrix.shape[1]), [str(c) for c in matrix.columns], fontsize=pt)
    rows = [f"{r} (n={fmt_counts[r]})" if fmt_counts else str(r) for r in matrix.index]
    ax.set_yticks(range(matrix.shape[0]), rows, fontsize=pt)
    ax.set_xlabel("prototype k")
    fig.colorbar(im, ax=ax, label=label, fraction=0.04, pad=0.01)


def _matrix(df: pd.DataFrame, value: str, class_order: list[str]) -> tuple[pd.DataFrame, dict]:
    rows = [ALL] + [c for c in class_order if c in set(df["class_name"])][:MAX_ROWS]
    m = df.pivot(index="class_name", columns="prototype", values=value).reindex(rows)
    counts = df.groupby("class_name")["n"].first().to_dict()
    return m, counts


def _size(m: pd.DataFrame, panels: int = 1) -> tuple[float, float]:
    return (max(8.0, 0.32 * m.shape[1] + 3.5), panels * (0.3 * m.shape[0] + 1.6) + 0.6)


def class_mean_figure(usage: pd.DataFrame, class_order: list[str]) -> Figure:
    """Class x prototype mean coefficient (RdBu_r, symmetric)."""
    m, counts = _matrix(usage, "mean", class_order)
    lim = float(np.nanmax(np.abs(m.to_numpy()))) or 1.0
    fig = Figure(figsize=_size(m), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    _heatmap(ax, m, "RdBu_r", Normalize(-lim, lim), "mean coefficient", fig, counts)
    ax.set_title("mean mask coefficient per class and prototype")
    return fig


def usage_figure(usage: pd.DataFrame, class_order: list[str]) -> Figure:
    """Two heatmaps: mean |c|, and the share of instances with c > 0 (0.5 = balanced)."""
    m_abs, counts = _matrix(usage, "mean_abs", class_order)
    m_pos, _ = _matrix(usage, "pos_share", class_order)
    fig = Figure(figsize=_size(m_abs, 2), dpi=DPI, layout="constrained")
    ax1, ax2 = fig.subplots(2, 1)
    _heatmap(ax1, m_abs, "viridis", Normalize(0, float(np.nanmax(m_abs.to_numpy())) or 1.0), "mean |c|", fig, counts)
    ax1.set_title("prototype usage: mean |coefficient|")
    _heatmap(ax2, m_pos, "PuOr_r", TwoSlopeNorm(0.5, 0, 1), "share with c > 0", fig, counts)
    ax2.set_title("sign: share of instances with a positive coefficient (orange = adds, purple = removes)")
    return fig


def ablation_figure(ablation: pd.DataFrame, class_order: list[str]) -> Figure:
    """Class x prototype mean mask-IoU drop when that one coefficient is zeroed."""
    m, counts = _matrix(ablation, "mean_iou_drop", class_order)
    fig = Figure(figsize=_size(m), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    _heatmap(ax, m, "magma", Normalize(0, float(np.nanmax(m.to_numpy())) or 1.0), "mean IoU drop", fig, counts)
    ax.set_title("prototype ablation: mean mask-IoU drop with c_k = 0 (prototype resolution, in box)")
    return fig
