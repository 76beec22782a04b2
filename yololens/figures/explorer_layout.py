"""The explorer's bokeh layout: controls on the left, the stage panels wrapped to the window beside them, the
click panel as a drawer fixed at the window's right edge (see ``yololens/figures/js``).

One ``CustomJS`` (the explorer code, written into the page once) is called by every widget, every panel's tap,
and the document's ready event; the data it reads is in one :class:`~yololens.figures.page_data.PageData`.
The axes have fixed ranges (the data's extent), so filtering, searching and hiding never re-fit them.
"""

from __future__ import annotations

import hashlib
import html as _html

import numpy as np
import pandas as pd

from yololens.analysis import table as T
from yololens.figures.coloring import METHOD_TITLES, color_categories

COLOR_OPTIONS = ("class_name", "status", "origin", "size_bin", "score")
HOVER_TEXT = ("class_name", "image", "status", "origin")
DENSITY_BINS = 400
#: text columns never offered as filters (one value per object or per image)
NOT_FACETS = frozenset({"object_id", "image", "gt_id", "crop"})
#: numeric columns already in the page under another name, or per image
NOT_NUMERIC = frozenset({"gt_id", "image_index", "image_w", "image_h", "object", "x1", "y1", "x2", "y2", "class_id", "score",
                         "match_iou", "box_area"})
MAX_FACET_VALUES = 60
FEW = 12
SIDE_PX = 250


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


