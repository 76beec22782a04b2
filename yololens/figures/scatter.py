"""Static scatter plots of 2-D projections (PNG/SVG) and the ``plot`` entry point (static + HTML).

Colours come from :func:`~yololens.figures.coloring.color_categories`: categorical columns (``class_name``, ``status``, ``attr_*``,
``size_bin`` ...) get one colour per value (the commonest ``max_categories - 1`` values, the rest ``other``);
numeric columns with many values (``score``, ``box_area``) are cut into quantile bins.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from yololens import reprs
from yololens.analysis import table as T
from yololens.analysis.projection import METHODS, ProjectionResult, project
from yololens.errors import InputError
from yololens.options import check_options
from yololens.figures.coloring import METHOD_TITLES, Coloring, color_categories
from yololens.figures.density import DENSITY_MIN, draw_density
from yololens.store.atomic import save_figure

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


@dataclass
class PlotResult:
    """Files written by :func:`plot` (``{"png": path, "html": path}``) and the projections used."""

    paths: dict = field(default_factory=dict)
    projections: list[ProjectionResult] = field(default_factory=list)
    n: int = 0
    notes: list[str] = field(default_factory=list)
    skips: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return reprs.text("PlotResult", f"{self.n:,} objects, {len(self.projections)} panel(s)",
                          {k: str(v) for k, v in self.paths.items()})

    def _repr_html_(self) -> str:  # the interactive bokeh page inline (JS inlined: works offline)
        html = self.paths.get("html")
        return reprs.iframe(html) if html else reprs.img_tag(self.paths.get("png"))

    def _repr_png_(self) -> bytes | None:
        return reprs.png_bytes(self.paths.get("png"))


def _coverage(out, columns: list[str], origin: str, everything: bool) -> tuple[list[str], list[str]]:
    """The columns to draw and a note for every object that is not drawn (never dropped silently).

    Panels share their objects, so a column present on fewer rows (``emb_coef``: predictions only) would remove
    every other object from every panel: with ``--layer all`` such a column is left out (plot it alone), with an
    explicit list the objects lacking one of the columns are left out; a note says which and how many.
    """
    if len(columns) < 2:
        return columns, []
    base = T.row_mask(T.read_meta(out, ["object_id", "origin"]), origin=origin)
    have = {c: base & T.valid_embedding_mask(out, c) for c in columns}
    most = max(int(m.sum()) for m in have.values())
    notes = []
    if everything:
        partial = [c for c in columns if int(have[c].sum()) < most]
        for c in partial:
            notes.append(f"{T.stage_label(c)} left out of 'all': only {int(have[c].sum()):,} of {most:,} objects have "
                         f"{c} (e.g. emb_coef exists for predictions only); plot it alone with --layer "
                         f"{T.stage_label(c).removeprefix('L')}")
        columns = [c for c in columns if c not in partial]
    both = np.logical_and.reduce([have[c] for c in columns])
    union = np.logical_or.reduce([have[c] for c in columns])
    if int(union.sum()) > int(both.sum()):
        lacking = ", ".join(c for c in columns if int(have[c].sum()) < int(union.sum()))
        notes.append(f"{int(union.sum() - both.sum()):,} objects are not drawn: every panel shows the same objects "
                     f"and they lack {lacking}")
    return columns, notes


def plot(
    out: str | os.PathLike,
    layer: int | str | list = 9,
    method: str = "tsne",
    color: str = "class_name",
    *,
    seed: int = 0,
    sample: int | None = None,
    origin: str = "all",
    label: str = "class_name",
    fmt: str = "png",
    html: bool = True,
    thumbnails: int = 0,
    hover_thumbnails: int = 1000,
    thumb_size: int = 64,
    images_root: str | os.PathLike | None = None,
    max_categories: int = 20,
    projection: dict | None = None,
    strict: bool = False,
    max_points: int | None = None,
    keep: str | None = None,
) -> PlotResult:
    """Scatter plot(s) of the 2-D projection of ``layer`` coloured by column ``color``.

    ``layer``: ``9``, ``"coef"``, ``"9,15,21"`` or ``"all"`` (several -> small multiples, one panel per stage, the
    same objects and seed in every panel). The projection is reused from ``OUT/projections`` when it was made
    with the same parameters, else computed (and saved). ``fmt``: ``png`` or ``svg``; ``html``: also write a
    self-contained bokeh HTML; ``thumbnails``: crops drawn on the static plot (0: none); ``hover_thumbnails``:
    crops embedded for hovering in the HTML (a capped, class-stratified sample). ``projection``: extra
    :func:`~yololens.analysis.projection.project` keyword arguments (perplexity, pca_dims, normalize, ...).
    Objects that cannot be drawn in every panel are named in ``result.notes`` (and the figure's title); rows
    with NaN/inf embeddings are left out with a line in ``result.skips`` (``strict``: refused).
    ``max_points``: points drawn in the HTML (default: 150,000 for one stage, fewer for several so the page
    stays under 25 MB, :func:`~yololens.figures.scatter_html.default_max_points`); above it a class-stratified
    sample is drawn over a density image of every object.
    ``keep``: a pandas query on the objects table (``"class_name == 'train' or status == 'FN'"``); the rows it
    holds for are always among the drawn points (when they alone exceed ``max_points``, a sample of them).
    Writes ``OUT/figures/<stage|stages>_<method>[_<origin>]_<color>.<fmt>`` and ``....html``.
    """
    import matplotlib.pyplot as plt

    if method not in METHODS:
        raise InputError(f"--method must be one of {', '.join(METHODS)}, not {method!r}")
    check_options(max_points=max_points)
    if fmt not in ("png", "svg"):
        raise InputError(f"--format must be png or svg, not {fmt!r}")
    columns = T.resolve_columns(out, layer)
    everything = not isinstance(layer, (list, tuple)) and str(layer).strip().lower() in ("all", "*", "stages")
    columns, notes = _coverage(out, columns, origin, everything)
    multi = len(columns) > 1
    kw = dict(projection or {})
    projs = [
        project(out, c, method, seed=seed, sample=sample, origin=origin, label=label,
                require=[x for x in columns if x != c] if multi else None, reuse=True, strict=strict, **kw)
        for c in columns
    ]
    ids = projs[0].object_ids
    for p in projs[1:]:
        if not np.array_equal(p.object_ids, ids):  # same objects by construction; guard anyway
            raise InputError("the stage projections do not cover the same objects")
    notes += [f"{T.stage_label(p.column)}: {p.params['large_n_mode']}" for p in projs if p.params.get("large_n_mode")]
    meta = T.read_meta(out)
    if color not in meta.columns:
        options = [c for c in meta.columns if c not in ("object_id",)]
        raise InputError(f"--color {color!r} is not a column of the objects table (try: {', '.join(options)})")
    meta = meta.set_index("object_id", drop=False).reindex(ids).reset_index(drop=True)
    keep_mask = T.rows_matching(meta, keep) if keep else None  # checked before any drawing: a typo fails fast
    coloring = color_categories(meta[color], color, max_categories=max_categories)
    n = len(ids)
    suffix = "" if origin == "all" else f"_{origin}"
    fig_dir = T.out_dir(out) / FIGURES_DIR
    stem = ("stages" if multi else T.stage_label(columns[0])) + f"_{method}{suffix}"
    result = PlotResult(projections=projs, n=n, notes=notes,
                        skips=list(dict.fromkeys(line for p in projs for line in p.skips)))

    crops = None
    if thumbnails > 0:
        from yololens.figures.thumbnails import CropLoader

        loader = CropLoader(out, images_root, size=thumb_size)
        pick = T.stratified_sample(meta[label] if label in meta else np.zeros(n), thumbnails * 6, seed=seed)
        crops = [None] * n
        for i, im in zip(pick, loader.load_many(meta.iloc[pick])):
            crops[i] = im
    extra = f"colour: {color}" + (f", origin {origin}" if origin != "all" else "")
    if multi:
        note = ("\n" + "; ".join(notes)) if notes else ""
        fig = small_multiples_figure(
            [(f"{T.stage_label(p.column)} ({p.params.get('dims_in', '?')} dims, n={len(p):,})", p.coords) for p in projs],
            coloring, seed=seed, thumbnails=crops, max_thumbnails=thumbnails,
            title=f"{METHOD_TITLES[method]} per stage - n={n:,} objects (the same objects in every panel, seed {seed}) - {extra}{note}",
        )
    else:
        fig = scatter_figure(projs[0].coords, coloring, title=title_for(projs[0].column, method, n, extra),
                             thumbnails=crops, max_thumbnails=thumbnails, seed=seed)
    static = fig_dir / f"{stem}_{color}.{fmt}"
    save_figure(fig, static, bbox_inches="tight", dpi=fig.dpi)
    plt.close(fig)
    result.paths[fmt] = static
    if html:
        from yololens.figures.scatter_html import write_scatter_html

        result.paths["html"] = write_scatter_html(
            fig_dir / f"{stem}.html", out, projs, meta, initial=color, label=label, seed=seed,
            hover_thumbnails=hover_thumbnails, thumb_size=thumb_size, images_root=images_root,
            max_categories=max_categories, max_points=max_points,
            keep=keep_mask, keep_note=f", including all {int(keep_mask.sum()):,} objects where {keep}" if keep else "",
        )
    return result
