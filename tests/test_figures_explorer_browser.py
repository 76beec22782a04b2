"""The explorer in headless Chromium, one test per interaction, each clicking and reading the DOM back:
click a point (image, boxes, details), nearest neighbours (embedding space, click moves), legend hides a
class, filters and search, selection CSV, copy image list, hover hides attributes that do not apply.
The layout at two window sizes and the round-two controls: tests/test_figures_explorer_ui.py."""

from __future__ import annotations

import csv

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from test_figures_scatter_browser import page_for  # noqa: F401  (module fixture: headless chromium, offline)
from yololens.analysis import table as T
from yololens.analysis.synthetic import make_objects_table
from yololens.jobs.plot import plot

pytestmark = pytest.mark.browser

SOURCE = "[...Bokeh.documents[0].all_models].find(m => m.data && m.data.object_id)"
FILTER = "[...Bokeh.documents[0].all_models].find(m => m.booleans !== undefined)"
N = 150
# walks open shadow roots (bokeh renders widgets and Divs inside them)
DEEP = """(sel) => { const out = []; const walk = (n) => { if (n.shadowRoot) walk(n.shadowRoot);
  for (const c of n.children || []) walk(c); if (n.matches && n.matches(sel)) out.push(n); };
  walk(document.body); return out; }"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """150 synthetic objects with one matched gt/pred pair (``gt_id`` "g1", IoU 0.8) and, on the first
    object, an attribute that does not apply (``attr_weather`` null); the HTML and its (reordered) meta."""
    out = tmp_path_factory.mktemp("explorer")
    make_objects_table(out, N, n_images=3, seed=2)
    t = pq.read_table(out / "objects.parquet")
    df = t.to_pandas()
    gt = df.index[(df.origin == "gt") & (df.status == "TP") & (df.image == df.image.iloc[0])][0]
    pr = df.index[(df.origin == "pred") & (df.status == "TP") & (df.image == df.image.iloc[0])][0]
    gt_id = [None] * N
    gt_id[gt] = gt_id[pr] = "g1"
    iou = [None] * N
    iou[gt] = iou[pr] = 0.8
    weather = df.attr_weather.tolist()
    weather[0] = None
    for name, arr in (("gt_id", pa.array(gt_id, pa.string())), ("match_iou", pa.array(iou, pa.float32())),
                      ("attr_weather", pa.array(weather, pa.string()))):
        t = t.set_column(t.schema.get_field_index(name), name, arr)
    pq.write_table(t, out / "objects.parquet")
    res = plot(out, 15, "pca", "class_name", hover_thumbnails=40)
    ids = res.projections[0].object_ids
    meta = T.read_meta(out).set_index("object_id", drop=False).reindex(ids).reset_index(drop=True)
    return {"out": out, "html": res.paths["html"], "meta": meta, "coords": res.projections[0].coords,
            "pair": (ids.tolist().index(df.object_id[pr]), ids.tolist().index(df.object_id[gt]))}


@pytest.fixture
def page(run, page_for):  # noqa: F811
    p = page_for(run["html"])
    p.wait_for_timeout(300)
    yield p
    assert p.errors == []
    p.close()


def screen_xy(page, i: int) -> tuple[float, float]:
    pos = page.evaluate(f"""() => {{
      const src = {SOURCE};
      const plot = [...Bokeh.documents[0].all_models].find(m => m.renderers && m.x_range);
      const pv = [...Bokeh.index.all_views()].find(v => v.model === plot);
      const r = pv.el.getBoundingClientRect();
      return [r.left + pv.frame.x_scale.compute(src.data.x0[{i}]), r.top + pv.frame.y_scale.compute(src.data.y0[{i}])];
    }}""")
    return pos[0], pos[1]


def click_point(page, i: int) -> None:
    x, y = screen_xy(page, i)
    page.mouse.click(x, y)
    page.wait_for_function(f"() => ({DEEP})('.yl-panel').some(e => e.dataset.index === '{i}')", timeout=10_000)


def deep(page, sel: str, js: str = "e => e.textContent"):
    return page.evaluate(f"(sel) => ({DEEP})(sel).map({js})", sel)


def shown(page) -> np.ndarray:
    return np.asarray(page.evaluate(f"() => Array.from({FILTER}.booleans, Boolean)"))


def test_click_shows_image_boxes_and_details(run, page):
    pred, gt = run["pair"]
    m = run["meta"]
    click_point(page, pred)
    rect = deep(page, "svg.yl-image .yl-box-self", "e => ['x','y','width','height'].map(a => +e.getAttribute(a))")[0]
    assert rect == pytest.approx([m.x1[pred], m.y1[pred], m.x2[pred] - m.x1[pred], m.y2[pred] - m.y1[pred]], abs=1e-3)
    partner = deep(page, "svg.yl-image .yl-box-partner", "e => [+e.getAttribute('x'), e.getAttribute('stroke-dasharray')]")
    assert len(partner) == 1 and partner[0][0] == pytest.approx(m.x1[gt], abs=1e-3) and partner[0][1]
    href = deep(page, "svg.yl-image image.yl-copy", "e => e.getAttribute('href').slice(0, 23)")
    assert href == ["data:image/jpeg;base64,"]
    rows = dict(deep(page, ".yl-details tr", "e => [e.dataset.key, e.querySelector('.yl-val').textContent]"))
    assert rows["image"] == m.image[pred] and rows["class"] == m.class_name[pred]
    assert rows["status"] == "TP" and rows["IoU"] == "0.8" and rows["origin"] == "pred"
    assert rows["score"] == str(round(float(m.score[pred]), 3))
    assert rows["partner"] == m.object_id[gt]
    assert rows["weather"] == m.attr_weather[pred] and rows["occluded"] == str(m.attr_occluded[pred])
    # the page says which images it embeds
    assert deep(page, "div", "e => e.textContent.includes('embedded for 3 of 3 images')").count(True) >= 1


def test_neighbours_in_embedding_space_and_click_moves(run, page):
    from sklearn.neighbors import NearestNeighbors

    X = T.read_embeddings(run["out"], "emb_L15")
    row_of = {k: i for i, k in enumerate(T.read_meta(run["out"], ["object_id"]).object_id)}
    X = X[[row_of[k] for k in run["meta"].object_id]]
    want = NearestNeighbors(n_neighbors=11, metric="cosine").fit(X).kneighbors(X[[5]], return_distance=False)[0]
    click_point(page, 5)
    got = [int(v) for v in deep(page, ".yl-nn", "e => e.dataset.index")]
    assert got == [int(v) for v in want if v != 5][:10]
    target = got[3]
    page.locator(".yl-nn").nth(3).click()
    page.wait_for_function(f"() => ({DEEP})('.yl-panel').some(e => e.dataset.index === '{target}')", timeout=5000)
    assert deep(page, ".yl-panel", "e => e.dataset.objectId") == [run["meta"].object_id[target]]
    marker = page.evaluate("() => [...Bokeh.documents[0].all_models].find(m => m.data && 'x0' in m.data && "
                           "!m.data.object_id).data.x0[0]")
    assert marker == pytest.approx(float(run["coords"][target, 0]), rel=1e-5)


def test_legend_entry_hides_and_shows_a_class(run, page):
    m = run["meta"]
    page.get_by_text("car (", exact=False).first.click()
    page.wait_for_timeout(200)
    vis = shown(page)
    assert (vis == (m.class_name != "car").to_numpy()).all()
    assert deep(page, ".yl-shown") == [f"{int((m.class_name != 'car').sum())}"]
    page.get_by_text("car (", exact=False).first.click()
    page.wait_for_timeout(200)
    assert shown(page).all()


def test_filters_and_search(run, page):
    m = run["meta"]
    tick(page, "status", "FP")
    tick(page, "attr_weather", "rainy")
    want = ((m.status == "FP") & (m.attr_weather == "rainy")).to_numpy()
    assert want.sum() > 0 and (shown(page) == want).all()
    tick(page, "status", "FP")
    tick(page, "attr_weather", "rainy")
    assert shown(page).all()
    box = page.locator(".yl-search input")
    box.fill("frame_001")
    page.wait_for_timeout(300)
    want = m.image.str.contains("frame_001").to_numpy()
    assert 0 < want.sum() < len(m) and (shown(page) == want).all()
    box.fill(m.object_id[7])
    page.wait_for_timeout(300)
    assert np.flatnonzero(shown(page)).tolist() == [i for i, k in enumerate(m.object_id) if m.object_id[7] in k]


def tick(page, col: str, value: str) -> None:
    """Click one value's checkbox in a facet (the filters beside the panels) and let the page refilter."""
    page.locator(f".yl-facet[data-col='{col}'] label[data-value='{value}'] input").click()
    page.wait_for_timeout(150)


