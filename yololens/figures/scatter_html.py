"""Self-contained interactive HTML scatter, an explorer (bokeh, INLINE resources: opens offline, survives copying).

* hover: object crop (base64 JPEG data URI, only for a capped, class-stratified sample), class, score, image,
  status, origin and the attributes that apply;
* click: a side panel with the whole image (embedded, downscaled, for the images of the points with a crop),
  the object's box and its matched partner's, every field, and its 10 nearest neighbours in embedding space
  (clicking one moves to it), see :mod:`yololens.figures.explorer`;
* legend entries are checkboxes (hide/show a category), filter menus for status, origin and every ``attr_*``,
  a search box for image name or object id;
* lasso / box selection: download as CSV (ids, image, box, class, score, status, origin, attributes) or copy
  the selection's image list;
* a colour-by Select recolours from precomputed per-column codes and palettes (no regeneration);
* WebGL output, numeric columns as typed arrays and strings as small lookup tables keep 100k points usable;
* several stages -> a grid of panels sharing one ColumnDataSource (linked selection, one hover per panel).
"""

from __future__ import annotations

import hashlib
import html as _html
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from yololens.analysis import table as T
from yololens.figures.coloring import METHOD_TITLES, color_categories
from yololens.store.atomic import write_text
from yololens.store.naming import data_name

COLOR_OPTIONS = ("class_name", "status", "origin", "size_bin", "score")
HOVER_TEXT = ("class_name", "image", "status", "origin")
ALL = "(all)"
#: points drawn (and clickable) in the HTML at most; above this a class-stratified sample is drawn over a density
#: image of every point. Fewer with several stages: see :func:`default_max_points`.
MAX_POINTS = 150_000
#: the page's size limit, and what it costs, measured (tests/test_figures_scatter_scale.py, half as many images as
#: objects): ~105 bytes a drawn point for one stage, ~40 more per further stage (coordinates and the neighbour
#: table), a ~2 MB base (bokeh), ~2.5 KB a hover crop and ~30 KB a whole image for the click panel
HTML_BUDGET = 25_000_000
POINT_BYTES, STAGE_POINT_BYTES, BASE_BYTES, CROP_BYTES, IMAGE_BYTES = 105, 40, 2_000_000, 2_500, 30_000
DENSITY_BINS = 400


def _codes_dtype(n: int):
    return np.uint8 if n <= 255 else np.uint16 if n <= 65535 else np.int32


def color_options(meta: pd.DataFrame, initial: str, label: str) -> list[str]:
    """Columns offered in the colour-by menu: ``initial``, ``label``, class/status/origin/size, ``attr_*``, score."""
    attrs = [c for c in meta.columns if c.startswith("attr_")]
    opts = [initial, label, *COLOR_OPTIONS[:4], *attrs, *COLOR_OPTIONS[4:]]
    seen: list[str] = []
    for c in opts:
        if c in meta.columns and c not in seen and meta[c].notna().any():
            seen.append(c)
    if initial in meta.columns and initial not in seen:
        seen.insert(0, initial)
    return seen


def hover_thumbnail_uris(out, meta: pd.DataFrame, label: str, n: int, size: int, seed: int,
                         images_root=None) -> np.ndarray:
    """``(N,)`` object array: a JPEG data URI for up to ``n`` class-stratified points, ``""`` elsewhere."""
    from yololens.figures.thumbnails import CropLoader, to_data_uri

    uris = np.full(len(meta), "", dtype=object)
    if n <= 0 or len(meta) == 0:
        return uris
    labels = meta[label].to_numpy(dtype=object) if label in meta else np.zeros(len(meta), dtype=object)
    pick = T.stratified_sample(labels, n, seed=seed)
    loader = CropLoader(out, images_root, size=size)
    for i, im in zip(pick, loader.load_many(meta.iloc[pick])):
        if im is not None:
            uris[i] = to_data_uri(im)
    return uris


def _legend_sheet(colors: list[str], n_entries: int, uid: str):
    """CSS for the legend checkboxes: each entry's box and a dot in its category colour.

    Entry ``k`` takes its colour from the CSS variable ``--<uid>-c<k>`` (default: ``colors[k]``, the first
    colouring's), which "colour by" sets on the page: swapping the widget's stylesheet instead made bokeh lay
    out and repaint the whole plot at once, a second 1.5 s repaint of 150k points on top of the recolour.
    """
    from bokeh.models import InlineStyleSheet

    def colour(k: int) -> str:
        return f"var(--{uid}-c{k}, {colors[k] if k < len(colors) else '#888'})"

    css = "label{font-size:12px;white-space:nowrap}" + "".join(
        f"label:nth-of-type({k + 1}) input{{accent-color:{colour(k)}}}"
        f"label:nth-of-type({k + 1})::after{{content:'';display:inline-block;width:10px;height:10px;"
        f"border-radius:5px;margin-left:4px;background:{colour(k)}}}"
        for k in range(n_entries))
    return InlineStyleSheet(css=css)


