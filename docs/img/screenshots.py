"""Refresh the README's and docs' screenshots from real pages (headless Chromium, 1440x900).

    yololens report --model yolov8n-seg-coco.pt --source coco_sample/images --labels coco_sample/instances.json --out R
    python docs/img/screenshots.py R          # writes docs/img/report_explorer.png, explorer_click.png,
                                              # explorer_status.png (filtered to FP and FN)
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
SOURCE = "[...Bokeh.documents[0].all_models].find(m => m.data && m.data.object_id)"
FACETS = "(sel) => { const out = []; const walk = (n) => { if (n.shadowRoot) walk(n.shadowRoot); for (const c of " \
         "n.children || []) walk(c); if (n.matches && n.matches(sel)) out.push(n); }; walk(document.body); return out; }"


def point_xy(page, i: int):
    return page.evaluate(f"""() => {{ const src = {SOURCE};
      const plot = [...Bokeh.documents[0].all_models].find(m => m.renderers && m.x_range &&
        m.renderers.some(r => r.glyph && r.glyph.x && r.glyph.x.field === 'x0'));
      const pv = [...Bokeh.index.all_views()].find(v => v.model === plot); const r = pv.el.getBoundingClientRect();
      return [r.left + pv.frame.x_scale.compute(src.data.x0[{i}]), r.top + pv.frame.y_scale.compute(src.data.y0[{i}])]; }}""")


def open_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(url)
    page.wait_for_function("() => window.Bokeh && Bokeh.documents.length && Bokeh.documents[0].roots().length",
                           timeout=60_000)
    page.wait_for_timeout(1500)
    return page


def click_largest(page):
    """Click the point whose box is largest (a readable zoom), among those drawn inside the window."""
    n = page.evaluate(f"() => {SOURCE}.data.object_id.length")
    areas = page.evaluate(f"() => {{ const d = {SOURCE}.data; return Array.from(d.bx2, (v, i) => (v - d.bx1[i]) * (d.by2[i] - d.by1[i])); }}")
    for i in sorted(range(n), key=lambda k: -(areas[k] or 0)):
        x, y = point_xy(page, i)
        if 0 < x < 900 and 60 < y < 880:
            page.mouse.click(x, y)
            page.wait_for_timeout(1500)
            return i
    raise SystemExit("no point on screen")


def main(report: Path) -> None:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                     args=["--no-sandbox", "--use-gl=swiftshader", "--enable-unsafe-swiftshader"])
        page = open_page(browser, (report / "index.html").as_uri())
        page.evaluate("() => { document.querySelector('#projection-plot').scrollIntoView(); window.scrollBy(0, -60); }")
        page.wait_for_timeout(800)
        click_largest(page)
        page.screenshot(path=str(HERE / "report_explorer.png"))
        page.close()
        html = next((report / "extract" / "figures").glob("*.html"))
        page = open_page(browser, html.as_uri())
        click_largest(page)
        page.screenshot(path=str(HERE / "explorer_click.png"))
        for value in ("FP", "FN"):
            page.locator(f".yl-facet[data-col='status'] label[data-value='{value}'] input").click()
            page.wait_for_timeout(500)
        page.screenshot(path=str(HERE / "explorer_status.png"))
        browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
