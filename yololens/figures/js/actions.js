// The buttons and menus beside the panels: selection as CSV, image list, isolate, colour by.

// the lasso/box selection as CSV: every column a user filters on
function download() {
  const idx = [...source.selected.indices].sort((a, b) => a - b);
  if (idx.length === 0) { say('Nothing selected: draw a lasso or a box on a panel first (toolbar), then download.'); return; }
  const q = (v) => '"' + String(v).replace(/"/g, '""') + '"';
  const extra = Object.keys(D).filter((key) => key.startsWith('n__')).map((key) => key.slice(3)).filter((c) => !attrs.includes(c));
  const cols = ['object_id', 'image', 'x1', 'y1', 'x2', 'y2', label, 'score', 'status', 'origin', ...attrs, ...extra];
  const cell = (c, i) => {
    if (c === 'object_id') return q(D.object_id[i]);
    const arr = numericColumn(c);
    if (arr) return num(arr[i], c === 'score' ? 4 : 2);
    if (c === 'score') return '';
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
  say(`${fmt(idx.length)} objects downloaded as ${fname}`);
}

// the selection's image names to the clipboard, and into a text box (the clipboard may be blocked for file://)
function copyImages() {
  const idx = source.selected.indices;
  if (idx.length === 0) { say('Nothing selected: draw a lasso or a box on a panel first (toolbar).'); return; }
  const ims = [...new Set([...idx].map((i) => val('image', i)))].filter((s) => s !== '').sort();
  const txt = ims.join('\n');
  const fallback = () => {
    const t = document.createElement('textarea');
    t.value = txt; document.body.appendChild(t); t.select();
    try { document.execCommand('copy'); } catch (e) { /* the text box below still holds the list */ }
    t.remove();
  };
  try { navigator.clipboard.writeText(txt).catch(fallback); } catch (e) { fallback(); }
  image_list.text = `<div><span class="yl-nimages">${ims.length}</span> image names copied</div>` +
                    `<textarea class="yl-imagelist" readonly rows="5" style="width:210px">${esc(txt)}</textarea>`;
}

function say(text) {
  msg.text = text ? `<div class="yl-msg" style="font:12px sans-serif;color:#a40">${esc(text)}</div>` : '';
}

// colour by: the points' fill field switches to c__<opt> (one repaint), the legend facet follows
function recolour(S, F, opt) {
  const pal = palettes[opt];
  page.colour = opt;
  for (const r of points) r.glyph.fill_color = {field: 'c__' + opt, transform: mapper};
  mapper.palette = pal;
  mapper.high = pal.length - 0.5;
  S.hidden = new Set();
  F.apply();
}
