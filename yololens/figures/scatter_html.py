"""Self-contained interactive HTML scatter (bokeh, INLINE resources: opens offline and survives copying).

* hover: object crop (base64 JPEG data URI, only for a capped, class-stratified sample), class, score, image,
  status, origin and attributes;
* lasso / box selection, and a button that downloads the selected object ids as CSV;
* a colour-by Select recolours from precomputed per-column codes and palettes (no regeneration);
* WebGL output, numeric columns as typed arrays and strings as small lookup tables keep 100k points usable;
* several stages -> a grid of panels sharing one ColumnDataSource (linked selection, one hover per panel).
"""

from __future__ import annotations

import html as _html
import os
from pathlib import Path

import numpy as np
import pandas as pd

from yololens.analysis import table as T
from yololens.figures.coloring import METHOD_TITLES, Coloring, color_categories
from yololens.store.atomic import write_text

COLOR_OPTIONS = ("class_name", "status", "origin", "size_bin", "score")
HOVER_TEXT = ("class_name", "image", "status", "origin")


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


def legend_html(coloring: Coloring) -> str:
    items = "".join(
        f'<div style="white-space:nowrap"><span style="display:inline-block;width:11px;height:11px;'
        f'border-radius:6px;background:{c};margin-right:5px;vertical-align:middle"></span>'
        f"{_html.escape(lab)}</div>"
        for c, lab in zip(coloring.colors, coloring.legend_labels())
    )
    return f'<div style="font:12px sans-serif"><b>{_html.escape(coloring.column)}</b>{items}</div>'


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


