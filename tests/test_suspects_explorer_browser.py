"""The explorer's "Suspects" panel in headless Chromium: the list is ordered by score, a click on entry 1 focuses
that object (selected, centred, its details with its id and suggested label), "suspects only" hides the others,
"colour by suspect score" recolours, and hostile labels show as text. Python side: tests/test_suspects_explorer.py."""

from __future__ import annotations

import pytest

from test_figures_scatter_browser import page_for  # noqa: F401  (module fixture: headless chromium, offline)
from test_suspects_explorer import HOSTILE_LABEL, HOSTILE_SUGGESTION, expected_order, suspect_run
from yololens.jobs.plot import plot

pytestmark = pytest.mark.browser

SOURCE = "[...Bokeh.documents[0].all_models].find(m => m.data && m.data.object_id)"
FILTER = "[...Bokeh.documents[0].all_models].find(m => m.booleans !== undefined)"
PLOT = "[...Bokeh.documents[0].all_models].find(m => m.renderers && m.x_range)"
DEEP = """(sel) => { const out = []; const walk = (n) => { if (n.shadowRoot) walk(n.shadowRoot);
  for (const c of n.children || []) walk(c); if (n.matches && n.matches(sel)) out.push(n); };
  walk(document.body); return out; }"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("suspects_browser")
    ranked = suspect_run(out)
    res = plot(out, 15, "pca", "class_name", hover_thumbnails=10)
    return {"html": res.paths["html"], "ranked": ranked, "ids": res.projections[0].object_ids.tolist()}


def deep(page, sel: str, js: str):
    return page.evaluate(f"() => ({DEEP})({sel!r}).map({js})")


def test_ranked_list_focus_and_suspects_only(run, page_for):  # noqa: F811
    page = page_for(run["html"])
    page.wait_for_function(f"() => ({DEEP})('.yl-suspect').length > 0", timeout=30_000)
    ranked, ids = run["ranked"], run["ids"]
    want = expected_order(ranked, ids)

    # the list: every scored object drawn here, by score (NaN last), entry 1 shows the labels as text
    listed = deep(page, ".yl-suspect", "(e) => e.title")
    assert listed == want and len(listed) == len(ranked) == 33  # 32 labels, 1 missing label
    first = deep(page, ".yl-suspect", "(e) => e.querySelector('.yl-suspect-labels').textContent")[0]
    assert first == f"{HOSTILE_LABEL} → {HOSTILE_SUGGESTION}"
    assert deep(page, ".yl-suspect", "(e) => e.firstChild.textContent")[:3] == ["1", "2", "3"]
    assert "L15" in deep(page, ".yl-suspects-note", "(e) => e.textContent")[0]

    # hover entry 1's point: the tooltip shows the hostile label as text too; it ran nowhere
    i = ids.index(want[0])
    x, y = page.evaluate(f"""() => {{ const p = {PLOT}, d = {SOURCE}.data;
        const v = [...Bokeh.index.all_views()].find((w) => w.model === p), r = v.el.getBoundingClientRect();
        return [r.left + v.frame.x_scale.compute(d.x0[{i}]), r.top + v.frame.y_scale.compute(d.y0[{i}])]; }}""")
    page.mouse.move(x - 1, y)
    page.mouse.move(x, y)
    page.wait_for_timeout(400)
    assert any(HOSTILE_LABEL in t for t in deep(page, ".bk-tooltip-content", "(e) => e.textContent"))
    assert page.evaluate(f"() => ({DEEP})('img[src=\"x\"], script:not([type])').filter((e) => "
                         "e.textContent.includes('__pwned') || e.getAttribute('src') === 'x').length") == 0
    assert page.evaluate("() => window.__pwned") is None

    # click entry 1: that object is selected, centred and open in the drawer with its suggested label
    page.evaluate(f"() => ({DEEP})('.yl-suspect')[0].click()")
    page.wait_for_selector(".yl-drawer .yl-panel")
    assert page.evaluate(f"() => Array.from({SOURCE}.selected.indices)") == [i]
    assert page.evaluate("() => document.querySelector('.yl-drawer .yl-panel').dataset.objectId") == want[0]
    details = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('.yl-drawer .yl-details tr')]
                                 .map((r) => [r.dataset.key, r.querySelector('.yl-val').textContent]))""")
    assert details["object id"] == want[0] and details["suspect suggested"] == HOSTILE_SUGGESTION
    assert details["class"] == HOSTILE_LABEL
    centre = page.evaluate(f"""() => {{ const p = {PLOT}, d = {SOURCE}.data;
        return [(p.x_range.start + p.x_range.end) / 2 - d.x0[{i}], (p.y_range.start + p.y_range.end) / 2 - d.y0[{i}]]; }}""")
    assert max(abs(v) for v in centre) < 1e-4
    assert page.evaluate("() => window.__pwned") is None

    # suspects only: exactly score >= 0.5 and not (margin >= 0) stay drawn
    page.evaluate(f"() => ({DEEP})('.yl-suspects-only')[0].click()")
    page.wait_for_timeout(200)
    shown = page.evaluate(f"() => Array.from({FILTER}.booleans)")
    s, m = ranked.score.to_numpy(), ranked.margin.to_numpy()
    suspects = set(ranked.object_id[(s >= 0.5) & ~(m >= 0)])
    assert {ids[j] for j, on in enumerate(shown) if on} == suspects and 0 < len(suspects) < len(ranked)
    assert deep(page, ".yl-shown", "(e) => e.textContent") == [str(len(suspects))]
    assert deep(page, ".yl-only", "(e) => e.textContent") == ["(suspects only)"]
    page.evaluate(f"() => ({DEEP})('.yl-suspects-only')[0].click()")  # off again: every point back
    page.wait_for_timeout(200)
    assert all(page.evaluate(f"() => Array.from({FILTER}.booleans)"))

    # colour by suspect score in one click
    page.evaluate(f"() => ({DEEP})('.yl-suspects-colour')[0].click()")
    page.wait_for_timeout(200)
    field = page.evaluate("() => [...Bokeh.documents[0].all_models].find(m => m.glyph && "
                          "m.data_source.data.object_id).glyph.fill_color.field")
    assert field == "c__suspect_score"
    assert page.errors == []
