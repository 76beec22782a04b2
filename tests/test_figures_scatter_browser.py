"""The interactive HTML in headless Chromium: loads offline without JS errors, hover shows the crop, the
colour-by menu recolours, and the selection downloads as CSV."""

from __future__ import annotations

import shutil

import pytest

from yololens.analysis.synthetic import make_objects_table
from yololens.jobs.plot import plot

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture(scope="module")
def page_for(tmp_path_factory):
    sync_api = pytest.importorskip("playwright.sync_api")
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH")
    pw = sync_api.sync_playwright().start()
    try:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--use-gl=swiftshader",
                                                                     "--enable-unsafe-swiftshader"])
    except Exception as exc:  # pragma: no cover - environment specific
        pw.stop()
        pytest.skip(f"cannot start chromium: {exc}")
    pages = []

    def open_(html_path):
        page = browser.new_page(viewport={"width": 1200, "height": 800}, accept_downloads=True)
        page.errors = []
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.route("http*://**", lambda route: route.abort())  # prove it works offline
        page.goto(html_path.as_uri())
        page.wait_for_function("() => window.Bokeh && Bokeh.documents.length && Bokeh.documents[0].roots().length",
                               timeout=60_000)
        pages.append(page)
        return page

    yield open_
    browser.close()
    pw.stop()


SOURCE = "[...Bokeh.documents[0].all_models].find(m => m.data && m.data.object_id)"


def test_html_interactions(tmp_path, page_for):
    make_objects_table(tmp_path, 150, n_images=3, seed=2)
    html = plot(tmp_path, 15, "pca", "class_name", hover_thumbnails=150).paths["html"]
    page = page_for(html)
    assert page.evaluate(f"() => {SOURCE}.data.object_id.length") == 150

    # hover over the first point: tooltip with its crop and its object id
    pos = page.evaluate(f"""() => {{
      const src = {SOURCE};
      const plot = [...Bokeh.documents[0].all_models].find(m => m.renderers && m.x_range);
      let pv = null;
      for (const v of Bokeh.index.all_views()) if (v.model === plot) pv = v;
      const r = pv.el.getBoundingClientRect();
      return {{x: r.left + pv.frame.x_scale.compute(src.data.x0[0]), y: r.top + pv.frame.y_scale.compute(src.data.y0[0])}};
    }}""")
    page.mouse.move(pos["x"] - 1, pos["y"])
    page.mouse.move(pos["x"], pos["y"])
    page.wait_for_timeout(500)
    tips = page.evaluate("""() => { const out = [];
      const walk = (n) => { if (n.shadowRoot) walk(n.shadowRoot);
        for (const c of n.children || []) walk(c);
        if (n.querySelector && n.classList && n.classList.contains('yl-thumb')) out.push(n.getAttribute('src').slice(0, 30)); };
      walk(document.body); return out; }""")
    text = page.evaluate("""() => { let t = ''; const walk = (n) => { if (n.shadowRoot) walk(n.shadowRoot);
        for (const c of n.childNodes || []) walk(c); if (n.nodeType === 3) t += n.textContent + ' '; };
        walk(document.body); return t; }""")
    assert any(t.startswith("data:image/jpeg;base64,") for t in tips)
    assert "images/frame_000.jpg#0" in text and "weather:" in text

    # colour by status: the displayed codes become the status codes, the legend follows
    page.get_by_label("colour by").select_option("status")
    page.wait_for_timeout(300)
    # the displayed codes are the status codes, element by element (not two undefined values comparing equal)
    POINTS = "[...Bokeh.documents[0].all_models].find(m => m.glyph && m.data_source.data.object_id).glyph"
    field, status = page.evaluate(f"() => [{POINTS}.fill_color.field, Array.from({SOURCE}.data['c__status'])]")
    shown = page.evaluate(f"() => Array.from({SOURCE}.data[{POINTS}.fill_color.field])")
    assert field == "c__status" and len(shown) == 150 and shown == status and len(set(status)) > 1
    assert page.locator("text=FP (").count() == 1
    # the legend's swatches take the status colours
    swatches, palette = page.evaluate("""() => {
      const out = []; const walk = (n) => { if (n.shadowRoot) walk(n.shadowRoot); for (const c of n.children || []) walk(c);
        if (n.classList && n.classList.contains('yl-sw')) out.push(getComputedStyle(n).backgroundColor); };
      walk(document.body);
      const cb = [...Bokeh.documents[0].all_models].find(m => m.title === 'colour by').js_property_callbacks['change:value'][0];
      const args = cb.args instanceof Map ? Object.fromEntries(cb.args) : cb.args;
      return [out, args.palettes['status']]; }""")
    rgb = [f"rgb({int(c[1:3], 16)}, {int(c[3:5], 16)}, {int(c[5:7], 16)})" for c in palette]
    assert len(swatches) == len(palette) > 1 and swatches == rgb

    # select 3 points, download them
    page.evaluate(f"() => {{ {SOURCE}.selected.indices = [4, 0, 2]; }}")
    with page.expect_download() as dl:
        page.locator("button:has-text('Download selection')").click()
    lines = open(dl.value.path()).read().splitlines()
    assert lines[0].startswith("object_id,image,x1,y1,x2,y2,class_name,score,status,origin") and len(lines) == 4
    assert lines[1].startswith('"images/frame_000.jpg#0",')
    assert page.errors == []