def _numbers_as_text(values: pd.Series) -> bool:
    """A text column whose values are all numbers (COCO's ``attr_area`` as strings): searched as a number."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return False
    v = values.dropna()
    v = v[v.astype(str).str.strip() != ""]
    return len(v) > 0 and bool(pd.to_numeric(v.astype(str), errors="coerce").notna().all())


def facet_columns(meta: pd.DataFrame, label: str) -> list[str]:
    """Columns offered as multi-value filters: the label, status, origin, ``attr_*``, then any other text,
    boolean or categorical column (a new column needs no code), each with 2 to :data:`MAX_FACET_VALUES` values.
    A column of numbers (or numbers written as text) with more than :data:`FEW` values is searched as a number
    instead (``area>1000``)."""
    first = [label, "status", "origin", *[c for c in meta.columns if c.startswith("attr_")]]
    rest = [c for c in meta.columns if not pd.api.types.is_numeric_dtype(meta[c]) or pd.api.types.is_bool_dtype(meta[c])]
    out = []
    for c in dict.fromkeys([*first, *rest]):
        if c not in meta.columns or c in NOT_FACETS:
            continue
        k = meta[c].nunique(dropna=False)
        numeric = pd.api.types.is_numeric_dtype(meta[c]) and not pd.api.types.is_bool_dtype(meta[c])
        if 1 < k <= MAX_FACET_VALUES and not (k > FEW and (numeric or _numbers_as_text(meta[c]))):
            out.append(c)
    return out


def numeric_columns(meta: pd.DataFrame) -> list[str]:
    """Numeric columns the page carries as ``n__<name>`` for search and the CSV (a ``suspect_score``, say),
    numbers written as text included."""
    return [c for c in meta.columns if c not in NOT_NUMERIC and (
        (pd.api.types.is_numeric_dtype(meta[c]) and not pd.api.types.is_bool_dtype(meta[c]))
        or (meta[c].nunique() > FEW and _numbers_as_text(meta[c])))]


def fixed_range(values: np.ndarray, pad: float = 0.04):
    """A ``Range1d`` over the finite ``values`` plus ``pad`` of their span on each side."""
    from bokeh.models import Range1d

    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    lo, hi = (float(v.min()), float(v.max())) if len(v) else (0.0, 1.0)
    span = hi - lo if hi > lo else 1.0
    return Range1d(lo - pad * span, hi + pad * span)


def build_layout(projs, meta: pd.DataFrame, *, initial: str, label: str, thumbs: np.ndarray | None,
                 max_categories: int = 20, seed: int = 0, title: str = "", selection_name: str = "selection.csv",
                 explorer=None, density: list[np.ndarray] | None = None, n_total: int | None = None,
                 keep_note: str = "", panel_px: int | None = None, wheel_zoom: bool = True,
                 suspects: str | None = None):
    """The bokeh layout for ``projs`` (ProjectionResults over the same objects) and ``meta`` (row-aligned).

    ``density``: per stage, the ``(N_all, 2)`` coordinates of *every* object when ``projs``/``meta`` hold a
    sample (``n_total`` = N_all): drawn as a grey log-density image under the points; ``keep_note`` (", including
    all 12 objects where ...") completes the page's sentence about that sample. ``panel_px``: each panel's side
    in pixels (default 600 for one stage, 360 for several: three fit beside the controls at 1440 px, two at
    1024). ``wheel_zoom``: the mouse wheel zooms (False in the report: the wheel scrolls the page until the
    toolbar's wheel-zoom button is pressed).

    ``explorer``: an :class:`~yololens.figures.explorer.ExplorerData` for the click panel (neighbours, partner,
    images); without it the panel still shows each object's details, with no image and no neighbours.
    ``suspects``: the stage that ranked ``meta``'s ``suspect_*`` columns: the "Suspects" side panel (ranked list,
    "suspects only", colour by suspect score; :mod:`yololens.figures.suspects_panel`); None: no panel.
    """
    from bokeh.document import Document
    from bokeh.layouts import column, row
    from bokeh.models import (
        BooleanFilter, Button, CDSView, ColumnDataSource, CustomJS, CustomJSHover, Div, HoverTool,
        LinearColorMapper, Select, TextInput,
    )
    from bokeh.plotting import figure

    from yololens.figures.explorer import ExplorerData
    from yololens.figures.explorer_js import explorer_code
    from yololens.figures.page_data import PageData
    from yololens.figures.suspects_panel import KIND, SCORE, SUGGESTED, panel_args

    n = len(meta)
    ex = explorer if explorer is not None else ExplorerData(
        neighbours=[np.full((n, 0), -1, np.int32) for _ in projs], stages=[T.stage_label(p.column) for p in projs],
        partner=np.full(n, -1, np.int32), image_code=np.full(n, -1, np.int32), k=0)
    data: dict = {"object_id": np.asarray(meta["object_id"], dtype=object)}
    ranked = panel_args(meta, suspects)
    opts = color_options(meta, initial, label) + ([SCORE] if ranked and initial != SCORE else [])
    colorings = {c: color_categories(meta[c], c, max_categories=max_categories) for c in opts}
    for c, col in colorings.items():
        data[f"c__{c}"] = col.codes.astype(_codes_dtype(len(col.labels)))
    # text columns as codes + lookup tables (a few bytes per point instead of the strings)
    attrs = [c for c in meta.columns if c.startswith("attr_")]
    hover_cols = [c for c in (*HOVER_TEXT, *attrs) if c in meta.columns]
    facets = facet_columns(meta, label)
    shown_text = [SUGGESTED, KIND] if ranked else []  # the list and the details show them
    codes, names = _text_codes(meta, [label, *hover_cols, *facets, *shown_text])
    data.update(codes)
    facets = [c for c in facets if c in names]
    for c in numeric_columns(meta):
        data[f"n__{c}"] = _float(meta, c)
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
    embedded = np.full(n_img, -1, np.int32)  # per image too: which embedded copy (-1: none)
    embedded[im_code[::-1]] = ex.image_code.astype(np.int32)[::-1]
    page.update(nn=[a.reshape(-1) for a in ex.neighbours], dist=[a.reshape(-1) for a in ex.distances],
                stages=list(ex.stages), uris=list(ex.image_uris), imw=imw, imh=imh, embedded=embedded, files=dict(ex.files),
                file_root=ex.file_root)
    data["partner"] = ex.partner.astype(np.int32)
    data["thumb"] = thumbs if thumbs is not None else np.full(n, "", dtype=object)
    for j, p in enumerate(projs):
        data[f"x{j}"] = p.coords[:, 0].astype(np.float32)
        data[f"y{j}"] = p.coords[:, 1].astype(np.float32)
    source = ColumnDataSource(data)
    # a gt box has no score: the hover shows none rather than "NaN" (bokeh prints NaN before any formatter runs,
    # so the score is read by index through a formatter on another field, the always-finite partner row)
    formatters["@partner"] = CustomJSHover(args=dict(source=source), code=(
        "const s = source.data.score ? source.data.score[special_vars.index] : NaN;"
        " return Number.isNaN(s) ? '' : s.toFixed(2)"))
    filt = BooleanFilter(booleans=np.ones(n, dtype=bool))
    cur = ColumnDataSource({f"{a}{j}": [] for j in range(len(projs)) for a in "xy"})

    first = colorings[initial]
    mapper = LinearColorMapper(palette=first.colors, low=-0.5, high=len(first.colors) - 0.5)

    # hover: a row whose value is empty (an attribute that does not apply, a gt box's score) is hidden by :has()
    rows = "".join(
        f'<div class="yl-row"><span style="color:#777">{_html.escape(c.removeprefix("attr_"))}:</span> '
        f'<span class="yl-v">@h__{c}{{custom}}</span></div>'
        for c in hover_cols if c in ("status", "origin") or c.startswith("attr_")
    )
    score = ('<span class="yl-row" style="display:inline"> &nbsp;score <span class="yl-v">@partner{custom}</span>'
             '</span>' if "score" in data else "")
    tooltip = f"""
<div style="max-width:280px;font:12px sans-serif">
  <style>img.yl-thumb[src=""]{{display:none}} .yl-row:has(.yl-v:empty){{display:none !important}}</style>
  <img class="yl-thumb" src="@thumb" onerror="this.style.display='none'"
       style="float:left;max-width:64px;max-height:64px;margin:0 6px 4px 0;border:1px solid #999">
  <div><b>@h__{label}{{custom}}</b>{score}</div>
  {'<div>@h__image{custom}</div>' if 'image' in hover_cols else ''}
  {rows}
  <div style="clear:both;color:#999;font-size:10px">@object_id</div>
</div>"""

    # a page can hold several explorers (the report): the state is kept under this key, derived from the content
    # (not hash(), which changes per process) so the same inputs give the same file
    uid = "yl" + hashlib.sha1("\n".join(map(str, data["object_id"][:200])).encode()
                              + f"{seed}/{len(projs)}/{n}".encode()).hexdigest()[:12]
    size = float(np.clip(25000.0 / max(n, 1), 2.0, 7.0))
    side_px = panel_px or (600 if len(projs) == 1 else 360)
    figs, points = [], []  # the figures, and each one's points renderer (recoloured by field)
    for j, p in enumerate(projs):
        every = density[j] if density is not None else p.coords  # the ranges hold the density image too
        f = figure(
            width=side_px, height=side_px, output_backend="webgl",
            x_range=fixed_range(every[:, 0]), y_range=fixed_range(every[:, 1]),
            tools="pan,wheel_zoom,box_zoom,lasso_select,box_select,reset,save",
            active_scroll="wheel_zoom" if wheel_zoom else None,
            title=f"{p.column} - {METHOD_TITLES.get(p.method, p.method)} - n={n:,}",
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
        f.xaxis.visible = f.yaxis.visible = False
        f.grid.visible = False
        figs.append(f)

    w = SIDE_PX - 20
    colour = Select(title="colour by", value=initial, options=list(colorings), width=w, css_classes=["yl-color"])
    facet_div = Div(text="<div class='yl-facets' style='font:12px sans-serif'></div>", width=w,
                    stylesheets=[".yl-fv{display:block;white-space:nowrap;cursor:pointer}"
                                 " .yl-sw{display:inline-block;width:10px;height:10px;border-radius:5px;margin:0 4px}"
                                 " details{margin:4px 0} summary{cursor:pointer}"])
    search = TextInput(title="search (words, or column:value, score>0.5)", width=w, css_classes=["yl-search"])
    status = Div(text=f"<span class='yl-shown'>{n:,}</span> of {n:,} points shown", width=w)
    count = Div(text="0 selected", width=w)
    msg = Div(text="", width=w, css_classes=["yl-msg-host"])
    buttons = {"download": Button(label="Download selection (CSV)", button_type="primary", width=w),
               "grid": Button(label="Show selection as crops", width=w),
               "isolate": Button(label="Isolate selection", width=w),
               "copy": Button(label="Copy image list", width=w)}
    image_list = Div(text="", width=w)
    panels = Div(text="<div class='yl-panels' style='font:12px sans-serif'></div>", width=w)  # explorer.addPanel
    app = CustomJS(args=dict(source=source, page=page, filt=filt, cur=cur, figs=figs, points=points, mapper=mapper,
                             palettes={c: col.colors for c, col in colorings.items()},
                             catnames={c: list(col.labels) for c, col in colorings.items()},
                             facets=facet_div, search=search, status=status, count=count, msg=msg, buttons=buttons,
                             image_list=image_list, colour=colour, uid=uid, label=label, attrs=attrs, k=ex.k,
                             fname=selection_name, facet_cols=facets, panels=panels, suspects=ranked),
                   code=explorer_code())
    for f in figs:
        f.js_on_event("tap", app)
    for b in buttons.values():
        b.js_on_event("button_click", app)
    colour.js_on_change("value", app)
    search.js_on_change("value_input", app)
    search.js_on_change("value", app)
    source.selected.js_on_change("indices", app)

    scale_note = ("" if density is None else
                  f"Points: a class-stratified sample of {n:,} of {n_total or n:,} objects (click, hover, filter and "
                  f"select work on these){keep_note}; the grey density image underneath shows all {n_total or n:,}. ")
    wheel = "" if wheel_zoom else "The mouse wheel scrolls the page; press the toolbar's wheel-zoom button to zoom. "
    note = Div(text=f"<div class='yl-note' style='font:11px sans-serif;color:#555'>"
                    f"{_html.escape(scale_note + wheel + ex.note)}</div>", width=w)
    head = Div(text=f"<h3 style='font-family:sans-serif;margin:4px 0'>{_html.escape(title)}</h3>",
               sizing_mode="stretch_width")
    side = column(colour, search, status, count, panels, buttons["download"], buttons["grid"], buttons["isolate"], msg,
                  facet_div, buttons["copy"], image_list, note, width=SIDE_PX)
    plots = row(*figs, styles={"flex-wrap": "wrap"}, sizing_mode="stretch_width")  # wrap to the window
    layout = column(head, row(side, plots, sizing_mode="stretch_width"), sizing_mode="stretch_width")
    Document().add_root(layout)
    layout.document.js_on_event("document_ready", app)  # the facets and their counts, once the page is drawn
    return layout
