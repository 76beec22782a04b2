// The click panel: a drawer fixed at the window's right edge (visible wherever the page is scrolled), showing
// one object (zoom on the box at full resolution, the whole image, details, neighbours with their distances,
// back to the previous object) or the selection as a grid of crops.

const CONTEXT = 1.0;  // the zoom shows the box plus this much of its size on every side (at least 24 px)

function makePanel(S) {
  const nn = page.nn, dist = page.dist, stages = page.stages, uris = page.uris, imw = page.imw, imh = page.imh;

  function drawer() {
    const el = overlay('drawer', 'position:fixed;top:0;right:0;width:min(420px,40vw);height:100vh;overflow:auto;' +
      'background:#fff;border-left:1px solid #aaa;box-shadow:-4px 0 14px rgba(0,0,0,.18);z-index:1000;' +
      'padding:8px 12px;box-sizing:border-box;font:13px sans-serif;color:#222', onClick);
    if (el.style.display !== 'block') { el.style.display = 'block'; room(el.getBoundingClientRect().width); }
    return el;
  }
  // the page moves left to make room for the drawer where the controls and one panel still fit beside it
  // (bokeh re-lays out the panels on resize); on a narrower window the drawer lies over the panels
  function room(px) {
    const need = (figs[0] ? figs[0].width : 360) + 290;
    const fits = px > 0 && window.innerWidth - px >= need;
    document.body.style.marginRight = fits ? `${Math.ceil(px)}px` : '';
    window.dispatchEvent(new Event('resize'));
  }
  function close() {
    const el = drawer();
    el.style.display = 'none';
    room(0);
  }
  function onClick(e) {
    const t = e.target.closest('[data-act]');
    if (!t) return;
    const act = t.dataset.act;
    if (act === 'show') show(+t.dataset.index, S.stage, true);
    else if (act === 'back') back();
    else if (act === 'close') close();
    else if (act === 'large') large(+t.dataset.index);
    else if (act === 'grid-csv') download();
    else if (act === 'stage') { S.stage = +t.dataset.stage; show(S.current, S.stage, false); }
  }
  // an SVG of region (x, y, w, h) of row r's image: the embedded downscaled copy underneath, the original
  // file over it (full resolution where the page can reach it; where it cannot, the copy shows)
  function region(r, x, y, w, h, px, extra) {
    const W = imw[imOf(r)], H = imh[imOf(r)], ic = page.embedded[imOf(r)], file = fileOf(r);
    if (!(W > 0 && H > 0) || (ic < 0 && !file)) return '';
    const s = px / Math.max(w, h);
    let g = '';
    if (ic >= 0) g += `<image class="yl-copy" href="${uris[ic]}" x="0" y="0" width="${W}" height="${H}" preserveAspectRatio="none"/>`;
    if (file) g += `<image class="yl-full" href="${esc(file)}" x="0" y="0" width="${W}" height="${H}" preserveAspectRatio="none"/>`;
    return `<svg viewBox="${x} ${y} ${w} ${h}" width="${Math.round(w * s)}" height="${Math.round(h * s)}" ` +
           `style="display:block;background:#eee">${g}${extra || ''}</svg>`;
  }
  function box(r, cls, colour, dashed, lw) {
    return `<rect class="${cls}" x="${D.bx1[r]}" y="${D.by1[r]}" width="${D.bx2[r] - D.bx1[r]}" height="${D.by2[r] - D.by1[r]}" ` +
           `fill="none" stroke="${colour}" stroke-width="${lw}"${dashed ? ` stroke-dasharray="${3 * lw} ${2 * lw}"` : ''}/>`;
  }
  function boxes(r, lw) {
    const p = D.partner[r];
    return (p >= 0 ? box(p, 'yl-box-partner', '#56B4E9', true, lw) : '') + box(r, 'yl-box-self', '#D55E00', false, lw);
  }
  // a crop of row m's box (8% context) at most px wide: from the image when the page has it, else the hover crop
  function tile(m, px) {
    const bw = D.bx2[m] - D.bx1[m], bh = D.by2[m] - D.by1[m];
    if (bw > 0 && bh > 0) {
      const pad = 0.08 * Math.max(bw, bh);
      const svg = region(m, D.bx1[m] - pad, D.by1[m] - pad, bw + 2 * pad, bh + 2 * pad, px);
      if (svg) return svg;
    }
    if (D.thumb[m]) return `<img src="${D.thumb[m]}" style="max-width:${px}px;max-height:${px}px">`;
    return `<div style="width:${px}px;height:${Math.round(px * 0.6)}px;background:#eee;color:#555;font-size:11px">no image</div>`;
  }
  function header(extra) {
    const back = S.history.length ? `<button data-act="back" class="yl-back">&larr; back (${S.history.length})</button> ` : '';
    return `<div style="display:flex;gap:6px;align-items:center;margin-bottom:6px">${back}${extra}` +
           `<button data-act="close" class="yl-close" style="margin-left:auto" title="close">&times;</button></div>`;
  }
  function show(i, j, remember) {
    if (remember) {
      if (S.view === 'grid') S.history.push(['grid', -1]);
      else if (S.current >= 0 && S.current !== i) S.history.push(['object', S.current]);
    }
    S.current = i; S.stage = j; S.view = 'object';
    const ring = {};
    for (let s = 0; s < nn.length; s++) { ring['x' + s] = [D['x' + s][i]]; ring['y' + s] = [D['y' + s][i]]; }
    cur.data = ring;
    const p = D.partner[i];
    const W = imw[imOf(i)], H = imh[imOf(i)];
    let h = `<div class="yl-panel" data-index="${i}" data-object-id="${esc(D.object_id[i])}">` +
            header(`<b>${esc(val(label, i))}</b>`);
    const bw = D.bx2[i] - D.bx1[i], bh = D.by2[i] - D.by1[i];
    const c = Math.max(24, CONTEXT * Math.max(bw, bh));
    const zx = Math.max(0, D.bx1[i] - c), zy = Math.max(0, D.by1[i] - c);
    const zw = Math.min(W, D.bx2[i] + c) - zx, zh = Math.min(H, D.by2[i] + c) - zy;
    const lw = Math.max(1, Math.max(zw, zh) / 200);
    const zoom = W > 0 && zw > 0 && zh > 0 ? region(i, zx, zy, zw, zh, 370, boxes(i, lw)) : '';
    if (zoom) {
      h += `<div class="yl-zoom" data-region="${[zx, zy, zw, zh].map((v) => Math.round(v)).join(',')}">${zoom}</div>` +
           `<div style="color:#555;font-size:12px">zoom: the box and ${Math.round(c)} px around it, ` +
           `${fileOf(i) ? 'from the original file (full resolution)' : 'from the embedded copy'}; solid orange: this ` +
           `${esc(val('origin', i) || 'object')}${p >= 0 ? `; dashed blue: its matched ${esc(val('origin', p))} box` : ''}</div>`;
      const whole = region(i, 0, 0, W, H, 200, boxes(i, Math.max(W, H) / 150)).replace('<svg ', '<svg class="yl-image" ');
      h += `<div style="display:flex;gap:8px;align-items:flex-end;margin:6px 0"><div>${whole}</div>` +
           `<button data-act="large" data-index="${i}" class="yl-large-btn">whole image, large</button></div>`;
    } else {
      h += `<div class="yl-noimg" style="color:#555">image not embedded in this page and its file unknown (see the note below the controls)</div>`;
    }
    const sc = D.score ? D.score[i] : NaN;
    const rows = [['image', val('image', i)], ['object id', D.object_id[i]], ['class', val(label, i)],
                  ['origin', val('origin', i)], ['status', val('status', i)], ['score', num(sc, 3)],
                  ['IoU', num(D.iou[i], 3)],
                  ['box', [D.bx1[i], D.by1[i], D.bx2[i], D.by2[i]].map((v) => num(v, 1)).join(', ')],
                  ['partner', p >= 0 ? D.object_id[p] : '']];
    for (const a of attrs) rows.push([a.replace(/^attr_/, ''), val(a, i)]);
    for (const c of ['suspect_suggested', 'suspect_kind']) if (D['h__' + c]) rows.push([c.replace('_', ' '), val(c, i)]);
    for (const key of Object.keys(D)) if (key.startsWith('n__') && !attrs.includes(key.slice(3))) rows.push([key.slice(3), num(D[key][i], 4)]);
    h += '<table class="yl-details" style="border-collapse:collapse;margin:6px 0">';
    for (const [key, v] of rows) {
      if (v === '' || v === null || v === undefined) continue;  // rows that do not apply (a gt box's score) are left out
      h += `<tr data-key="${esc(key)}"><td style="color:#666;padding-right:8px">${esc(key)}</td><td class="yl-val">${esc(v)}</td></tr>`;
    }
    h += '</table>';
    const tabs = stages.length > 1 ? stages.map((s, q) => `<button data-act="stage" data-stage="${q}"${q === j ? ' disabled' : ''}>${esc(s)}</button>`).join(' ') : '';
    h += `<div style="font-weight:bold;margin-top:4px">${k} nearest in ${esc(stages[j])} (embedding space, cosine distance)</div>` +
         (tabs ? `<div style="margin:2px 0">${tabs}</div>` : '') + '<div class="yl-nns" style="display:flex;flex-wrap:wrap;gap:6px">';
    for (let q = 0; q < k; q++) {
      const m = nn[j][i * k + q];
      if (m < 0) continue;
      const d = dist[j] ? dist[j][i * k + q] / 127.5 : NaN;
      h += `<div class="yl-nn" data-act="show" data-index="${m}" title="${esc(D.object_id[m])}" ` +
           `style="cursor:pointer;width:96px;text-align:center;font-size:11px">${tile(m, 88)}` +
           `<div>${esc(val(label, m))}</div><div class="yl-dist" style="color:#666">d ${num(d, 2)}</div></div>`;
    }
    h += '</div></div>';
    drawer().innerHTML = h;
  }
  function back() {
    const prev = S.history.pop();
    if (!prev) return;
    const [view, i] = prev;
    if (view === 'grid') { S.current = i; grid(false); } else show(i, S.stage, false);
  }
  // the whole image over the window, as large as it fits, with the boxes
  function large(i) {
    const W = imw[imOf(i)], H = imh[imOf(i)];
    const el = overlay('large', 'position:fixed;inset:0;background:rgba(0,0,0,.82);z-index:1001;display:flex;' +
                       'align-items:center;justify-content:center;cursor:zoom-out',
                       (e) => { e.currentTarget.style.display = 'none'; });
    const px = Math.min(window.innerWidth * 0.94, window.innerHeight * 0.92 * W / H);
    el.innerHTML = region(i, 0, 0, W, H, px * Math.max(W, H) / W, boxes(i, Math.max(W, H) / 300));
    el.style.display = 'flex';
  }
  // the selection as a grid of crops (FiftyOne's patches view); a click on a crop opens that object
  const GRID_MAX = 400;
  function grid(remember) {
    const idx = [...source.selected.indices].sort((a, b) => a - b);
    if (idx.length === 0) { S.say('Nothing selected: draw a lasso or a box on a panel first (toolbar), then press this again.'); return; }
    if (remember && S.view === 'object' && S.current >= 0) S.history.push(['object', S.current]);
    S.view = 'grid';
    let h = `<div class="yl-grid-view">` + header(`<b>${fmt(idx.length)} selected</b>`) +
            `<button data-act="grid-csv" class="yl-grid-csv">Download these (CSV)</button>` +
            (idx.length > GRID_MAX ? ` <span style="color:#666">first ${GRID_MAX} shown</span>` : '') +
            '<div class="yl-grid" style="display:flex;flex-wrap:wrap;gap:6px;margin-top:6px">';
    for (const m of idx.slice(0, GRID_MAX)) {
      h += `<div class="yl-cell" data-act="show" data-index="${m}" title="${esc(D.object_id[m])}" ` +
           `style="cursor:pointer;width:96px;text-align:center;font-size:11px">${tile(m, 88)}<div>${esc(val(label, m))}</div></div>`;
    }
    h += '</div></div>';
    drawer().innerHTML = h;
  }
  return {show, back, grid, large, close};
}