def _text_codes(meta: pd.DataFrame, columns) -> tuple[dict, dict]:
    """``h__<column>`` code arrays and their lookup tables (``""`` last, for missing values)."""
    data, names = {}, {}
    for c in dict.fromkeys(columns):
        if c not in meta.columns:
            continue
        obj = meta[c].astype(object)
        codes, uniques = pd.factorize(obj.where(obj.notna(), None), use_na_sentinel=True)
        names[c] = [str(u) for u in uniques] + [""]
        data[f"h__{c}"] = np.where(codes < 0, len(names[c]) - 1, codes).astype(_codes_dtype(len(names[c])))
    return data, names


def _float(meta: pd.DataFrame, c: str) -> np.ndarray:
    if c not in meta.columns:
        return np.full(len(meta), np.nan, np.float32)
    return pd.to_numeric(meta[c], errors="coerce").to_numpy(dtype=np.float32, na_value=np.nan)


def density_image(coords: np.ndarray, bins: int = DENSITY_BINS) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """``(bins, bins)`` uint8 log-density of ``coords`` ``(N, 2)`` (row 0 at the bottom, 0 = empty) and its
    ``(x, y, dw, dh)`` extent in data units."""
    xy = np.asarray(coords, np.float64)
    xy = xy[np.isfinite(xy).all(axis=1)]
    if len(xy) == 0:
        return np.zeros((bins, bins), np.uint8), (0.0, 0.0, 1.0, 1.0)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    H, _, _ = np.histogram2d(xy[:, 0], xy[:, 1], bins=bins, range=[[lo[0], lo[0] + span[0]], [lo[1], lo[1] + span[1]]])
    L = np.log1p(H.T)  # counts span orders of magnitude: log keeps sparse regions visible
    img = np.where(H.T > 0, 1 + np.round(254 * L / max(L.max(), 1e-9)), 0).astype(np.uint8)
    return img, (float(lo[0]), float(lo[1]), float(span[0]), float(span[1]))


def default_max_points(n_stages: int, hover_thumbnails: int = 1000) -> int:
    """The most points the HTML draws by default: :data:`MAX_POINTS`, or fewer where ``n_stages`` panels (each
    with its coordinates and neighbour table) and the embedded crops and images would pass :data:`HTML_BUDGET`
    (one stage: 150,000; two: ~110,000; four: ~71,000)."""
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


