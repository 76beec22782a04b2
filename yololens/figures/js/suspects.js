// The "Suspects" side panel (yololens suspects; the page carries suspect_score, suspect_margin, suspect_kind and
// suspect_suggested and the `suspects` argument {stage, cap, min_score, note}): the objects ranked by
// suspect_score (highest first, NaN last, ties by row: yololens/figures/suspects_panel.py ranks alike), the first
// `cap` listed as "rank · crop · given → suggested · score" (a click focuses the object), a "suspects only"
// filter and "colour by suspect score". Built with textContent: labels are data.

function makeSuspects(X) {
  const score = D.n__suspect_score, margin = D.n__suspect_margin;
  if (!suspects || !suspects.cap || !score || !D.h__suspect_kind) return null;
  const isSuspect = (i) => score[i] >= suspects.min_score && !(margin && margin[i] >= 0);
  const ranked = [];
  for (let i = 0; i < score.length; i++) if (val('suspect_kind', i) !== '') ranked.push(i);
  const key = (i) => (Number.isNaN(score[i]) ? Infinity : -score[i]);
  ranked.sort((a, b) => (key(a) - key(b)) || (a - b));
  const listed = ranked.slice(0, suspects.cap);
  let flagged = 0;
  for (const i of ranked) if (isSuspect(i)) flagged++;

  const el = (tag, text, css) => {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (css) e.style.cssText = css;
    return e;
  };
  function entry(i, rank) {
    const li = el('li', undefined, 'display:flex;gap:4px;align-items:center;cursor:pointer;padding:2px 0;' +
                  'border-bottom:1px solid #eee');
    li.className = 'yl-suspect';
    li.dataset.index = String(i);
    li.title = String(D.object_id[i]);
    li.append(el('span', String(rank), 'color:#666;min-width:22px;text-align:right'));
    if (D.thumb[i]) {
      const img = el('img', undefined, 'width:32px;height:32px;object-fit:contain;border:1px solid #ccc');
      img.src = D.thumb[i];  // a data URI the page was written with
      img.alt = '';
      li.append(img);
    }
    const given = val('suspect_kind', i) === 'missing' ? '(no label)' : val(label, i);
    const names = el('span', undefined, 'flex:1;overflow-wrap:anywhere');
    names.append(el('span', given, 'color:#222'), el('span', ' → ', 'color:#999'),
                 el('b', val('suspect_suggested', i) || '?', 'color:#a40'));
    names.className = 'yl-suspect-labels';
    li.append(names, el('span', num(score[i], 2), 'color:#555'));
    li.addEventListener('click', () => X.focus(i));
    return li;
  }
  function render(body) {
    body.replaceChildren();
    const note = el('div', suspects.note, 'color:#555;font-size:11px;margin-bottom:4px');
    note.className = 'yl-suspects-note';
    const only = el('label', undefined, 'display:block;cursor:pointer');
    const box = el('input');
    box.type = 'checkbox';
    box.className = 'yl-suspects-only';
    box.checked = !!X.state.preds.suspects;
    box.addEventListener('change', () => X.filter(box.checked ? isSuspect : null, 'suspects'));
    only.append(box, el('span', ` suspects only (${fmt(flagged)})`));
    const paint = el('button', 'colour by suspect score', 'margin:2px 0');
    paint.className = 'yl-suspects-colour';
    paint.addEventListener('click', () => { colour.value = 'suspect_score'; });  // the Select recolours
    const list = el('ol', undefined, 'list-style:none;margin:4px 0;padding:0;max-height:320px;overflow:auto');
    list.className = 'yl-suspects';
    listed.forEach((i, r) => list.append(entry(i, r + 1)));
    body.append(note, only, paint, list);
  }
  X.addPanel('suspects', `Suspects (top ${fmt(listed.length)} of ${fmt(ranked.length)})`, render);
  return {ranked, listed, isSuspect};
}
