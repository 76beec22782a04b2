"""How fast a `yololens plot` HTML loads and responds in headless Chromium (issue 15: within 5 s at 1.8M).

    python benchmarks/html_timing.py OUT/figures/L9_tsne.html

Each figure is wall time seen from outside the page (playwright), from the action to the page having drawn
its answer (two animation frames after the DOM says so):

  * load_s: ``goto`` until Bokeh has rendered its roots and painted;
  * hover_s: the mouse moves onto a drawn point until a bokeh tooltip is laid out on screen;
  * colour_s: "colour by" switched to another column until the points are coloured by it;
  * filter_s: the first attribute filter set to its first value until the filter has been applied;
  * select_s: a box selection dragged over the middle of the plot until "N selected" shows N > 0.

Needs playwright and a chromium on PATH; returns None (prints a line) without them.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

ROOTS = "() => window.Bokeh && Bokeh.documents.length && Bokeh.documents[0].roots().length"
FRAMES = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))"
SOURCE = "[...Bokeh.documents[0].all_models].find(m => m.data && m.data.object_id)"
PLOT = "[...Bokeh.documents[0].all_models].find(m => m.renderers && m.x_range)"
VIEW = f"(() => {{ const p = {PLOT}; for (const v of Bokeh.index.all_views()) if (v.model === p) return v; }})()"
# walks open shadow roots (bokeh renders widgets and tooltips inside them)
DEEP_TEXT = """(() => { let t = ''; const walk = (n) => { if (n.shadowRoot) walk(n.shadowRoot);
  for (const c of n.childNodes || []) walk(c); if (n.nodeType === 3) t += n.textContent + ' '; };
  walk(document.body); return t; })()"""

# a bokeh tooltip laid out on screen (there is none before the first hover: the page's text alone can hold the id)
TOOLTIP_SHOWN = """() => { let shown = false; const walk = (n) => { if (n.shadowRoot) walk(n.shadowRoot);
  for (const c of n.children || []) walk(c);
  if (n.classList && n.classList.contains('bk-Tooltip') && getComputedStyle(n).display !== 'none'
      && n.getBoundingClientRect().width > 0) shown = true; };
  walk(document.body); return shown; }"""


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def html_timings(html: Path, timeout_ms: int = 300_000) -> dict | None:
    """The seconds above for ``html`` (None without playwright or a chromium)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("html timing skipped: playwright is not installed", file=sys.stderr)
        return None
    if _chromium() is None:
        print("html timing skipped: no chromium on PATH", file=sys.stderr)
        return None
    res: dict = {"html_mb": round(Path(html).stat().st_size / 1e6, 1)}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), args=["--no-sandbox", "--use-gl=swiftshader",
                                                                       "--enable-unsafe-swiftshader"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.route("http*://**", lambda route: route.abort())  # offline, like a user's copied file
        t = time.perf_counter()
        page.goto(Path(html).resolve().as_uri(), timeout=timeout_ms)
        page.wait_for_function(ROOTS, timeout=timeout_ms)
        page.evaluate(FRAMES)
        res["load_s"] = round(time.perf_counter() - t, 2)
        res["points"] = page.evaluate(f"() => {SOURCE}.data.object_id.length")

        pos = page.evaluate(f"""() => {{ const src = {SOURCE}, pv = {VIEW}, r = pv.el.getBoundingClientRect();
            return {{x: r.left + pv.frame.x_scale.compute(src.data.x0[0]),
                     y: r.top + pv.frame.y_scale.compute(src.data.y0[0]), id: src.data.object_id[0]}}; }}""")
        page.mouse.move(pos["x"] - 3, pos["y"])
        page.evaluate(FRAMES)
        t = time.perf_counter()
        page.mouse.move(pos["x"], pos["y"])
        page.wait_for_function(TOOLTIP_SHOWN, timeout=timeout_ms)
        page.evaluate(FRAMES)
        res["hover_s"] = round(time.perf_counter() - t, 2)
        page.mouse.move(5, 5)
        page.evaluate(FRAMES)  # the tooltip's going away is painted before the next clock starts

        menu = page.get_by_label("colour by")
        other = [o for o in menu.evaluate("s => [...s.options].map(o => o.value)") if o != menu.input_value()]
        if other:
            points = f"[...Bokeh.documents[0].all_models].find(m => m.glyph && m.data_source === {SOURCE}).glyph"
            t = time.perf_counter()
            menu.select_option(other[0])
            page.wait_for_function(f"(c) => {points}.fill_color.field === 'c__' + c", arg=other[0],
                                   timeout=timeout_ms)
            page.evaluate(FRAMES)
            res["colour_s"] = round(time.perf_counter() - t, 2)
            res["colour_to"] = other[0]

        facets = page.locator(".yl-facet")  # the filters beside the panels: the legend first, then the others
        if facets.count() > 1:
            tick = facets.nth(1).locator("input").first
            booleans = "[...Bokeh.documents[0].all_models].find(m => m.booleans !== undefined)"
            t = time.perf_counter()
            tick.click()
            page.wait_for_function(f"() => {{ const f = {booleans}; return f && f.booleans && "
                                   "f.booleans.some(b => !b); }", timeout=timeout_ms)
            page.evaluate(FRAMES)
            res["filter_s"] = round(time.perf_counter() - t, 2)
            facets.nth(1).locator("input").first.click()
            page.evaluate(FRAMES)

        page.evaluate(f"""() => {{ const p = {PLOT};
            p.toolbar.active_drag = p.toolbar.tools.find(t => t.type === 'BoxSelectTool' ||
              (t.constructor && t.constructor.name === 'BoxSelectTool')); }}""")
        frame = page.evaluate(f"""() => {{ const pv = {VIEW}, r = pv.el.getBoundingClientRect();
            return {{x: r.left + pv.frame.bbox.left, y: r.top + pv.frame.bbox.top,
                     w: pv.frame.bbox.width, h: pv.frame.bbox.height}}; }}""")
        x0, y0 = frame["x"] + frame["w"] * 0.25, frame["y"] + frame["h"] * 0.25
        t = time.perf_counter()
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move(x0 + frame["w"] * 0.5, y0 + frame["h"] * 0.5, steps=4)
        page.mouse.up()
        page.wait_for_function(f"() => {SOURCE}.selected.indices.length > 0", timeout=timeout_ms)
        page.wait_for_function(f"() => /[1-9][0-9,]* selected/.test({DEEP_TEXT})", timeout=timeout_ms)
        page.evaluate(FRAMES)
        res["select_s"] = round(time.perf_counter() - t, 2)
        res["selected"] = page.evaluate(f"() => {SOURCE}.selected.indices.length")
        browser.close()
    return res


if __name__ == "__main__":
    print(json.dumps(html_timings(Path(sys.argv[1]))))
