"""The explorer's browser code (bokeh ``CustomJS`` bodies), kept apart from the Python that wires it.

Shared names in every body: ``source`` (the points), ``page`` (the document's one
:class:`~yololens.figures.page_data.PageData`) and ``names`` = ``page.names`` (``{column: [value, ...]}``,
lookup tables of the ``h__<column>`` code columns). Point ``i`` of ``source`` is row ``i`` of the objects shown.
"""

from __future__ import annotations

# helpers every body starts with: value of a looked-up column, HTML escaping, number formatting
HELPERS = r"""
const D = source.data;
const names = page.names;
const val = (c, i) => { const a = D['h__' + c]; return a ? (names[c][a[i]] ?? '') : ''; };
const esc = (s) => String(s).replace(/[&<>"']/g, (ch) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[ch]));
const num = (v, d) => (v === null || v === undefined || Number.isNaN(v)) ? '' : String(+Number(v).toFixed(d));
"""

# which points are drawn: legend entries ticked, every filter menu, the search box
REFILTER = HELPERS + r"""
const n = D.object_id.length;
const code = D['c__' + page.colour];
const shown = new Set(legend.active);
const conds = [];
for (const [col, sel] of Object.entries(selects)) {
  if (sel.value !== ALL) conds.push([D['h__' + col], names[col].indexOf(sel.value)]);
}
const q = String(search.value_input ?? search.value ?? '').trim().toLowerCase();
const ims = D['h__image'];
const lowImages = q && ims ? names['image'].map((s) => s.toLowerCase()) : null;
const mask = new Array(n);
let count = 0;
for (let i = 0; i < n; i++) {
  let ok = shown.has(code[i]);
  for (let c = 0; ok && c < conds.length; c++) ok = conds[c][0][i] === conds[c][1];
  if (ok && q) ok = String(D.object_id[i]).toLowerCase().includes(q) || (lowImages !== null && lowImages[ims[i]].includes(q));
  mask[i] = ok;
  if (ok) count++;
}
filt.booleans = mask;
status.text = `<span class="yl-shown">${count.toLocaleString()}</span> of ${n.toLocaleString()} points shown`;
"""

# the colour-by menu: recolour, and the legend (checkboxes, one per category) follows
# (the points' fill field switches to c__<opt>: a visual change; replacing a data column would make bokeh redo
# every point's geometry and index as well, one more 150k-point repaint)
RECOLOR = r"""
const opt = cb_obj.value;
const pal = palettes[opt];
page.colour = opt;
for (const r of points) r.glyph.fill_color = {field: 'c__' + opt, transform: mapper};
mapper.palette = pal;
mapper.high = pal.length - 0.5;
legend.labels = labels[opt];
// the swatches read --<uid>-c<k> (one fixed stylesheet): a variable is no bokeh change, so no relayout
for (let k = 0; k < pal.length; k++) document.documentElement.style.setProperty(`--${uid}-c${k}`, pal[k]);
legend.active = labels[opt].map((_, k) => k);
title.text = `<b>${opt}</b> <span style="color:#666">(click an entry to hide or show it)</span>`;
refilter.execute(cb_obj);
"""

