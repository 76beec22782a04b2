"""``yololens plot``: project (or reuse the saved projections), then write the static figure and the HTML.

The figures (:mod:`yololens.figures.scatter`, :mod:`yololens.figures.scatter_html`) draw the arrays this job
hands them; the projections are computed (or loaded) here, by :mod:`yololens.analysis.projection`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from yololens import reprs
from yololens.analysis import table as T
from yololens.analysis.projection import METHODS, ProjectionResult, project
from yololens.analysis.run import run_folder
from yololens.analysis.suspect_columns import page_suspects
from yololens.errors import InputError
from yololens.figures.coloring import METHOD_TITLES, color_categories
from yololens.figures.scatter import FIGURES_DIR, scatter_figure, small_multiples_figure, title_for
from yololens.options import check_options
from yololens.store.atomic import save_figure
from yololens.store.naming import data_name
from yololens.types import Method, Origin


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
    ``keep``: a filter on the objects table (:mod:`yololens.analysis.row_filter`: never code) (``"class_name == 'train' or status == 'FN'"``); the rows it
    holds for are always among the drawn points (when they alone exceed ``max_points``, a sample of them).
    Writes ``OUT/figures/<stage|stages>_<method>[_<origin>]_<color>.<fmt>`` and ``....html``. After ``suspects``
    the HTML carries the ``suspect_*`` columns and a "Suspects" panel, ranked at the drawn stage where it was
    scored, else at the primary stage (:func:`~yololens.analysis.suspect_columns.ranking_stage`).
    """
    out = run_folder(out)
    import matplotlib.pyplot as plt

    if method not in METHODS:
        raise InputError(f"--method must be one of {', '.join(METHODS)}, not {method!r}")
    check_options(max_points=max_points, seed=seed, sample=sample, thumbnails=thumbnails, thumb_size=thumb_size,
                  hover_thumbnails=hover_thumbnails, max_categories=max_categories)
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
    if Method(method) == Method.TSNE:  # the same rule and sentence as the report's
        from yololens.analysis.projection import perplexity_note

        note = perplexity_note(kw.get("perplexity", 30.0), len(ids))
        notes += [note] if note else []
    # suspect_score/suggested/kind/margin when `suspects` ran, ranked at a drawn stage where it has rows
    meta, suspects = page_suspects(T.read_meta(out), out, [T.stage_label(c) for c in columns])
    if color not in meta.columns:
        options = [c for c in meta.columns if c not in ("object_id",)]
        raise InputError(f"--color {color!r} is not a column of the objects table (try: {', '.join(options)})")
    meta = meta.set_index("object_id", drop=False).reindex(ids).reset_index(drop=True)
    keep_mask = T.rows_matching(meta, keep) if keep else None  # checked before any drawing: a typo fails fast
    coloring = color_categories(meta[color], color, max_categories=max_categories)
    n = len(ids)
    suffix = "" if origin == Origin.ALL else f"_{origin}"
    fig_dir = T.out_dir(out) / FIGURES_DIR
    stem = ("stages" if multi else data_name(T.stage_label(columns[0]))) + f"_{method}{suffix}"
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
    extra = f"colour: {color}" + (f", origin {origin}" if origin != Origin.ALL else "")
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
    static = fig_dir / f"{stem}_{data_name(color)}.{fmt}"  # a column name is data: never a path
    save_figure(fig, static, bbox_inches="tight", dpi=fig.dpi)
    plt.close(fig)
    result.paths[fmt] = static
    if html:
        from yololens.figures.scatter_html import write_scatter_html

        result.paths["html"] = write_scatter_html(
            fig_dir / f"{stem}.html", out, projs, meta, initial=color, label=label, seed=seed,
            hover_thumbnails=hover_thumbnails, thumb_size=thumb_size, images_root=images_root,
            max_categories=max_categories, max_points=max_points,
            keep=keep_mask, suspects=suspects,
            keep_note=f", including all {int(keep_mask.sum()):,} objects where {keep}" if keep else "",
        )
    return result
