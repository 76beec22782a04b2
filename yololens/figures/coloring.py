"""Colours of scatter points, shared by the static (:mod:`yololens.figures.scatter`) and the bokeh
(:mod:`yololens.figures.scatter_html`) plots.

:func:`color_categories`: categorical columns (``class_name``, ``status``, ``attr_*``, ``size_bin`` ...) get one
colour per value (the commonest ``max_categories - 1`` values, the rest ``other``); numeric columns with many
values (``score``, ``box_area``) are cut into quantile bins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

METHOD_TITLES = {"tsne": "t-SNE", "umap": "UMAP", "pca": "PCA"}
MISSING = "(none)"
MISSING_COLOR = "#c8c8c8"
OTHER_COLOR = "#8c8c8c"
# Okabe-Ito colours (yololens.figures.readable.OKABE_ITO): told apart with every common colour-vision deficiency
FIXED_COLORS = {
    "status": {"TP": "#009E73", "FP": "#D55E00", "FN": "#CC79A7"},
    "origin": {"gt": "#56B4E9", "pred": "#E69F00"},
    "size_bin": {"small": "#fde725", "medium": "#21918c", "large": "#440154"},
}
ORDERED = {"size_bin": ["small", "medium", "large"]}


@dataclass
class Coloring:
    """Per-point category codes for one colour column.

    codes: ``(N,)`` int16 index into ``labels``; labels/counts/colors: one entry per category (hex colours).
    """

    column: str
    codes: np.ndarray
    labels: list[str]
    counts: list[int]
    colors: list[str]

    def legend_labels(self) -> list[str]:
        return [f"{lab} ({c:,})" for lab, c in zip(self.labels, self.counts)]


def _hex(rgba) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(round(255 * v)) for v in rgba[:3]))


def _palette(n: int, sequential: bool = False) -> list[str]:
    import matplotlib

    if sequential:
        cmap = matplotlib.colormaps["viridis"]
        return [_hex(cmap(v)) for v in np.linspace(0.05, 0.95, max(n, 1))][:n]
    if n <= 10:
        return [_hex(c) for c in matplotlib.colormaps["tab10"].colors[:n]]
    cols = list(matplotlib.colormaps["tab20"].colors) + list(matplotlib.colormaps["tab20b"].colors)
    cols += list(matplotlib.colormaps["tab20c"].colors)
    return [_hex(c) for c in cols[:n]]


def color_categories(values, column: str = "", max_categories: int = 20, n_bins: int = 8) -> Coloring:
    """Turn one column (``(N,)``) into a :class:`Coloring`; missing values become ``(none)`` (grey)."""
    s = pd.Series(values).reset_index(drop=True)
    n = len(s)
    sequential = False
    if s.dtype != bool and pd.api.types.is_numeric_dtype(s) and s.nunique(dropna=True) > 12:
        num = s.astype(float)
        bins = pd.qcut(num, q=n_bins, duplicates="drop")
        cats = [f"{iv.left:.3g} to {iv.right:.3g}" for iv in bins.cat.categories]
        codes = bins.cat.codes.to_numpy().astype(np.int64)
        labels = list(cats)
        sequential = True
    else:
        obj = s.astype(object)
        strs = obj.where(obj.notna(), MISSING).astype(str)
        vc = strs.value_counts()
        vc = vc.iloc[np.lexsort((vc.index.to_numpy(dtype=str), -vc.to_numpy()))]  # by count, ties by name
        if column in ORDERED:
            order = [v for v in ORDERED[column] if v in vc.index] + [v for v in vc.index if v not in ORDERED[column]]
        else:
            order = [v for v in vc.index if v != MISSING]
        if MISSING in vc.index and MISSING in order:
            order.remove(MISSING)
        other = []
        if len(order) > max_categories:
            other = order[max_categories - 1 :]
            order = order[: max_categories - 1]
        labels = list(order)
        if other:
            labels.append(f"other ({len(other)} values)")
        lut = {v: i for i, v in enumerate(order)}
        other_code = len(order) if other else -1
        lut[MISSING] = -1
        codes = strs.map(lambda v: lut.get(v, other_code)).to_numpy().astype(np.int64)
    if (codes < 0).any():
        labels.append(MISSING)
        codes = np.where(codes < 0, len(labels) - 1, codes)
    counts = np.bincount(codes, minlength=len(labels)).tolist() if n else [0] * len(labels)
    fixed = FIXED_COLORS.get(column, {})
    n_plain = sum(1 for lab in labels if lab != MISSING and not lab.startswith("other (") and lab not in fixed)
    pal = iter(_palette(n_plain, sequential))
    colors = []
    for lab in labels:
        if lab == MISSING:
            colors.append(MISSING_COLOR)
        elif lab in fixed:
            colors.append(fixed[lab])
        elif lab.startswith("other (") and not sequential:
            colors.append(OTHER_COLOR)
        else:
            colors.append(next(pal))
    return Coloring(column, codes.astype(np.int16), labels, [int(c) for c in counts], colors)
