// The one entry point: every widget, panel and the document's "ready" event call this body. State lives in
// window.__yololens[uid] (a page can hold several explorers: the report). Hooks for further parts (suspects.js):
// addPanel(id, title, render) a side panel, focus(i) one object, filter(pred, key) a named extra filter.
function makeExplorer() {
  const S = {hidden: new Set(), picks: {}, isolated: null, current: -1, stage: 0, view: 'none', history: [], say,
             preds: {}, panels: []};
  const F = makeFilters(S);
  const P = makePanel(S);
  function isolate() {
    if (S.isolated) { S.isolated = null; buttons.isolate.label = 'Isolate selection'; }
    else {
      const idx = source.selected.indices;
      if (idx.length === 0) { say('Nothing selected: draw a lasso or a box on a panel first (toolbar), then isolate.'); return; }
      S.isolated = new Set(idx);
      buttons.isolate.label = 'Show all points';
    }
    say('');
    F.apply();
  }
  // a click on a panel: the nearest drawn point within 12 px opens in the drawer
  function tap(ev) {
    const j = Math.max(0, figs.indexOf(ev.origin));
    const fig = figs[j];
    const xs = D['x' + j], ys = D['y' + j];
    const pw = fig.inner_width / (fig.x_range.end - fig.x_range.start);
    const ph = fig.inner_height / (fig.y_range.end - fig.y_range.start);
    const vis = filt.booleans;
    let best = -1, bd = 144;
    for (let i = 0; i < xs.length; i++) {
      if (vis && !vis[i]) continue;
      const dx = (xs[i] - ev.x) * pw, dy = (ys[i] - ev.y) * ph;
      const dd = dx * dx + dy * dy;
      if (dd < bd) { bd = dd; best = i; }
    }
    if (best >= 0) P.show(best, j, true);
  }
  // point i selected, centred in every panel (same zoom), ringed, and open in the drawer
  function focus(i) {
    figs.forEach((f, j) => {
      for (const [r, v] of [[f.x_range, D['x' + j][i]], [f.y_range, D['y' + j][i]]]) {
        const half = (r.end - r.start) / 2;
        r.setv({start: v - half, end: v + half});
      }
    });
    source.selected.indices = [i];
    P.show(i, S.stage, true);
  }
  // only points where pred(i) holds are drawn, with every other filter (pred null: the key's filter goes)
  function filter(pred, key = 'default') {
    if (pred) S.preds[key] = pred; else delete S.preds[key];
    F.apply();
  }
  // a collapsible section in the panels Div: render(body, S) fills body (a DOM element; build it with
  // textContent, never innerHTML with data), once it exists, and again whenever the panel calls it
  function addPanel(id, title, render) {
    S.panels.push({id, title, render});
    mount();
  }
  function mount() {
    const host = inView(panels, '.yl-panels');
    if (!host) return;  // before the page is drawn: the ready event mounts them
    for (const p of S.panels) {
      if (p.el && p.el.isConnected) continue;
      const box = document.createElement('details');
      box.open = true;
      box.dataset.panel = p.id;
      box.className = 'yl-side-panel';
      const head = document.createElement('summary');
      head.style.cssText = 'cursor:pointer;font-weight:bold;margin:4px 0';
      head.textContent = p.title;
      const body = document.createElement('div');
      box.append(head, body);
      host.append(box);
      p.el = box;
      p.render(body, S);
    }
  }
  function on(obj) {
    if (obj && typeof obj.roots === 'function') { F.apply(); mount(); return; }  // the document is ready
    const ev = obj && obj.event_name;
    if (ev === 'tap') tap(obj);
    else if (ev === 'button_click') {
      const b = obj.origin;
      if (b === buttons.download) download();
      else if (b === buttons.copy) copyImages();
      else if (b === buttons.grid) { say(''); P.grid(true); }
      else if (b === buttons.isolate) isolate();
    } else if (obj === colour) recolour(S, F, colour.value);
    else if (obj === search) F.apply();
    else if (obj === source.selected) {
      count.text = obj.indices.length.toLocaleString() + ' selected';
      if (obj.indices.length) say('');
    }
  }
  const X = {on, show: (i) => P.show(i, S.stage, true), toggle: F.toggle, apply: F.apply, state: S, focus, filter,
             addPanel};
  makeSuspects(X);
  return X;
}
const registry = (window.__yololens = window.__yololens || {});
if (!registry[uid]) registry[uid] = makeExplorer();
registry[uid].on(cb_obj);