# a click on a plot: the nearest drawn point within 12 px opens in the side panel
TAP = HELPERS + r"""
const nn = page.nn, stages = page.stages, uris = page.uris, imw = page.imw, imh = page.imh;
const n = D.object_id.length;
const xs = D['x' + j], ys = D['y' + j];
const pw = fig.inner_width / (fig.x_range.end - fig.x_range.start);
const ph = fig.inner_height / (fig.y_range.end - fig.y_range.start);
const vis = filt.booleans;
let best = -1, bd = 144;
for (let i = 0; i < n; i++) {
  if (vis && !vis[i]) continue;
  const dx = (xs[i] - cb_obj.x) * pw, dy = (ys[i] - cb_obj.y) * ph;
  const dd = dx * dx + dy * dy;
  if (dd < bd) { bd = dd; best = i; }
}
if (best < 0) return;
const imOf = (r) => (D.h__image ? D.h__image[r] : 0);

function box(r, cls, colour, dashed, W, H) {
  const w = Math.max(W, H) / 150;
  return `<rect class="${cls}" x="${D.bx1[r]}" y="${D.by1[r]}" width="${D.bx2[r] - D.bx1[r]}" height="${D.by2[r] - D.by1[r]}" ` +
         `fill="none" stroke="${colour}" stroke-width="${w}"${dashed ? ` stroke-dasharray="${3 * w} ${2 * w}"` : ''}/>`;
}
function tile(m) {
  const th = D.thumb[m];
  if (th) return `<img src="${th}" style="max-width:64px;max-height:64px">`;
  const ic = D.img[m];
  const bw = D.bx2[m] - D.bx1[m], bh = D.by2[m] - D.by1[m];
  if (ic >= 0 && bw > 0 && bh > 0) {  // cut the box out of the embedded image
    const s = 64 / Math.max(bw, bh);
    return `<div style="width:${bw * s}px;height:${bh * s}px;background:url('${uris[ic]}') no-repeat;` +
           `background-size:${imw[imOf(m)] * s}px ${imh[imOf(m)] * s}px;background-position:${-D.bx1[m] * s}px ${-D.by1[m] * s}px"></div>`;
  }
  return `<div style="width:64px;height:40px;background:#eee;color:#555;font-size:11px">no image</div>`;
}
function show(i) {
  const cur_d = {};
  for (let s = 0; s < nn.length; s++) { cur_d['x' + s] = [D['x' + s][i]]; cur_d['y' + s] = [D['y' + s][i]]; }
  cur.data = cur_d;
  const p = D.partner[i];
  const ic = D.img[i];
  const W = imw[imOf(i)], H = imh[imOf(i)];
  let h = `<div class="yl-panel" data-index="${i}" data-object-id="${esc(D.object_id[i])}" ` +
          `style="font:13px sans-serif;display:flex;flex-wrap:wrap;gap:4px 14px"><div>`;
  if (ic >= 0 && W > 0 && H > 0) {
    h += `<svg class="yl-image" viewBox="0 0 ${W} ${H}" width="320" style="display:block;border:1px solid #999">` +
         `<image href="${uris[ic]}" x="0" y="0" width="${W}" height="${H}" preserveAspectRatio="none"/>` +
         (p >= 0 ? box(p, 'yl-box-partner', '#56B4E9', true, W, H) : '') + box(i, 'yl-box-self', '#D55E00', false, W, H) + '</svg>' +
         `<div style="color:#555;font-size:12px">solid orange: this ${esc(val('origin', i) || 'object')}` +
         (p >= 0 ? `; dashed blue: its matched ${esc(val('origin', p))} box` : '') + '</div>';
  } else {
    h += `<div class="yl-noimg" style="color:#555">image not embedded in this page (see the note below the controls)</div>`;
  }
  h += '</div><div style="max-width:340px">';
  const rows = [['image', val('image', i)], ['object id', D.object_id[i]], ['class', val(label, i)],
                ['origin', val('origin', i)], ['status', val('status', i)], ['score', num(D.score ? D.score[i] : NaN, 3)],
                ['IoU', num(D.iou[i], 3)],
                ['box', [D.bx1[i], D.by1[i], D.bx2[i], D.by2[i]].map((v) => num(v, 1)).join(', ')],
                ['partner', p >= 0 ? D.object_id[p] : '']];
  for (const c of attrs) rows.push([c.replace(/^attr_/, ''), val(c, i)]);
  h += '<table class="yl-details" style="border-collapse:collapse;margin:6px 0">';
  for (const [key, v] of rows) {
    if (v === '' || v === null || v === undefined) continue;  // rows that do not apply are left out
    h += `<tr data-key="${esc(key)}"><td style="color:#666;padding-right:8px">${esc(key)}</td><td class="yl-val">${esc(v)}</td></tr>`;
  }
  h += '</table>';
  h += `<div style="font-weight:bold;margin-top:4px">${k} nearest in ${esc(stages[j])} (embedding space, cosine)</div><div class="yl-nns" style="display:flex;flex-wrap:wrap;gap:4px">`;
  const row = nn[j];
  for (let q = 0; q < k; q++) {
    const m = row[i * k + q];
    if (m < 0) continue;
    h += `<div class="yl-nn" data-index="${m}" title="${esc(D.object_id[m])}" style="cursor:pointer;width:68px;text-align:center;font-size:11px" ` +
         `onclick="window.__yololens['${uid}'].show(${m})">${tile(m)}<div>${esc(val(label, m))}</div></div>`;
  }
  h += '</div></div></div>';
  panel.text = h;
}
window.__yololens = window.__yololens || {};
window.__yololens[uid] = {show};
show(best);
"""

# the lasso/box selection as CSV: every column a user filters on
DOWNLOAD = HELPERS + r"""
const idx = [...source.selected.indices].sort((a, b) => a - b);
if (idx.length === 0) { alert('Select points first (lasso or box select).'); return; }
const q = (v) => '"' + String(v).replace(/"/g, '""') + '"';
const cols = ['object_id', 'image', 'x1', 'y1', 'x2', 'y2', label, 'score', 'status', 'origin', ...attrs];
const box = {x1: 'bx1', y1: 'by1', x2: 'bx2', y2: 'by2'};
const cell = (c, i) => {
  if (c === 'object_id') return q(D.object_id[i]);
  if (c in box) return num(D[box[c]][i], 2);
  if (c === 'score') return D.score ? num(D.score[i], 4) : '';
  return q(val(c, i));
};
const lines = [cols.join(',')];
for (const i of idx) lines.push(cols.map((c) => cell(c, i)).join(','));
const blob = new Blob([lines.join('\n') + '\n'], {type: 'text/csv;charset=utf-8'});
const a = document.createElement('a');
a.href = URL.createObjectURL(blob);
a.download = fname;
document.body.appendChild(a);
a.click();
setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
"""

# the selection's image names to the clipboard, and into a text box (the clipboard may be blocked for file://)
COPY_IMAGES = HELPERS + r"""
const idx = source.selected.indices;
if (idx.length === 0) { out.text = 'Select points first (lasso or box select).'; return; }
const ims = [...new Set([...idx].map((i) => val('image', i)))].filter((s) => s !== '').sort();
const txt = ims.join('\n');
const fallback = () => {
  const t = document.createElement('textarea');
  t.value = txt; document.body.appendChild(t); t.select();
  try { document.execCommand('copy'); } catch (e) { /* the text box below still holds the list */ }
  t.remove();
};
try { navigator.clipboard.writeText(txt).catch(fallback); } catch (e) { fallback(); }
out.text = `<div><span class="yl-nimages">${ims.length}</span> image names copied</div>` +
           `<textarea class="yl-imagelist" readonly rows="5" style="width:210px">${esc(txt)}</textarea>`;
"""

COUNT = r"""
div.text = cb_obj.indices.length.toLocaleString() + ' selected';
"""