def test_selection_csv_has_boxes_and_attributes(run, page):
    m = run["meta"]
    page.evaluate(f"() => {{ {SOURCE}.selected.indices = [9, 3, 4]; }}")
    with page.expect_download() as dl:
        page.locator("button:has-text('Download selection')").click()
    rows = list(csv.DictReader(open(dl.value.path())))
    assert list(rows[0]) == ["object_id", "image", "x1", "y1", "x2", "y2", "class_name", "score", "status", "origin",
                             "attr_weather", "attr_timeofday", "attr_occluded"]
    assert [r["object_id"] for r in rows] == [m.object_id[i] for i in (3, 4, 9)]
    for r, i in zip(rows, (3, 4, 9)):
        assert float(r["x1"]) == pytest.approx(m.x1[i], abs=0.006) and float(r["y2"]) == pytest.approx(m.y2[i], abs=0.006)
        assert r["status"] == m.status[i] and r["origin"] == m.origin[i] and r["image"] == m.image[i]
        assert r["attr_timeofday"] == m.attr_timeofday[i] and r["attr_occluded"] == str(m.attr_occluded[i])
        assert (r["score"] == "") == bool(np.isnan(m.score[i]))


def test_copy_image_list(run, page):
    m = run["meta"]
    sel = [0, 1, 2, len(m) - 1]
    page.evaluate(f"() => {{ {SOURCE}.selected.indices = {sel}; }}")
    page.locator("button:has-text('Copy image list')").click()
    page.wait_for_timeout(200)
    text = deep(page, "textarea.yl-imagelist", "e => e.value")
    assert text == ["\n".join(sorted({m.image[i] for i in sel}))]
    assert deep(page, ".yl-nimages") == [str(len({m.image[i] for i in sel}))]


def test_hover_hides_rows_that_do_not_apply_and_colour_menu_lists_attributes(run, page):
    opts = page.get_by_label("colour by").evaluate("e => [...e.options].map(o => o.value)")
    assert {"attr_weather", "attr_timeofday", "attr_occluded", "status"} <= set(opts)
    x, y = screen_xy(page, 0)
    page.mouse.move(x - 1, y)
    page.mouse.move(x, y)
    page.wait_for_timeout(500)
    oid = run["meta"].object_id[0]
    rows = page.evaluate(f"""() => ({DEEP})('.yl-row').filter(r => r.offsetParent !== null || getComputedStyle(r).display === 'none')
        .map(r => [r.closest('div[style]').parentElement.textContent.includes({oid!r}), r.textContent.trim(),
                   getComputedStyle(r).display])""")
    mine = {t.split(":")[0]: d for own, t, d in rows if own}
    assert mine["weather"] == "none" and mine["timeofday"] != "none" and mine["status"] != "none"
