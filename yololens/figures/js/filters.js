// Which points are drawn: the legend (the colour column: untick to hide), the facets (tick values to keep only
// those, several per column), the search box and "isolate selection". Counts are live and faceted: each value's
// count is the points that every *other* filter lets through, so a ticked value shows how many are drawn and an
// unticked one how many ticking it would add. The axes never change here (fixed ranges: points do not jump).

// the search box: words match any text column; col:text, col=v, col!=v, col>v, col<v, col>=v, col<=v a column
function parseSearch(q) {
  const preds = [];
  for (const term of q.trim().toLowerCase().split(/\s+/).filter(Boolean)) {
    const m = term.match(/^([a-z_][\w]*)(:|>=|<=|!=|=|>|<)(.*)$/);
    const col = m ? (names[m[1]] ? m[1] : names['attr_' + m[1]] ? 'attr_' + m[1] : m[1]) : null;
    const arr = m ? numericColumn(col) : null;
    if (m && arr && m[3] !== '' && !Number.isNaN(Number(m[3]))) {
      const v = Number(m[3]), op = m[2];
      const cmp = {':': (a) => a === v, '=': (a) => a === v, '!=': (a) => a !== v, '>': (a) => a > v,
                   '<': (a) => a < v, '>=': (a) => a >= v, '<=': (a) => a <= v}[op];
      preds.push((i) => !Number.isNaN(arr[i]) && cmp(arr[i]));
    } else if (m && names[col] && D['h__' + col]) {
      const low = names[col].map((s) => s.toLowerCase()), codes = D['h__' + col], v = m[3], op = m[2];
      const ok = low.map((s) => (op === ':' ? s.includes(v) : op === '!=' ? s !== v : op === '=' ? s === v : false));
      preds.push((i) => ok[codes[i]]);
    } else {  // a plain word: the object id or any text column holds it
      const hits = Object.keys(names).filter((c) => D['h__' + c]).map((c) => [D['h__' + c], names[c].map((s) => s.toLowerCase().includes(term))]);
      preds.push((i) => String(D.object_id[i]).toLowerCase().includes(term) || hits.some(([codes, ok]) => ok[codes[i]]));
    }
  }
  return preds;
}

function makeFilters(S) {
  const n = D.object_id.length;
  // every facet: its codes and value labels; facet 0 is the legend (the colour column)
  function facetList() {
    const out = [{col: page.colour, legend: true, codes: D['c__' + page.colour], values: catnames[page.colour],
                  colours: palettes[page.colour]}];
    for (const c of facet_cols) {
      if (c === page.colour) continue;
      out.push({col: c, legend: false, codes: D['h__' + c], values: names[c].map((v) => v === '' ? '(none)' : v)});
    }
    return out;
  }
  function keeps(f, code) {
    if (f.legend) return !S.hidden.has(code);
    const p = S.picks[f.col];
    return !p || p.size === 0 || p.has(code);
  }
  function apply() {
    const fs = facetList();
    S.totals = S.totals || {};
    for (const f of fs) {
      if (S.totals[f.col]) continue;
      const t = (S.totals[f.col] = new Array(f.values.length).fill(0));
      for (let i = 0; i < n; i++) t[f.codes[i]]++;
    }
    const q = String(search.value_input ?? search.value ?? '');
    const preds = [...parseSearch(q), ...Object.values(S.preds)];  // S.preds: explorer.filter(pred, key)
    const counts = fs.map((f) => new Array(f.values.length).fill(0));
    const mask = new Array(n);
    let shown = 0;
    for (let i = 0; i < n; i++) {
      let global = !S.isolated || S.isolated.has(i);
      for (let p = 0; global && p < preds.length; p++) global = preds[p](i);
      if (!global) { mask[i] = false; continue; }
      let fails = 0, last = -1;
      for (let f = 0; f < fs.length && fails < 2; f++) if (!keeps(fs[f], fs[f].codes[i])) { fails++; last = f; }
      mask[i] = fails === 0;
      if (fails === 0) { shown++; for (let f = 0; f < fs.length; f++) counts[f][fs[f].codes[i]]++; }
      else if (fails === 1) counts[last][fs[last].codes[i]]++;
    }
    filt.booleans = mask;
    if (S.current >= 0 && !mask[S.current]) {  // the ring must not stay on a point that is no longer drawn
      const empty = {};
      for (const key of Object.keys(cur.data)) empty[key] = [];
      cur.data = empty;
    }
    status.text = `<span class="yl-shown">${fmt(shown)}</span> of ${fmt(n)} points shown` +
                  (S.isolated ? ` <span style="color:#a40">(isolated: ${fmt(S.isolated.size)} selected)</span>` : '') +
                  Object.keys(S.preds).map((key) => ` <span class="yl-only" style="color:#a40">(${esc(key)} only)</span>`).join('');
    S.shown = shown;
    renderFacets(fs, counts);
  }
  // the facets are plain HTML inside the facets Div, updated in place (a bokeh property change would make bokeh
  // lay out and repaint every panel)
  function renderFacets(fs, counts) {
    const el = inView(facets, '.yl-facets');
    if (!el) return;
    let h = '';
    fs.forEach((f, fi) => {
      const title = f.col.replace(/^attr_/, '');
      const picked = S.picks[f.col];
      h += `<details class="yl-facet" data-col="${esc(f.col)}"${f.legend || (picked && picked.size) || fi < 4 ? ' open' : ''}>` +
           `<summary><b>${esc(title)}</b> <span style="color:#666">${f.legend ? '(colour; untick to hide)' : '(tick to keep only)'}</span></summary>`;
      f.values.forEach((v, code) => {
        if (!S.totals[f.col][code]) return;  // a value no point has (the "missing" slot of a complete column)
        const on = f.legend ? !S.hidden.has(code) : !!(picked && picked.has(code));
        const sw = f.legend ? `<span class="yl-sw" style="background:${esc(f.colours[code] ?? '#888')}"></span>` : '';
        h += `<label class="yl-fv" data-value="${esc(v)}"><input type="checkbox" data-act="facet" data-col="${esc(f.col)}" ` +
             `data-code="${code}"${on ? ' checked' : ''}>${sw}<span class="yl-fl">${esc(v)}</span> ` +
             `(<span class="yl-n">${fmt(counts[fi][code])}</span>)</label>`;
      });
      h += '</details>';
    });
    if (el.__yl !== uid) {  // one listener for every checkbox, attached once
      el.__yl = uid;
      el.addEventListener('change', (e) => {
        const t = e.target;
        if (!t || t.dataset.act !== 'facet') return;
        toggle(t.dataset.col, +t.dataset.code, t.checked);
      });
    }
    // a section the user opened or closed stays so
    const was = new Map([...el.querySelectorAll('details')].map((d) => [d.dataset.col, d.open]));
    el.innerHTML = h;
    for (const d of el.querySelectorAll('details')) if (was.has(d.dataset.col)) d.open = was.get(d.dataset.col);
  }
  function toggle(col, code, on) {
    if (col === page.colour) { if (on) S.hidden.delete(code); else S.hidden.add(code); }
    else {
      const p = (S.picks[col] = S.picks[col] || new Set());
      if (on) p.add(code); else p.delete(code);
    }
    apply();
  }
  return {apply, toggle};
}
