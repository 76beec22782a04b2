"""``compare.html``: two models' maps of the same objects side by side, linked.

Each panel is one model's 2-D map (coordinates given, e.g. PCA of its P3 embeddings) of the same gt objects;
a point's colour is how its status moved between the models (TP->FN red, FN->TP green, unchanged grey).
Dragging a rectangle in either panel selects those objects in both and lists them; a checkbox keeps only the
objects whose status changed, a menu one label class; hovering names the object. One self-contained file
(no CDN, no external script): plain canvas and a few lines of JavaScript. Every text shown is escaped (the
data travels as JSON with ``<``, ``>`` and ``&`` escaped, and is written into the page with ``textContent``).
"""

from __future__ import annotations

import html
import json

import numpy as np

#: Colour per move (from -> to), in legend order.
MOVE_COLOURS = {"TP->FN": "#d62728", "FN->TP": "#2ca02c", "TP->TP": "#9e9e9e", "FN->FN": "#c6cfe0"}
OTHER_COLOUR = "#ff9f1c"  # a move involving "absent"

_JS = r"""
const D = JSON.parse(document.getElementById('data').textContent);
const C = D.colours, N = D.objects.length, sel = new Set();
const onlyChanged = document.getElementById('changed'), klass = document.getElementById('klass');
const panels = [0, 1].map(i => ({c: document.getElementById('p' + i), xy: D.xy[i]}));
function shown(k) { const o = D.objects[k];
  return (!onlyChanged.checked || o.a !== o.b) && (klass.value === '' || o.cls === klass.value); }
function scale(p) { const xs = p.xy.map(v => v[0]), ys = p.xy.map(v => v[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys), W = p.c.width, H = p.c.height;
  p.f = v => [12 + (v[0] - x0) / ((x1 - x0) || 1) * (W - 24), H - 12 - (v[1] - y0) / ((y1 - y0) || 1) * (H - 24)]; }
function draw() { for (const p of panels) { const g = p.c.getContext('2d'); g.clearRect(0, 0, p.c.width, p.c.height);
    for (let pass = 0; pass < 2; pass++) for (let k = 0; k < N; k++) { if (!shown(k)) continue;
      const o = D.objects[k], moved = o.a !== o.b; if ((pass === 1) !== moved) continue;
      const [x, y] = p.f(p.xy[k]); g.beginPath(); g.arc(x, y, moved ? 4 : 3, 0, 7);
      g.fillStyle = C[o.a + '->' + o.b] || D.other; g.fill();
      if (sel.has(k)) { g.lineWidth = 2; g.strokeStyle = '#000'; g.stroke(); } } }
  const rows = [...sel].filter(shown).slice(0, 200), tb = document.getElementById('rows'); tb.textContent = '';
  for (const k of rows) { const o = D.objects[k], tr = tb.insertRow();
    for (const v of [o.image, o.id, o.cls, o.a, o.b]) tr.insertCell().textContent = v; }
  document.getElementById('count').textContent = sel.size ? sel.size + ' selected (both panels)' : 'drag a rectangle to select'; }
for (const p of panels) { scale(p); let start = null;
  p.c.onmousedown = e => { start = [e.offsetX, e.offsetY]; };
  p.c.onmouseup = e => { if (!start) return; const [x0, y0] = start, x1 = e.offsetX, y1 = e.offsetY; start = null; sel.clear();
    for (let k = 0; k < N; k++) { const [x, y] = p.f(p.xy[k]);
      if (shown(k) && x >= Math.min(x0, x1) && x <= Math.max(x0, x1) && y >= Math.min(y0, y1) && y <= Math.max(y0, y1)) sel.add(k); }
    draw(); };
  p.c.onmousemove = e => { let best = -1, bd = 49;
    for (let k = 0; k < N; k++) { if (!shown(k)) continue; const [x, y] = p.f(p.xy[k]), d = (x - e.offsetX) ** 2 + (y - e.offsetY) ** 2;
      if (d < bd) { bd = d; best = k; } }
    const o = D.objects[best]; p.c.title = best < 0 ? '' : `${o.cls} | ${o.image} | label ${o.id} | ${D.names[0]}: ${o.a} | ${D.names[1]}: ${o.b}`; }; }
for (const c of D.classes) { const op = document.createElement('option'); op.value = c; op.textContent = c; klass.appendChild(op); }
onlyChanged.onchange = draw; klass.onchange = draw; document.getElementById('clear').onclick = () => { sel.clear(); draw(); };
draw();
"""


def _json_for_script(data) -> str:
    """JSON safe inside a ``<script>`` element (no ``</script>``, no entity surprises)."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def compare_page(xy_a: np.ndarray, xy_b: np.ndarray, objects: list[dict], names: tuple[str, str],
                 titles: tuple[str, str], headline: str, summary_rows: list[tuple[str, str]]) -> str:
    """The page as a string. ``xy_*``: ``(n, 2)`` coordinates of the same ``n`` objects in each model's map;
    ``objects``: per object ``{image, id, cls, a, b}`` (statuses in run A and B); ``names``: the runs;
    ``titles``: each panel's title; ``headline``: the answer line; ``summary_rows``: ``(label, value)`` lines."""
    xy = [np.nan_to_num(np.asarray(v, dtype=float)).round(4).tolist() for v in (xy_a, xy_b)]
    data = {"xy": xy, "objects": objects, "names": list(names), "colours": MOVE_COLOURS, "other": OTHER_COLOUR,
            "classes": sorted({o["cls"] for o in objects})}
    e = html.escape
    legend = "".join(f'<span class="key"><i style="background:{c}"></i>{e(k)}</span>'
                     for k, c in [*MOVE_COLOURS.items(), ("with absent", OTHER_COLOUR)])
    summary = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in summary_rows)
    panels = "".join(f'<div class="panel"><h3>{e(t)}</h3><canvas id="p{i}" width="560" height="460"></canvas></div>'
                     for i, t in enumerate(titles))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>yololens compare: {e(names[0])} vs {e(names[1])}</title>
<style>
 body {{ font: 14px/1.4 system-ui, sans-serif; margin: 20px; color: #222; }}
 .panels {{ display: flex; gap: 16px; flex-wrap: wrap; }} canvas {{ border: 1px solid #ccc; cursor: crosshair; }}
 .key {{ margin-right: 14px; }} .key i {{ display: inline-block; width: 10px; height: 10px; border-radius: 5px; margin-right: 4px; }}
 table {{ border-collapse: collapse; margin-top: 8px; }} td, th {{ border-bottom: 1px solid #eee; padding: 2px 8px; text-align: left; }}
 .answer {{ font-weight: 600; font-size: 15px; }}
</style></head><body>
<h1>{e(names[0])} vs {e(names[1])}</h1>
<p class="answer" id="headline">{e(headline)}</p>
<table id="summary">{summary}</table>
<p>Each point is one labelled object, placed by each model's own features; colour: how its status moved from
 {e(names[0])} to {e(names[1])}. Drag a rectangle in either map to select objects in both.</p>
<p>{legend}</p>
<p><label><input type="checkbox" id="changed"> only objects whose status changed</label>
 &nbsp; class <select id="klass"><option value="">all</option></select>
 &nbsp; <button id="clear">clear selection</button> &nbsp; <span id="count"></span></p>
<div class="panels">{panels}</div>
<table><thead><tr><th>image</th><th>label id</th><th>class</th><th>{e(names[0])}</th><th>{e(names[1])}</th></tr></thead>
<tbody id="rows"></tbody></table>
<script type="application/json" id="data">{_json_for_script(data)}</script>
<script>{_JS}</script>
</body></html>
"""
