"""The explorer's layout and round-two controls in headless Chromium at 1440x900 and 1024x768 (issue 22, items
1-6): the click panel is on screen without scrolling, the page is never wider than the window, filters keep the
view and count live, the zoom reads the original file, neighbours show distances, back, crops grid, isolate,
search by any column, nothing-selected messages; and the one path a FiftyOne user walks, end to end."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from test_figures_explorer_browser import DEEP, SOURCE, deep, shown, tick  # noqa: F401
from test_figures_scatter_browser import CHROMIUM
from yololens.analysis import table as T
from yololens.analysis.synthetic import make_objects_table
from yololens.jobs.plot import plot

pytestmark = pytest.mark.browser

SIZES = [(1440, 900), (1024, 768)]
STAGES = ("emb_L9", "emb_L12", "emb_L15", "emb_L18", "emb_L21")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """120 synthetic objects with five stages (five panels, as `plot --layer all` on a YOLOv8 model)."""
    out = tmp_path_factory.mktemp("explorer_ui")
    make_objects_table(out, 120, n_images=3, seed=4, dims={c: 16 for c in STAGES}, separable=STAGES)
    res = plot(out, [9, 12, 15, 18, 21], "pca", "class_name", hover_thumbnails=30)
    ids = res.projections[0].object_ids
    meta = T.read_meta(out).set_index("object_id", drop=False).reindex(ids).reset_index(drop=True)
    return {"out": out, "html": res.paths["html"], "meta": meta, "coords": res.projections[0].coords}


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH")
    pw = sync_api.sync_playwright().start()
    b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--use-gl=swiftshader",
                                                           "--enable-unsafe-swiftshader"])
    yield b
    b.close()
    pw.stop()


@pytest.fixture(params=SIZES, ids=["1440x900", "1024x768"])
def page(request, run, browser):
    w, h = request.param
    p = browser.new_page(viewport={"width": w, "height": h}, accept_downloads=True)
    errors = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.route("http*://**", lambda route: route.abort())
    p.goto(run["html"].as_uri())
    p.wait_for_function("() => window.Bokeh && Bokeh.documents.length && Bokeh.documents[0].roots().length",
                        timeout=60_000)
    p.wait_for_function(f"() => ({DEEP})('.yl-facet').length > 0", timeout=20_000)
    yield p
    assert errors == []
    p.close()


def panel_xy(page, i: int, j: int = 0) -> tuple[float, float]:
    """Window coordinates of point ``i`` in panel ``j``."""
    return tuple(page.evaluate(f"""() => {{
      const src = {SOURCE};
      const plots = [...Bokeh.documents[0].all_models].filter(m => m.renderers && m.x_range);
      const plot = plots.find(p => p.renderers.some(r => r.glyph && r.glyph.x && r.glyph.x.field === 'x{j}'));
      const pv = [...Bokeh.index.all_views()].find(v => v.model === plot);
      const r = pv.el.getBoundingClientRect();
      return [r.left + pv.frame.x_scale.compute(src.data.x{j}[{i}]), r.top + pv.frame.y_scale.compute(src.data.y{j}[{i}])];
    }}"""))


def visible_point(page, run, j: int) -> int:
    """A point of panel ``j`` that lies inside the window (panels wrap: the last ones may be below the fold)."""
    w, h = page.viewport_size["width"], page.viewport_size["height"]
    for i in range(len(run["meta"])):
        x, y = panel_xy(page, i, j)
        if 0 < x < w - 450 and 0 < y < h:
            return i
    pytest.skip("no point of this panel on screen")


def click(page, i: int, j: int = 0) -> None:
    x, y = panel_xy(page, i, j)
    page.mouse.click(x, y)
    page.wait_for_function(f"() => ({DEEP})('.yl-panel').some(e => e.dataset.index === '{i}')", timeout=10_000)


def ranges(page):
    return page.evaluate("() => [...Bokeh.documents[0].all_models].filter(m => m.renderers && m.x_range)"
                         ".map(p => [p.x_range.start, p.x_range.end, p.y_range.start, p.y_range.end])")


def message(page) -> str:
    return " ".join(deep(page, ".yl-msg"))


def test_page_fits_the_window_and_the_click_panel_is_on_screen(run, page):
    w, h = page.viewport_size["width"], page.viewport_size["height"]
    assert page.evaluate("document.documentElement.scrollWidth") <= w
    rights = dict(page.evaluate("() => [...Bokeh.index.all_views()].filter(v => v.model.x_range && v.model.renderers)"
                                ".map(v => [v.model.id, v.el.getBoundingClientRect().right])"))
    assert len(rights) == 5 and max(rights.values()) <= w
    i = visible_point(page, run, 0)
    click(page, i)
    box = page.evaluate(f"() => ({DEEP})('.yl-panel')[0].getBoundingClientRect().toJSON()")
    assert page.evaluate("window.scrollY") == 0 and 0 <= box["left"] and box["right"] <= w + 1 and box["top"] < h / 4
    # the object's zoom, image and neighbours are in the window without scrolling
    for sel in (".yl-zoom", "svg.yl-image"):
        r = page.evaluate(f"() => ({DEEP})('{sel}')[0].getBoundingClientRect().toJSON()")
        assert r["bottom"] <= h and r["right"] <= w + 1, sel
    assert page.evaluate("document.documentElement.scrollWidth") <= w  # the page made room, still no sideways scroll
    page.locator(".yl-close").click()
    assert page.evaluate("document.documentElement.scrollWidth") <= w


def test_filters_keep_the_view_count_live_and_clear_the_ring(run, page):
    m = run["meta"]
    i = visible_point(page, run, 0)
    click(page, i)
    before = ranges(page)
    other = "FP" if m.status[i] != "FP" else "FN"
    tick(page, "status", other)  # the clicked object is filtered out
    tick(page, "status", "TP" if other != "TP" and m.status[i] != "TP" else "FN")
    want_status = {other, "TP" if other != "TP" and m.status[i] != "TP" else "FN"}
    want = m.status.isin(want_status).to_numpy()
    assert m.status[i] not in want_status and (shown(page) == want).all()
    assert ranges(page) == before  # no re-fit
    ring = page.evaluate("() => [...Bokeh.documents[0].all_models].find(m => m.data && 'x0' in m.data && "
                         "!m.data.object_id).data.x0.length")
    assert ring == 0
    # live legend counts: each class's count is its points among the statuses ticked
    legend = dict(page.evaluate(f"""() => ({DEEP})(".yl-facet[data-col='class_name'] label")
        .map(l => [l.dataset.value, +l.querySelector('.yl-n').textContent])"""))
    assert legend == {c: int(((m.class_name == c) & want).sum()) for c in legend}
    # faceted: an unticked status shows how many ticking it would add
    counts = dict(page.evaluate(f"""() => ({DEEP})(".yl-facet[data-col='status'] label")
        .map(l => [l.dataset.value, +l.querySelector('.yl-n').textContent])"""))
    assert counts == {s: int((m.status == s).sum()) for s in counts}
    assert deep(page, ".yl-shown") == [str(int(want.sum()))]


def test_object_zoom_neighbours_with_distances_and_back(run, page):
    from sklearn.metrics.pairwise import cosine_distances

    m = run["meta"]
    i = visible_point(page, run, 0)
    click(page, i)
    # the zoom reads the original file (full resolution) over the embedded copy, cropped to the box + context
    href = deep(page, ".yl-zoom image.yl-full", "e => e.getAttribute('href')")[0]
    assert href.startswith("file://") and href.endswith(m.image[i])
    size = page.evaluate("(u) => new Promise(r => { const im = new Image(); im.onload = () => r([im.naturalWidth, "
                         "im.naturalHeight]); im.onerror = () => r(null); im.src = u; })", href)
    assert size == [int(m.image_w[i]), int(m.image_h[i])]
    x, y, w_, h_ = map(int, deep(page, ".yl-zoom", "e => e.dataset.region")[0].split(","))
    assert x <= m.x1[i] and y <= m.y1[i] and x + w_ >= int(m.x2[i]) and y + h_ >= int(m.y2[i])
    assert w_ < m.image_w[i] or h_ < m.image_h[i]  # a zoom, not the whole image
    # neighbours list their cosine distance (quantised to 1/127.5)
    X = T.read_embeddings(run["out"], "emb_L9")
    row_of = {k: r for r, k in enumerate(T.read_meta(run["out"], ["object_id"]).object_id)}
    X = X[[row_of[k] for k in m.object_id]]
    got = [int(v) for v in deep(page, ".yl-nn", "e => e.dataset.index")]
    dist = [float(v.split()[1]) for v in deep(page, ".yl-dist")]
    assert len(got) == 10 and dist == pytest.approx(cosine_distances(X[[i]], X[got])[0], abs=0.01)
    assert dist == sorted(dist)
    # walk to a neighbour, then back
    page.locator(".yl-nn").nth(2).click()
    page.wait_for_function(f"() => ({DEEP})('.yl-panel').some(e => e.dataset.index === '{got[2]}')")
    page.locator(".yl-back").click()
    page.wait_for_function(f"() => ({DEEP})('.yl-panel').some(e => e.dataset.index === '{i}')")
    # the whole image, large, over the window
    page.locator(".yl-large-btn").click()
    r = page.evaluate("() => document.querySelector('.yl-large svg').getBoundingClientRect().toJSON()")
    assert r["width"] > 0.8 * page.viewport_size["width"] or r["height"] > 0.8 * page.viewport_size["height"]


def test_gt_box_has_no_score(run, page):
    m = run["meta"]
    gts = [r for r in np.flatnonzero((m.origin == "gt").to_numpy())]
    i = next(r for r in gts if 0 < panel_xy(page, r)[0] < page.viewport_size["width"] - 450
             and 0 < panel_xy(page, r)[1] < page.viewport_size["height"])
    click(page, i)
    keys = deep(page, ".yl-details tr", "e => e.dataset.key")
    assert "score" not in keys and "class" in keys
    assert "NaN" not in " ".join(deep(page, ".yl-panel"))


def test_selection_grid_isolate_search_and_nothing_selected(run, page):
    m = run["meta"]
    page.locator("button:has-text('Download selection')").click()
    assert "Nothing selected" in message(page)
    page.locator("button:has-text('as crops')").click()
    assert "Nothing selected" in message(page)
    sel = [3, 8, 20, 41]
    page.evaluate(f"() => {{ {SOURCE}.selected.indices = {sel}; }}")
    page.locator("button:has-text('as crops')").click()
    cells = [int(v) for v in deep(page, ".yl-cell", "e => e.dataset.index")]
    assert cells == sel and deep(page, ".yl-cell svg image.yl-full", "e => 1") == [1] * 4
    page.locator("button:has-text('Isolate selection')").click()
    assert np.flatnonzero(shown(page)).tolist() == sel
    page.locator("button:has-text('Show all points')").click()
    assert shown(page).all()
    box = page.locator(".yl-search input")
    box.fill("score>0.5 weather:rainy")
    page.wait_for_timeout(300)
    want = ((m.score > 0.5) & (m.attr_weather == "rainy")).to_numpy()
    assert 0 < want.sum() < len(m) and (shown(page) == want).all()
    box.fill("truck")
    page.wait_for_timeout(300)
    assert (shown(page) == (m.class_name == "truck").to_numpy()).all()


def test_fiftyone_path_click_inspect_walk_filter_select_grid_export(run, page):
    """click -> inspect at full resolution -> walk neighbours -> filter two statuses and one class with live
    counts -> select a cluster (box select) -> its crops as a grid -> export it."""
    m = run["meta"]
    i = visible_point(page, run, 0)
    click(page, i)
    assert deep(page, ".yl-zoom image.yl-full", "e => e.getAttribute('href').slice(0, 7)") == ["file://"]
    first = int(deep(page, ".yl-nn", "e => e.dataset.index")[0])
    page.locator(".yl-nn").first.click()
    page.wait_for_function(f"() => ({DEEP})('.yl-panel').some(e => e.dataset.index === '{first}')")
    page.locator(".yl-close").click()
    cls = m.class_name[first]
    tick(page, "status", "TP")
    tick(page, "status", "FP")
    tick(page, "class_name", cls)  # the legend: untick one class to hide it
    want = (m.status.isin(["TP", "FP"]) & (m.class_name != cls)).to_numpy()
    assert (shown(page) == want).all() and deep(page, ".yl-shown") == [f"{int(want.sum()):,}"]
    status_counts = dict(page.evaluate(f"""() => ({DEEP})(".yl-facet[data-col='status'] label")
        .map(l => [l.dataset.value, +l.querySelector('.yl-n').textContent])"""))
    assert status_counts["TP"] == int(((m.status == "TP") & (m.class_name != cls)).sum())
    # box-select a region of panel 0 around a shown point (the toolbar's box select, then a drag)
    page.locator(".bk-tool-icon-box-select").first.click()
    j0 = int(np.flatnonzero(want)[0])
    x, y = panel_xy(page, j0)
    page.mouse.move(x - 40, y - 40)
    page.mouse.down()
    page.mouse.move(x + 40, y + 40, steps=5)
    page.mouse.up()
    page.wait_for_timeout(300)
    selected = sorted(page.evaluate(f"() => [...{SOURCE}.selected.indices]"))
    assert j0 in selected and all(want[s] for s in selected)
    page.locator("button:has-text('as crops')").click()
    assert [int(v) for v in deep(page, ".yl-cell", "e => e.dataset.index")] == selected
    with page.expect_download() as dl:
        page.locator(".yl-grid-csv").click()
    rows = list(csv.DictReader(open(dl.value.path())))
    assert [r["object_id"] for r in rows] == [m.object_id[s] for s in selected]
    assert {r["status"] for r in rows} <= {"TP", "FP"} and cls not in {r["class_name"] for r in rows}


def test_a_facet_the_user_opens_stays_open(run, page):
    is_open = f"""() => ({DEEP})(".yl-facet[data-col='size_bin']")[0].open"""
    assert page.evaluate(is_open) is False  # the later facets start closed
    page.locator(".yl-facet[data-col='size_bin'] summary").click()
    tick(page, "status", "FP")
    assert page.evaluate(is_open) is True
    labels = page.evaluate(f"""() => ({DEEP})(".yl-facet[data-col='size_bin'] label").map(l => l.dataset.value)""")
    assert set(labels) == set(run["meta"].size_bin.astype(str))