def build_layout(projs, meta: pd.DataFrame, *, initial: str, label: str, thumbs: np.ndarray | None,
                 max_categories: int = 20, seed: int = 0, title: str = "", selection_name: str = "selection.csv",
                 explorer=None, density: list[np.ndarray] | None = None, n_total: int | None = None,
                 keep_note: str = "", panel_below: bool = False):
    """The bokeh layout for ``projs`` (ProjectionResults over the same objects) and ``meta`` (row-aligned).

    ``density``: per stage, the ``(N_all, 2)`` coordinates of *every* object when ``projs``/``meta`` hold a
    sample (``n_total`` = N_all): drawn as a grey log-density image under the points; ``keep_note`` (", including
    all 12 objects where ...") completes the page's sentence about that sample. ``panel_below``: the click panel
    goes under the plots (narrow pages) instead of beside the controls.

    ``explorer``: an :class:`~yololens.figures.explorer.ExplorerData` for the click panel (neighbours, partner,
    images); without it the panel still shows each object's details, with no image and no neighbours.
    """
    from bokeh.layouts import column, gridplot, row
    from bokeh.models import (
        BooleanFilter, Button, CDSView, CheckboxGroup, ColumnDataSource, CustomJS, CustomJSHover, Div, HoverTool,
        LinearColorMapper, Select, TextInput,
    )
    from bokeh.plotting import figure

    from yololens.figures import explorer_js as JS
    from yololens.figures.explorer import ExplorerData
    from yololens.figures.page_data import PageData

    n = len(meta)
    ex = explorer if explorer is not None else ExplorerData(
        neighbours=[np.full((n, 0), -1, np.int32) for _ in projs], stages=[T.stage_label(p.column) for p in projs],
        partner=np.full(n, -1, np.int32), image_code=np.full(n, -1, np.int32), k=0)
    data: dict = {"object_id": np.asarray(meta["object_id"], dtype=object)}
    opts = color_options(meta, initial, label)
    colorings = {c: color_categories(meta[c], c, max_categories=max_categories) for c in opts}
    for c, col in colorings.items():
        data[f"c__{c}"] = col.codes.astype(_codes_dtype(len(col.labels)))
    # text columns as codes + lookup tables (a few bytes per point instead of the strings)
    attrs = [c for c in meta.columns if c.startswith("attr_")]
    hover_cols = [c for c in (*HOVER_TEXT, *attrs) if c in meta.columns]
    codes, names = _text_codes(meta, [label, *hover_cols])
    data.update(codes)
    page = PageData(names=names, colour=initial)  # once in the document, shared by every callback below
    formatters = {f"@h__{c}": CustomJSHover(args=dict(page=page, col=c), code="return page.names[col][value] ?? ''")
                  for c in names}
    if "score" in meta.columns:
        data["score"] = _float(meta, "score")
    for c, key in (("x1", "bx1"), ("y1", "by1"), ("x2", "bx2"), ("y2", "by2"), ("match_iou", "iou")):
        data[key] = _float(meta, c)
    # image sizes per image (indexed by the h__image code), not per point: bytes matter at 100k+ points
    im_code = data.get("h__image", np.zeros(n, np.uint8)).astype(np.int64)
    n_img = len(names.get("image", [""]))
    imw, imh = np.full(n_img, np.nan, np.float32), np.full(n_img, np.nan, np.float32)
    imw[im_code[::-1]] = _float(meta, "image_w")[::-1]  # reversed: the first row of each image wins
    imh[im_code[::-1]] = _float(meta, "image_h")[::-1]
    page.update(nn=[a.reshape(-1) for a in ex.neighbours], stages=list(ex.stages), uris=list(ex.image_uris),
                imw=imw, imh=imh)
    data["partner"] = ex.partner.astype(np.int32)
    data["img"] = ex.image_code.astype(np.int32)
    data["thumb"] = thumbs if thumbs is not None else np.full(n, "", dtype=object)
    for j, p in enumerate(projs):
        data[f"x{j}"] = p.coords[:, 0].astype(np.float32)
        data[f"y{j}"] = p.coords[:, 1].astype(np.float32)
    source = ColumnDataSource(data)
    filt = BooleanFilter(booleans=np.ones(n, dtype=bool))
    cur = ColumnDataSource({f"{a}{j}": [] for j in range(len(projs)) for a in "xy"})

    first = colorings[initial]
    mapper = LinearColorMapper(palette=first.colors, low=-0.5, high=len(first.colors) - 0.5)
    palettes = {c: col.colors for c, col in colorings.items()}

    # hover: a row whose value is empty (an attribute that does not apply) is hidden by the :has() rule
    rows = "".join(
        f'<div class="yl-row"><span style="color:#777">{_html.escape(c.removeprefix("attr_"))}:</span> '
        f'<span class="yl-v">@h__{c}{{custom}}</span></div>'
        for c in hover_cols if c in ("status", "origin") or c.startswith("attr_")
    )
    tooltip = f"""
<div style="max-width:280px;font:12px sans-serif">
  <style>img.yl-thumb[src=""]{{display:none}} .yl-row:has(.yl-v:empty){{display:none}}</style>
  <img class="yl-thumb" src="@thumb" onerror="this.style.display='none'"
       style="float:left;max-width:64px;max-height:64px;margin:0 6px 4px 0;border:1px solid #999">
  <div><b>@h__{label}{{custom}}</b>{' &nbsp;score @score{0.00}' if 'score' in data else ''}</div>
  {'<div>@h__image{custom}</div>' if 'image' in hover_cols else ''}
  {rows}
  <div style="clear:both;color:#999;font-size:10px">@object_id</div>
</div>"""

    # a page can hold several explorers (the report): the click panel's callbacks are registered under this key,
    # derived from the content (not hash(), which changes per process) so the same inputs give the same file
    uid = "yl" + hashlib.sha1("\n".join(map(str, data["object_id"][:200])).encode()
                              + f"{seed}/{len(projs)}/{n}".encode()).hexdigest()[:12]
    panel = Div(text=("<div style='font:13px sans-serif;color:#555'>Click a point to see its image, details "
                      "and nearest neighbours here.</div>"), width=900 if panel_below else 340,
                css_classes=["yl-panel-host"])
    size = float(np.clip(25000.0 / max(n, 1), 2.0, 7.0))
    figs, points = [], []  # the figures, and each one's points renderer (recoloured by field)
    w = 760 if len(projs) == 1 else 420
    for j, p in enumerate(projs):
        f = figure(
            width=w, height=w if len(projs) > 1 else 640, output_backend="webgl",
            tools="pan,wheel_zoom,box_zoom,lasso_select,box_select,reset,save",
            active_scroll="wheel_zoom", title=f"{p.column} - {METHOD_TITLES.get(p.method, p.method)} - n={n:,}",
            match_aspect=True,
        )
        if density is not None:
            img, (x0, y0, dw, dh) = density_image(density[j])
            grey = LinearColorMapper(palette=[f"#{v:02x}{v:02x}{v:02x}" for v in np.linspace(225, 60, 255).astype(int)],
                                     low=1, high=255, low_color=(0, 0, 0, 0))
            f.image(image=[img], x=x0, y=y0, dw=dw, dh=dh, color_mapper=grey, level="image")
        r = f.scatter(f"x{j}", f"y{j}", source=source, view=CDSView(filter=filt), size=size, line_width=0,
                      fill_color={"field": f"c__{initial}", "transform": mapper}, fill_alpha=0.8,
                      selection_fill_alpha=0.95, nonselection_fill_alpha=0.08)
        points.append(r)
        f.scatter(f"x{j}", f"y{j}", source=cur, size=16, fill_alpha=0, line_color="black", line_width=2.5)
        # a dense spot can hold thousands of points: show at most 3, those with a crop first
        f.add_tools(HoverTool(renderers=[r], tooltips=tooltip, formatters=formatters, limit=3,
                              sort_by=[("thumb", "descending")]))
        f.js_on_event("tap", CustomJS(args=dict(source=source, page=page, filt=filt, fig=f, j=j, cur=cur,
                                                panel=panel, k=ex.k, attrs=attrs, label=label, uid=uid),
                                      code=JS.TAP))
        f.xaxis.visible = f.yaxis.visible = False
        f.grid.visible = False
        figs.append(f)

    labels = {c: col.legend_labels() for c, col in colorings.items()}
    sheet = _legend_sheet(colorings[initial].colors, max(len(col.colors) for col in colorings.values()), uid)
    legend_title = Div(text=f"<b>{_html.escape(initial)}</b> <span style='color:#666'>(click an entry to hide or "
                            "show it)</span>", width=230)
    legend = CheckboxGroup(labels=labels[initial], active=list(range(len(labels[initial]))), width=230,
                           stylesheets=[sheet], css_classes=["yl-legend"])
    filter_cols = [c for c in ("status", "origin", *attrs) if c in names and len(names[c]) > 1]  # every attr_*
    selects = {c: Select(title=c.removeprefix("attr_"), value=ALL, options=[ALL, *[v for v in names[c] if v]],
                         width=220, css_classes=[f"yl-filter-{data_name(c)}"]) for c in filter_cols}
    search = TextInput(title="search image or object id", width=220, css_classes=["yl-search"])
    status = Div(text=f"<span class='yl-shown'>{n:,}</span> of {n:,} points shown", width=220)
    refilter = CustomJS(args=dict(source=source, page=page, legend=legend, selects=selects, search=search,
                                  filt=filt, status=status, ALL=ALL), code=JS.REFILTER)
    legend.js_on_change("active", refilter)
    for sel in selects.values():
        sel.js_on_change("value", refilter)
    search.js_on_change("value_input", refilter)
    search.js_on_change("value", refilter)

    select = Select(title="colour by", value=initial, options=list(colorings), width=220, css_classes=["yl-color"])
    select.js_on_change("value", CustomJS(args=dict(page=page, points=points, mapper=mapper, palettes=palettes,
                                                    legend=legend, labels=labels, uid=uid, title=legend_title,
                                                    refilter=refilter), code=JS.RECOLOR))
    count = Div(text="0 selected", width=220)
    source.selected.js_on_change("indices", CustomJS(args=dict(div=count), code=JS.COUNT))
    button = Button(label="Download selection (CSV)", button_type="primary", width=220)
    button.js_on_event("button_click", CustomJS(args=dict(source=source, page=page, label=label, attrs=attrs,
                                                          fname=selection_name), code=JS.DOWNLOAD))
    image_list = Div(text="", width=220)
    copy = Button(label="Copy image list", width=220)
    copy.js_on_event("button_click", CustomJS(args=dict(source=source, page=page, out=image_list),
                                              code=JS.COPY_IMAGES))
    scale_note = ("" if density is None else
                  f"Points: a class-stratified sample of {n:,} of {n_total or n:,} objects (click, hover, filter and "
                  f"select work on these){keep_note}; the grey density image underneath shows all {n_total or n:,}. ")
    note = Div(text=f"<div class='yl-note' style='font:11px sans-serif;color:#555'>{_html.escape(scale_note + ex.note)}"
                    "</div>", width=220)
    head = Div(text=f"<h3 style='font-family:sans-serif;margin:4px 0'>{_html.escape(title)}</h3>", width=900)
    side = column(select, legend_title, legend, *selects.values(), search, status, count, button, copy, image_list,
                  note)
    plots = figs[0] if len(figs) == 1 else gridplot(figs, ncols=min(3, len(figs)), toolbar_location="right")
    return column(head, row(plots, side), panel) if panel_below else column(head, row(plots, side, panel))


