"""The demo report in headless Chromium: renders offline without console errors or failed requests, every
image loads, the t-SNE panels hold every object and draw on their canvas, and hovering a point shows its crop.
A full-page screenshot is saved to test-artifacts/report_full.png."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from test_demo import demo_report  # noqa: F401  (session fixture: the full demo report, built once)

pytestmark = pytest.mark.browser

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"),
                             shutil.which("google-chrome"), "/usr/bin/chromium") if p and Path(p).exists()), None)
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
SOURCE = "[...Bokeh.documents[0].all_models].find(m => m.data && m.data.object_id)"


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
    if CHROMIUM is None:
        pytest.skip("headless chromium not found (Debian: apt-get install chromium)")
    pw = sync_api.sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--use-gl=swiftshader",
                                                               "--enable-unsafe-swiftshader",
                                                               "--disable-background-networking"])
    except Exception as exc:  # pragma: no cover - environment specific
        pw.stop()
        pytest.skip(f"cannot start chromium at {CHROMIUM}: {exc}")
    yield b
    b.close()
    pw.stop()


def test_report_in_browser(demo_report, browser):  # noqa: F811
    assert demo_report["exit_code"] == 0, demo_report["output"]
    out: Path = demo_report["out"]
    manifest = json.loads((out / "report.json").read_text())
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors, failed, external = [], [], []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("requestfailed", lambda r: failed.append(r.url))

    def block(route):  # the report must not need the network
        external.append(route.request.url)
        route.abort()

    page.route("http*://**", block)
    page.goto((out / "index.html").as_uri())
    page.wait_for_function("() => window.Bokeh && Bokeh.documents.length && Bokeh.documents[0].roots().length",
                           timeout=60_000)
    page.wait_for_load_state("load")
    page.wait_for_timeout(1000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report_full.png"), full_page=True)

    assert errors == [] and failed == [] and external == []
    broken = page.evaluate("() => [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)")
    assert broken == []
    assert page.evaluate("() => document.images.length") >= 8  # overviews, stage chart, masks, instances, heatmap

    # every object is in the (shared) data source, one x/y pair per stage panel
    n = manifest["counts"]["objects"]
    assert page.evaluate(f"() => {SOURCE}.data.object_id.length") == n
    n_panels = page.evaluate(f"() => Object.keys({SOURCE}.data).filter(k => /^x\\d+$/.test(k)).length")
    assert n_panels == 5  # L9, L15, L18, L21, coef

    # the first panel's canvas is not blank: many distinct colours in its screenshot
    plot_el = page.locator("#projection-plot")
    plot_el.scroll_into_view_if_needed()
    png = plot_el.screenshot(path=str(ARTIFACTS / "report_projection.png"))
    from io import BytesIO

    from PIL import Image

    pixels = np.asarray(Image.open(BytesIO(png)).convert("RGB")).reshape(-1, 3)
    colours = np.unique(pixels @ np.array([1, 256, 65536]))
    assert len(colours) > 20 and pixels.std() > 10

    # hover the first object in the first panel: the tooltip shows its crop as a data: URI
    pos = page.evaluate(f"""() => {{
      const src = {SOURCE};
      const plots = [...Bokeh.documents[0].all_models].filter(m => m.renderers && m.x_range);
      const views = [...Bokeh.index.all_views()];
      for (const plot of plots) {{
        const pv = views.find(v => v.model === plot);
        const r = pv.el.getBoundingClientRect();
        const key = plot.renderers[0].glyph.x.field;            // "x0" for the first panel
        const i = src.data.thumb.findIndex(t => t && t.startsWith('data:'));
        if (key !== 'x0' || i < 0) continue;
        return {{x: r.left + pv.frame.x_scale.compute(src.data[key][i]),
                 y: r.top + pv.frame.y_scale.compute(src.data['y0'][i])}};
      }}
      return null;
    }}""")
    assert pos is not None
    page.mouse.move(pos["x"] - 2, pos["y"])
    page.mouse.move(pos["x"], pos["y"])
    page.wait_for_timeout(600)
    thumbs = page.evaluate("""() => { const out = [];
      const walk = (n) => { if (n.shadowRoot) walk(n.shadowRoot);
        for (const c of n.children || []) walk(c);
        if (n.tagName === 'IMG' && n.classList.contains('yl-thumb') && n.offsetParent !== null)
          out.push((n.getAttribute('src') || '').slice(0, 30)); };
      walk(document.body); return out; }""")
    assert any(t.startswith("data:image/jpeg;base64,") for t in thumbs), thumbs
    page.screenshot(path=str(ARTIFACTS / "report_hover.png"))

    # click the same point: the explorer's drawer shows its image, box and neighbours
    page.mouse.click(pos["x"], pos["y"])
    page.wait_for_timeout(600)
    panel = page.evaluate("""() => { const out = [];
      const walk = (n) => { if (n.shadowRoot) walk(n.shadowRoot); for (const c of n.children || []) walk(c);
        if (n.classList && n.classList.contains('yl-panel')) out.push([n.dataset.index,
          n.querySelectorAll('svg.yl-image .yl-box-self').length, n.querySelectorAll('.yl-nn').length]); };
      walk(document.body); return out; }""")
    assert len(panel) == 1 and panel[0][1] == 1 and panel[0][2] == min(10, n - 1), panel
    # the click panel is a drawer in the window, not below the grid; the page is no wider than the window
    box = page.evaluate("() => document.querySelector('.yl-panel').getBoundingClientRect().toJSON()")
    assert box["top"] < 300 and box["right"] <= 1281 and box["left"] > 0
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    # the wheel scrolls the report: no panel zooms on it until its toolbar button is pressed
    assert page.evaluate("() => [...Bokeh.documents[0].all_models].filter(m => m.renderers && m.x_range)"
                         ".map(p => p.toolbar.active_scroll)") == [None] * n_panels
    page.screenshot(path=str(ARTIFACTS / "report_click.png"), full_page=True)
    assert errors == []
    page.close()


def on_screen_point(page, right: float, bottom: float):
    """Window coordinates of the first point of the first panel inside ``(0, 60)-(right, bottom)``, or None."""
    return page.evaluate(f"""() => {{ const src = {SOURCE};
      const plot = [...Bokeh.documents[0].all_models].find(m => m.renderers && m.x_range &&
        m.renderers.some(r => r.glyph && r.glyph.x && r.glyph.x.field === 'x0'));
      const pv = [...Bokeh.index.all_views()].find(v => v.model === plot); const r = pv.el.getBoundingClientRect();
      for (let i = 0; i < src.data.x0.length; i++) {{
        const x = r.left + pv.frame.x_scale.compute(src.data.x0[i]), y = r.top + pv.frame.y_scale.compute(src.data.y0[i]);
        if (x > 0 && x < {right} && y > 60 && y < {bottom}) return [x, y];
      }}
      return null; }}""")


@pytest.mark.parametrize("size", [(1440, 900), (1024, 768)], ids=["1440x900", "1024x768"])
def test_report_explorer_fits_the_window_and_leaves_the_wheel_to_the_page(demo_report, browser, size):  # noqa: F811
    """Issue 22 items 1, 2 and 6 in the report: a click opens the drawer in the window (no scrolling), the page is
    never wider than the window, and the wheel scrolls the page over a panel (no zoom)."""
    w, h = size
    page = browser.new_page(viewport={"width": w, "height": h})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.route("http*://**", lambda route: route.abort())
    page.goto((demo_report["out"] / "index.html").as_uri())
    page.wait_for_function("() => window.Bokeh && Bokeh.documents.length && Bokeh.documents[0].roots().length",
                           timeout=60_000)
    page.evaluate("() => document.querySelector('#projection-plot').scrollIntoView()")
    page.wait_for_timeout(800)
    assert page.evaluate("document.documentElement.scrollWidth") <= w
    pos = on_screen_point(page, w, h)
    assert pos is not None
    ranges = "() => { const p = [...Bokeh.documents[0].all_models].find(m => m.renderers && m.x_range); " \
             "return [p.x_range.start, p.x_range.end]; }"
    before, scroll = page.evaluate(ranges), page.evaluate("window.scrollY")
    page.mouse.move(*pos)
    page.mouse.wheel(0, 300)
    page.wait_for_timeout(400)
    assert page.evaluate(ranges) == before and page.evaluate("window.scrollY") > scroll  # the page moved, not the plot
    page.evaluate("() => document.querySelector('#projection-plot').scrollIntoView()")
    page.wait_for_timeout(300)
    pos = on_screen_point(page, w - 450, h)  # left of the drawer
    assert pos is not None
    page.mouse.click(*pos)
    page.wait_for_function("() => document.querySelector('.yl-panel') !== null", timeout=10_000)
    box = page.evaluate("() => document.querySelector('.yl-panel').getBoundingClientRect().toJSON()")
    assert 0 < box["left"] and box["right"] <= w + 1 and 0 <= box["top"] < h / 4
    zoom = page.evaluate("() => document.querySelector('.yl-zoom').getBoundingClientRect().toJSON()")
    assert zoom["bottom"] <= h
    assert page.evaluate("document.documentElement.scrollWidth") <= w
    assert errors == []
    page.close()
