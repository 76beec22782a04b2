"""Static scatter plots of 2-D projections (PNG/SVG): one panel or small multiples, legend, thumbnails.

Arrays in, figure out: :func:`yololens.jobs.plot.plot` runs the projections and writes the files.

Colours come from :func:`~yololens.figures.coloring.color_categories`: categorical columns (``class_name``, ``status``, ``attr_*``,
``size_bin`` ...) get one colour per value (the commonest ``max_categories - 1`` values, the rest ``other``);
numeric columns with many values (``score``, ``box_area``) are cut into quantile bins.
"""

from __future__ import annotations

import numpy as np

from yololens.figures.coloring import METHOD_TITLES, Coloring
from yololens.figures.density import DENSITY_MIN, draw_density

FIGURES_DIR = "figures"


def _point_size(n: int) -> float:
    return float(np.clip(12000.0 / max(n, 1), 0.6, 30.0))


def draw_scatter(ax, coords: np.ndarray, coloring: Coloring, *, seed: int = 0, size: float | None = None,
                 rasterized: bool | None = None):
    """Scatter ``coords`` ``(N, 2)`` coloured by ``coloring`` on ``ax`` (random draw order, so no class hides).

    Above :data:`~yololens.figures.density.DENSITY_MIN` points: every point as a class-coloured density raster.
    """
    n = len(coords)
    if n > DENSITY_MIN:
        draw_density(ax, coords, coloring)
        return
    order = np.random.default_rng(seed).permutation(n)
    cols = np.asarray(coloring.colors, dtype=object)[coloring.codes[order]]
    ax.scatter(
        coords[order, 0], coords[order, 1], c=list(cols), s=_point_size(n) if size is None else size,
        linewidths=0, alpha=0.8 if n > 2000 else 0.9, rasterized=(n > 5000) if rasterized is None else rasterized,
    )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_aspect("equal", adjustable="datalim")


def legend_handles(coloring: Coloring):
    from matplotlib.lines import Line2D

    return [
        Line2D([], [], marker="o", ls="", markersize=7, markerfacecolor=c, markeredgewidth=0, label=lab)
        for c, lab in zip(coloring.colors, coloring.legend_labels())
    ]


def add_thumbnails(ax, coords: np.ndarray, images: list, coloring: Coloring | None = None, *, max_n: int = 60,
                   inches: float = 0.42, seed: int = 0) -> np.ndarray:
    """Draw the thumbnails ``images`` (PIL or None per point) at a non-overlapping subset of ``coords``.

    Placement: candidates in a seeded random order are accepted greedily when their box (``inches`` square,
    in display space) overlaps no accepted box. Returns the indices drawn.
    """
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    fig = ax.figure
    ax.autoscale_view()
    fig.canvas.draw()  # fix the limits and the data->display transform
    xy = ax.transData.transform(coords)
    box = inches * fig.dpi * 1.08
    have = np.array([im is not None for im in images])
    cand = np.random.default_rng(seed).permutation(len(coords))
    cand = cand[have[cand]]
    bb = ax.get_window_extent()
    inside = (xy[cand, 0] > bb.x0 + box / 2) & (xy[cand, 0] < bb.x1 - box / 2)
    inside &= (xy[cand, 1] > bb.y0 + box / 2) & (xy[cand, 1] < bb.y1 - box / 2)
    chosen = greedy(xy, box, cand[inside], max_n)
    xlim, ylim = ax.get_xlim(), ax.get_ylim()
    for i in chosen:
        im = images[i]
        zoom = inches * 72.0 / max(im.width, im.height)
        edge = coloring.colors[coloring.codes[i]] if coloring is not None else "black"
        ab = AnnotationBbox(OffsetImage(np.asarray(im), zoom=zoom), (coords[i, 0], coords[i, 1]), frameon=True,
                            pad=0.08, bboxprops=dict(edgecolor=edge, linewidth=1.6), zorder=3)
        ax.add_artist(ab)
    ax.set_xlim(xlim)
    ax.set_ylim(ylim)
    return chosen


def greedy(xy, box, cand, max_n):
    from yololens.figures.thumbnails import greedy_place

    return greedy_place(xy, (box, box), cand, max_n)


def title_for(column: str, method: str, n: int, extra: str = "") -> str:
    return f"{column} - {METHOD_TITLES.get(method, method)} - n={n:,} objects" + (f" - {extra}" if extra else "")


def scatter_figure(coords: np.ndarray, coloring: Coloring, *, title: str, thumbnails: list | None = None,
                   max_thumbnails: int = 60, seed: int = 0):
    """One panel: ``coords`` ``(N, 2)``, legend with counts outside on the right, optional thumbnails."""
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(10.5, 7.5), dpi=110)
    ax = fig.add_axes([0.04, 0.04, 0.68, 0.88])
    draw_scatter(ax, coords, coloring, seed=seed)
    ax.set_title(title, fontsize=11)
    ax.legend(handles=legend_handles(coloring), title=coloring.column, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              fontsize=8, title_fontsize=9, frameon=False, ncol=1 if len(coloring.labels) <= 28 else 2)
    if thumbnails is not None and max_thumbnails > 0:
        add_thumbnails(ax, coords, thumbnails, coloring, max_n=max_thumbnails, seed=seed)
    return fig


def small_multiples_figure(panels: list[tuple[str, np.ndarray]], coloring: Coloring, *, title: str, seed: int = 0,
                           thumbnails: list | None = None, max_thumbnails: int = 0):
    """One panel per stage (``(label, coords (N, 2))``, same objects in every panel), one shared legend.

    ``thumbnails``: one PIL image (or None) per object, drawn on every panel (up to ``max_thumbnails`` each,
    placed without overlap).
    """
    import matplotlib.pyplot as plt

    k = len(panels)
    ncols = min(k, 3)
    nrows = int(np.ceil(k / ncols))
    fig = plt.figure(figsize=(4.4 * ncols + 2.6, 4.4 * nrows + 0.7), dpi=100)
    width = 4.4 * ncols / fig.get_figwidth()
    for j, (label, coords) in enumerate(panels):
        r, c = divmod(j, ncols)
        ax = fig.add_axes([0.01 + c * width / ncols, 1 - (r + 1) * (0.93 / nrows), width / ncols * 0.96,
                           0.93 / nrows * 0.9])
        draw_scatter(ax, coords, coloring, seed=seed)
        ax.set_title(label, fontsize=10)
        if thumbnails is not None and max_thumbnails > 0:
            add_thumbnails(ax, coords, thumbnails, coloring, max_n=max_thumbnails, inches=0.32, seed=seed)
    fig.legend(handles=legend_handles(coloring), title=coloring.column, loc="upper left",
               bbox_to_anchor=(0.01 + width + 0.005, 0.93), fontsize=8, title_fontsize=9, frameon=False)
    fig.suptitle(title, fontsize=11, y=0.995)
    return fig


# --------------------------------------------------------------------------------------------- plot()