@dataclass
class Layer:
    """What the HTML draws: the (possibly sampled) projections and meta rows, their hover crops and click-panel
    data, and, when sampled, every object's coordinates for the density image (``density``, per stage)."""

    projs: list
    meta: pd.DataFrame
    thumbs: np.ndarray
    explorer: object
    density: list[np.ndarray] | None
    n_total: int


def interactive_layer(out, projs, meta: pd.DataFrame, *, label: str, seed: int = 0, hover_thumbnails: int = 1000,
                      thumb_size: int = 64, images_root=None, max_points: int | None = None,
                      image_paths: dict | None = None, keep: np.ndarray | None = None) -> Layer:
    """Sample above ``max_points`` (``None``: :func:`default_max_points`; class-stratified, ``keep`` rows first: see
    :func:`interactive_rows`), then cut the crops and compute neighbours and images."""
    from dataclasses import replace

    from yololens.figures.explorer import explorer_data

    n_all = len(meta)
    if max_points is None:
        max_points = default_max_points(len(projs), hover_thumbnails)
    keep = interactive_rows(meta[label] if label in meta else np.zeros(n_all), max_points, seed, keep)
    density = None
    if keep is not None:
        density = [p.coords for p in projs]
        projs = [replace(p, coords=p.coords[keep], object_ids=p.object_ids[keep]) for p in projs]
        meta = meta.iloc[keep].reset_index(drop=True)
    thumbs = hover_thumbnail_uris(out, meta, label, hover_thumbnails, thumb_size, seed, images_root)
    explorer = explorer_data(out, projs, meta, thumbs, images_root=images_root, image_paths=image_paths)
    return Layer(projs, meta, thumbs, explorer, density, n_all)


