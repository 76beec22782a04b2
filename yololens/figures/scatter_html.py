"""Self-contained interactive HTML scatter, an explorer (bokeh, INLINE resources: opens offline, survives copying).

* hover: object crop (base64 JPEG data URI, only for a capped, class-stratified sample), class, score, image,
  status, origin and the attributes that apply;
* click: a drawer fixed at the window's right edge: a zoom on the box (the original file at full resolution
  where the page can reach it, else the embedded copy), the whole image (larger on demand), the object's box and
  its matched partner's, every field, its 10 nearest neighbours in embedding space with their distances (a click
  moves to one; "back" returns), see :mod:`yololens.figures.explorer`;
* legend and filters (status, origin, class, every ``attr_*`` and any other text column) are multi-value
  checkboxes with live counts; search by words or ``column:value`` / ``score>0.5``; the axes never re-fit;
* lasso / box selection: download as CSV, show as a grid of crops, isolate, or copy the image list;
* a colour-by Select recolours from precomputed per-column codes and palettes (no regeneration);
* WebGL output, numeric columns as typed arrays and strings as small lookup tables keep 100k points usable;
* several stages -> panels wrapped to the window, sharing one ColumnDataSource (linked selection).
The layout and its browser code: :mod:`yololens.figures.explorer_layout`, ``yololens/figures/js/*.js``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from yololens.analysis import table as T
from yololens.figures.coloring import METHOD_TITLES
from yololens.figures.explorer_layout import (  # noqa: F401  (re-exported: the page's helpers live there)
    COLOR_OPTIONS, DENSITY_BINS, HOVER_TEXT, color_options, density_image,
)
from yololens.store.atomic import write_text

#: points drawn (and clickable) in the HTML at most; above this a class-stratified sample is drawn over a density
#: image of every point. Fewer with several stages: see :func:`default_max_points`.
MAX_POINTS = 140_000
#: the page's size limit, and what it costs, measured (tests/test_figures_scatter_scale.py, half as many images as
#: objects): ~107 bytes a drawn point for one stage, ~45 more per further stage (coordinates, the neighbour table
#: and its distances), a ~2 MB base (bokeh), ~2.5 KB a hover crop and ~30 KB a whole image for the click panel.
#: 140,000 (150,000 before the neighbours' distances were added) keeps one stage under the budget.
HTML_BUDGET = 25_000_000
POINT_BYTES, STAGE_POINT_BYTES, BASE_BYTES, CROP_BYTES, IMAGE_BYTES = 110, 45, 2_000_000, 2_500, 30_000


def hover_thumbnail_uris(out, meta: pd.DataFrame, label: str, n: int, size: int, seed: int,
                         images_root=None, also=None) -> np.ndarray:
    """``(N,)`` object array: a JPEG data URI for up to ``n`` class-stratified points, and for the rows ``also``
    (the listed suspects) when ``n > 0``, ``""`` elsewhere."""
    from yololens.figures.thumbnails import CropLoader, to_data_uri

    uris = np.full(len(meta), "", dtype=object)
    if n <= 0 or len(meta) == 0:
        return uris
    labels = meta[label].to_numpy(dtype=object) if label in meta else np.zeros(len(meta), dtype=object)
    pick = T.stratified_sample(labels, n, seed=seed)
    if also is not None and len(also):
        pick = np.union1d(pick, also)
    loader = CropLoader(out, images_root, size=size)
    for i, im in zip(pick, loader.load_many(meta.iloc[pick])):
        if im is not None:
            uris[i] = to_data_uri(im)
    return uris


def default_max_points(n_stages: int, hover_thumbnails: int = 1000) -> int:
    """The most points the HTML draws by default: :data:`MAX_POINTS`, or fewer where ``n_stages`` panels (each
    with its coordinates and neighbour table) and the embedded crops and images would pass :data:`HTML_BUDGET`
    (one stage: 140,000; two: ~103,000; four: ~65,000)."""
    from yololens.figures.explorer import MAX_IMAGES

    fixed = BASE_BYTES + max(0, hover_thumbnails) * CROP_BYTES + MAX_IMAGES * IMAGE_BYTES
    per_point = POINT_BYTES + STAGE_POINT_BYTES * max(0, n_stages - 1)
    return int(max(1_000, min(MAX_POINTS, (HTML_BUDGET - fixed) // per_point)))


def interactive_rows(labels, max_points: int | None, seed: int = 0, keep: np.ndarray | None = None
                     ) -> np.ndarray | None:
    """Rows drawn as points: ``None`` (all) up to ``max_points``; above it (sorted) every row of ``keep``
    (``(N,)`` bool: the rows a ``--keep`` filter chose) plus a class-stratified sample of the others, at most
    ``max_points`` in all. More kept rows than ``max_points``: a class-stratified sample of the kept rows."""
    labels = np.asarray(labels, dtype=object)
    if max_points is None or len(labels) <= max_points:
        return None
    kept = np.flatnonzero(keep) if keep is not None else np.zeros(0, np.int64)
    if len(kept) >= max_points:
        return kept[T.stratified_sample(labels[kept], max_points, seed=seed)]
    rest = np.setdiff1d(np.arange(len(labels)), kept)
    others = rest[T.stratified_sample(labels[rest], max_points - len(kept), seed=seed)]
    return np.union1d(kept, others)


@dataclass
class ExplorerPoints:
    """What the HTML draws: the (possibly sampled) projections and meta rows, their hover crops and click-panel
    data, and, when sampled, every object's coordinates for the density image (``density``, per stage)."""

    projs: list
    meta: pd.DataFrame
    thumbs: np.ndarray
    explorer: object
    density: list[np.ndarray] | None
    n_total: int