def build_layout(projs, meta: pd.DataFrame, *, initial: str, label: str, thumbs: np.ndarray | None,
                 max_categories: int = 20, seed: int = 0, title: str = "", selection_name: str = "selection.csv"):
    """The bokeh layout for ``projs`` (ProjectionResults over the same objects) and ``meta`` (row-aligned)."""
    from bokeh.layouts import column, gridplot, row
    from bokeh.models import (
        Button, ColumnDataSource, CustomJS, CustomJSHover, Div, HoverTool, LinearColorMapper, Select,
    )
    from bokeh.plotting import figure

    n = len(meta)
    data: dict = {"object_id": np.asarray(meta["object_id"], dtype=object)}
    opts = color_options(meta, initial, label)
    colorings = {c: color_categories(meta[c], c, max_categories=max_categories) for c in opts}
    for c, col in colorings.items():
        data[f"c__{c}"] = col.codes.astype(_codes_dtype(len(col.labels)))
    data["code"] = data[f"c__{initial}"].copy()
    # hover text columns as codes + lookup tables (a few bytes per point instead of the strings)
    hover_cols = [c for c in (*HOVER_TEXT, *[c for c in meta.columns if c.startswith("attr_")]) if c in meta.columns]
    formatters = {}
    for c in dict.fromkeys([label, *hover_cols]):
        if c not in meta.columns:
            continue
        obj = meta[c].astype(object)
        codes, uniques = pd.factorize(obj.where(obj.notna(), None), use_na_sentinel=True)
        names = [str(u) for u in uniques] + [""]
        data[f"h__{c}"] = np.where(codes < 0, len(names) - 1, codes).astype(_codes_dtype(len(names)))
        formatters[f"@h__{c}"] = CustomJSHover(args=dict(names=names), code="return names[value] ?? ''")
    if "score" in meta.columns:
        data["score"] = meta["score"].to_numpy(dtype=np.float32, na_value=np.nan)
    if "box_area" in meta.columns:
        data["box_area"] = meta["box_area"].to_numpy(dtype=np.float32, na_value=np.nan)
    data["thumb"] = thumbs if thumbs is not None else np.full(n, "", dtype=object)
    for j, p in enumerate(projs):
        data[f"x{j}"] = p.coords[:, 0].astype(np.float32)
        data[f"y{j}"] = p.coords[:, 1].astype(np.float32)
    source = ColumnDataSource(data)

    first = colorings[initial]
    mapper = LinearColorMapper(palette=first.colors, low=-0.5, high=len(first.colors) - 0.5)
    palettes = {c: col.colors for c, col in colorings.items()}
    legends = {c: legend_html(col) for c, col in colorings.items()}

    attr_rows = "".join(
        f'<div><span style="color:#777">{_html.escape(c.removeprefix("attr_"))}:</span> @h__{c}{{custom}}</div>'
        for c in hover_cols if c.startswith("attr_")
    )
    status_row = "".join(
        f'<div><span style="color:#777">{c}:</span> @h__{c}{{custom}}</div>' for c in ("status", "origin") if c in hover_cols
    )
    tooltip = f"""
<div style="max-width:280px;font:12px sans-serif">
  <style>img.yl-thumb[src=""]{{display:none}}</style>
  <img class="yl-thumb" src="@thumb" onerror="this.style.display='none'"
       style="float:left;max-width:64px;max-height:64px;margin:0 6px 4px 0;border:1px solid #999">
  <div><b>@h__{label}{{custom}}</b>{' &nbsp;score @score{0.00}' if 'score' in data else ''}</div>
  {'<div>@h__image{custom}</div>' if 'image' in hover_cols else ''}
  {status_row}{attr_rows}
  <div style="clear:both;color:#999;font-size:10px">@object_id</div>
</div>"""

    size = float(np.clip(25000.0 / max(n, 1), 2.0, 7.0))
    figs = []
    w = 760 if len(projs) == 1 else 420
    for j, p in enumerate(projs):
        f = figure(
            width=w, height=w if len(projs) > 1 else 640, output_backend="webgl",
            tools="pan,wheel_zoom,box_zoom,lasso_select,box_select,reset,save",
            active_scroll="wheel_zoom", title=f"{p.column} - {METHOD_TITLES.get(p.method, p.method)} - n={n:,}",
            match_aspect=True,
        )
        r = f.scatter(f"x{j}", f"y{j}", source=source, size=size, line_width=0,
                      fill_color={"field": "code", "transform": mapper}, fill_alpha=0.8,
                      selection_fill_alpha=0.95, nonselection_fill_alpha=0.08)
        # a dense spot can hold thousands of points: show at most 3, those with a crop first
        f.add_tools(HoverTool(renderers=[r], tooltips=tooltip, formatters=formatters, limit=3,
                              sort_by=[("thumb", "descending")]))
        f.xaxis.visible = f.yaxis.visible = False
        f.grid.visible = False
        figs.append(f)

    legend = Div(text=legends[initial], width=230)
    select = Select(title="colour by", value=initial, options=list(colorings), width=220)
    select.js_on_change("value", CustomJS(args=dict(source=source, mapper=mapper, palettes=palettes,
                                                    legend=legend, legends=legends), code="""
const opt = cb_obj.value;
const pal = palettes[opt];
const d = Object.assign({}, source.data);
d['code'] = source.data['c__' + opt];
mapper.palette = pal;
mapper.high = pal.length - 0.5;
source.data = d;
legend.text = legends[opt];
"""))
    count = Div(text="0 selected", width=220)
    source.selected.js_on_change("indices", CustomJS(args=dict(div=count), code="""
div.text = cb_obj.indices.length.toLocaleString() + ' selected';
"""))
    label_names = formatters.get(f"@h__{label}").args["names"] if f"@h__{label}" in formatters else []
    button = Button(label="Download selected ids (CSV)", button_type="primary", width=220)
    button.js_on_event("button_click", CustomJS(args=dict(source=source, names=label_names, label=label,
                                                          fname=selection_name), code="""
const idx = source.selected.indices;
if (idx.length === 0) { alert('Select points first (lasso or box select).'); return; }
const q = (v) => '"' + String(v).replace(/"/g, '""') + '"';
const ids = source.data['object_id'];
const lab = source.data['h__' + label];
const lines = ['object_id,' + label];
for (const i of [...idx].sort((a, b) => a - b)) {
  lines.push(q(ids[i]) + ',' + q(lab ? (names[lab[i]] ?? '') : ''));
}
const blob = new Blob([lines.join('\\n') + '\\n'], {type: 'text/csv;charset=utf-8'});
const a = document.createElement('a');
a.href = URL.createObjectURL(blob);
a.download = fname;
document.body.appendChild(a);
a.click();
setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
"""))
    head = Div(text=f"<h3 style='font-family:sans-serif;margin:4px 0'>{_html.escape(title)}</h3>", width=900)
    side = column(select, button, count, legend)
    plots = figs[0] if len(figs) == 1 else gridplot(figs, ncols=min(3, len(figs)), toolbar_location="right")
    return column(head, row(plots, side))


def write_scatter_html(path: str | os.PathLike, out, projs, meta: pd.DataFrame, *, initial: str = "class_name",
                       label: str = "class_name", seed: int = 0, hover_thumbnails: int = 1000, thumb_size: int = 64,
                       images_root=None, max_categories: int = 20) -> Path:
    """Write the interactive HTML for ``projs`` (same objects, row-aligned with ``meta``) atomically."""
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    path = Path(path)
    thumbs = hover_thumbnail_uris(out, meta, label, hover_thumbnails, thumb_size, seed, images_root)
    p0 = projs[0]
    stages_txt = ", ".join(T.stage_label(p.column) for p in projs)
    title = (f"{METHOD_TITLES.get(p0.method, p0.method)} of {stages_txt} - {len(meta):,} objects "
             f"(seed {p0.params.get('seed')}, origin {p0.params.get('origin', 'all')})")
    layout = build_layout(projs, meta, initial=initial, label=label, thumbs=thumbs, max_categories=max_categories,
                          seed=seed, title=title, selection_name=f"{path.stem}_selection.csv")
    write_text(path, file_html(layout, resources=INLINE, title=title))
    return path
