// Shared by every part of the explorer. Arguments of the one CustomJS (see yololens/figures/scatter_html.py):
// source (the points), page (PageData: names, nn, dist, stages, uris, imw, imh, embedded, files, file_root,
// colour),
// filt (BooleanFilter), cur (highlight ring), figs, points, mapper, palettes, catnames, facets (Div), search,
// status, count, msg (Divs), buttons {download, copy, grid, isolate}, image_list (Div), uid, label, attrs, k,
// fname, facet_cols, panels (Div: side panels, explorer.addPanel), suspects ({stage, cap, min_score, note} or {}).
// Point i of source is row i of the objects shown.
const D = source.data;
const names = page.names;
const val = (c, i) => { const a = D['h__' + c]; return a ? (names[c][a[i]] ?? '') : ''; };
const esc = (s) => String(s).replace(/[&<>"']/g, (ch) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[ch]));
const num = (v, d) => (v === null || v === undefined || Number.isNaN(v)) ? '' : String(+Number(v).toFixed(d));
const fmt = (v) => Number(v).toLocaleString();
const imOf = (r) => (D.h__image ? D.h__image[r] : 0);

// the original image file (full resolution) of row r, '' when the page does not know where it is
function fileOf(r) {
  const name = val('image', r);
  if (!name) return '';
  if (page.files && page.files[name]) return page.files[name];
  if (!page.file_root) return '';
  return page.file_root + name.split('/').map(encodeURIComponent).join('/');
}

// numeric columns by name (search, CSV): box corners, score, IoU and any extra numeric column (n__<name>)
function numericColumn(c) {
  const fixed = {x1: 'bx1', y1: 'by1', x2: 'bx2', y2: 'by2', score: 'score', match_iou: 'iou', iou: 'iou'};
  if (c in fixed) return D[fixed[c]] || null;
  return D['n__' + c] || null;
}

// the element matching sel inside the view of bokeh model m (a Div's HTML lives in its shadow root); null before
// the view exists
function inView(m, sel) {
  const v = [...Bokeh.index.all_views()].find((w) => w.model === m);
  if (!v) return null;
  return (v.shadow_el ?? v.el.shadowRoot ?? v.el).querySelector(sel);
}

// a page-level element of this explorer (the drawer, the large image), made on first use: outside bokeh's
// shadow roots, so it can sit fixed over the window
function overlay(name, css, onclick) {
  const id = `yl-${name}-${uid}`;
  let el = document.getElementById(id);
  if (!el) {
    el = document.createElement('div');
    el.id = id;
    el.className = 'yl-' + name;
    el.style.cssText = css;
    el.addEventListener('click', onclick);
    document.body.appendChild(el);
  }
  return el;
}
