// The one entry point: every widget, panel and the document's "ready" event call this body. State lives in
// window.__yololens[uid] (a page can hold several explorers: the report).
function makeExplorer() {
  const S = {hidden: new Set(), picks: {}, isolated: null, current: -1, stage: 0, view: 'none', history: [], say};
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
  function on(obj) {
    if (obj && typeof obj.roots === 'function') { F.apply(); return; }  // the document is ready
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
  return {on, show: (i) => P.show(i, S.stage, true), toggle: F.toggle, apply: F.apply, state: S};
}
const registry = (window.__yololens = window.__yololens || {});
if (!registry[uid]) registry[uid] = makeExplorer();
registry[uid].on(cb_obj);