def interactive_points(out, projs, meta: pd.DataFrame, *, label: str, seed: int = 0, hover_thumbnails: int = 1000,
                      thumb_size: int = 64, images_root=None, max_points: int | None = None,
                      image_paths: dict | None = None, keep: np.ndarray | None = None) -> ExplorerPoints:
    """Sample above ``max_points`` (``None``: :func:`default_max_points`; class-stratified, ``keep`` rows first: see
    :func:`interactive_rows`), then cut the crops and compute neighbours and images."""
    from dataclasses import replace

    from yololens.figures.explorer import explorer_data

    from yololens.figures.suspects_panel import ranked_rows

    n_all = len(meta)
    if max_points is None:
        max_points = default_max_points(len(projs), hover_thumbnails)
    listed = ranked_rows(meta)  # the suspects the page lists are always drawn, with a crop
    if len(listed):
        keep = np.zeros(n_all, bool) if keep is None else keep.copy()
        keep[listed] = True
    keep = interactive_rows(meta[label] if label in meta else np.zeros(n_all), max_points, seed, keep)
    density = None
    if keep is not None:
        density = [p.coords for p in projs]
        projs = [replace(p, coords=p.coords[keep], object_ids=p.object_ids[keep]) for p in projs]
        meta = meta.iloc[keep].reset_index(drop=True)
    thumbs = hover_thumbnail_uris(out, meta, label, hover_thumbnails, thumb_size, seed, images_root, ranked_rows(meta))
    explorer = explorer_data(out, projs, meta, thumbs, images_root=images_root, image_paths=image_paths)
    return ExplorerPoints(projs, meta, thumbs, explorer, density, n_all)


def write_scatter_html(path: str | os.PathLike, out, projs, meta: pd.DataFrame, *, initial: str = "class_name",
                       label: str = "class_name", seed: int = 0, hover_thumbnails: int = 1000, thumb_size: int = 64,
                       images_root=None, max_categories: int = 20, max_points: int | None = None,
                       keep: np.ndarray | None = None, keep_note: str = "", suspects: str | None = None) -> Path:
    """Write the interactive HTML for ``projs`` (same objects, row-aligned with ``meta``) atomically.

    ``suspects``: the stage that ranked the ``suspect_*`` columns of ``meta`` (the "Suspects" panel; None: none).

    Above ``max_points`` objects the points are a class-stratified sample over a density image of all, with
    every ``keep`` row (``(N,)`` bool) among them; ``keep_note`` (", including ...") says so on the page.
    """
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    path = Path(path)
    lay = interactive_points(out, projs, meta, label=label, seed=seed, hover_thumbnails=hover_thumbnails,
                            thumb_size=thumb_size, images_root=images_root, max_points=max_points, keep=keep)
    p0 = lay.projs[0]
    stages_txt = ", ".join(T.stage_label(p.column) for p in lay.projs)
    n = len(lay.meta)
    shown = f"{n:,} objects" if lay.density is None else f"{n:,} of {lay.n_total:,} objects drawn (all in the density)"
    title = (f"{METHOD_TITLES.get(p0.method, p0.method)} of {stages_txt} - {shown} "
             f"(seed {p0.params.get('seed')}, origin {p0.params.get('origin', 'all')})")
    from yololens.figures.explorer_layout import build_layout

    layout = build_layout(lay.projs, lay.meta, initial=initial, label=label, thumbs=lay.thumbs,
                          max_categories=max_categories, seed=seed, title=title,
                          selection_name=f"{path.stem}_selection.csv", explorer=lay.explorer, density=lay.density,
                          n_total=lay.n_total, keep_note=keep_note, suspects=suspects)
    write_text(path, file_html(layout, resources=INLINE, title=title))
    return path