def write_scatter_html(path: str | os.PathLike, out, projs, meta: pd.DataFrame, *, initial: str = "class_name",
                       label: str = "class_name", seed: int = 0, hover_thumbnails: int = 1000, thumb_size: int = 64,
                       images_root=None, max_categories: int = 20, max_points: int | None = None,
                       keep: np.ndarray | None = None, keep_note: str = "") -> Path:
    """Write the interactive HTML for ``projs`` (same objects, row-aligned with ``meta``) atomically.

    Above ``max_points`` objects the points are a class-stratified sample over a density image of all, with
    every ``keep`` row (``(N,)`` bool) among them; ``keep_note`` (", including ...") says so on the page.
    """
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    path = Path(path)
    lay = interactive_layer(out, projs, meta, label=label, seed=seed, hover_thumbnails=hover_thumbnails,
                            thumb_size=thumb_size, images_root=images_root, max_points=max_points, keep=keep)
    p0 = lay.projs[0]
    stages_txt = ", ".join(T.stage_label(p.column) for p in lay.projs)
    n = len(lay.meta)
    shown = f"{n:,} objects" if lay.density is None else f"{n:,} of {lay.n_total:,} objects drawn (all in the density)"
    title = (f"{METHOD_TITLES.get(p0.method, p0.method)} of {stages_txt} - {shown} "
             f"(seed {p0.params.get('seed')}, origin {p0.params.get('origin', 'all')})")
    layout = build_layout(lay.projs, lay.meta, initial=initial, label=label, thumbs=lay.thumbs,
                          max_categories=max_categories, seed=seed, title=title,
                          selection_name=f"{path.stem}_selection.csv", explorer=lay.explorer, density=lay.density,
                          n_total=lay.n_total, panel_below=len(lay.projs) > 1,  # a 3-wide grid leaves no room
                          keep_note=keep_note)
    write_text(path, file_html(layout, resources=INLINE, title=title))
    return path
