"""The explorer's JavaScript ships as package files and parses: ``node --check`` on the CustomJS body (wrapped in
the function bokeh makes of it) where Node is installed; the browser tests run it."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from yololens.figures import explorer_js


def test_every_js_file_is_package_data_and_in_the_body():
    code = explorer_js.explorer_code()
    for name in explorer_js.FILES:
        text = explorer_js.source(name)
        assert text.strip() and text in code
    assert "function makeExplorer()" in code and "registry[uid].on(cb_obj)" in code


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_parses_the_body(tmp_path):
    f = tmp_path / "explorer.js"
    f.write_text("function explorer(cb_obj, cb_data) {\n" + explorer_js.explorer_code() + "\n}\n", encoding="utf-8")
    r = subprocess.run(["node", "--check", str(f)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    broken = tmp_path / "broken.js"
    broken.write_text("function explorer(cb_obj) {\n" + explorer_js.explorer_code() + "\n", encoding="utf-8")
    assert subprocess.run(["node", "--check", str(broken)], capture_output=True).returncode != 0


def test_report_layout_leaves_the_wheel_to_the_page(tmp_path):
    from bokeh.models import Plot, WheelZoomTool

    from yololens.analysis import table as T
    from yololens.analysis.projection import project
    from yololens.analysis.synthetic import make_objects_table
    from yololens.figures.explorer_layout import build_layout

    make_objects_table(tmp_path, 40, n_images=2, seed=1, write_images=False)
    projs = project(tmp_path, 15, "pca")
    projs = projs if isinstance(projs, list) else [projs]
    meta = T.read_meta(tmp_path).set_index("object_id", drop=False).reindex(projs[0].object_ids)
    for wheel in (False, True):
        lay = build_layout(projs, meta.reset_index(drop=True), initial="class_name", label="class_name", thumbs=None,
                           wheel_zoom=wheel)
        fig = next(iter(lay.select({"type": Plot})))
        assert any(isinstance(t, WheelZoomTool) for t in fig.toolbar.tools)  # the toolbar button is there
        assert isinstance(fig.toolbar.active_scroll, WheelZoomTool) if wheel else fig.toolbar.active_scroll is None


def test_plot_and_report_share_one_perplexity_rule_and_both_say_it(tmp_path):
    from yololens.analysis.projection import effective_perplexity, perplexity_note
    from yololens.analysis.synthetic import make_objects_table
    from yololens.jobs.plot import plot
    from yololens.report.sections.projection import tsne_settings

    assert effective_perplexity(30, 12) == pytest.approx(11 / 3) and effective_perplexity(30, 5000) == 30.0
    assert perplexity_note(30, 5000) is None
    make_objects_table(tmp_path, 12, n_images=1, seed=3, write_images=False)
    res = plot(tmp_path, 15, "tsne", "class_name", html=False)
    said = perplexity_note(30, 12)
    assert said == "t-SNE perplexity 3.7 instead of 30: 30 needs more than 91 objects; here n = 12"
    assert said in res.notes and tsne_settings(12, "tsne")[2] == said
    assert res.projections[0].params["perplexity"] == 30.0  # the request is what is stored; the rule is applied


def test_facets_are_the_few_valued_columns_and_numbers_are_searched():
    import pandas as pd

    from yololens.figures.explorer_layout import facet_columns, numeric_columns

    n = 40
    meta = pd.DataFrame({
        "object_id": [f"o{i}" for i in range(n)], "image": [f"i{i % 4}" for i in range(n)],
        "class_name": ["car", "bus"] * 20, "status": ["TP", "FP", "FN", "TP"] * 10, "origin": ["pred"] * n,
        "attr_area": [float(i) * 10 for i in range(n)], "attr_iscrowd": [0.0, 1.0] * 20,
        "attr_size": [str(i) for i in range(n)], "suspect": ["yes", "no"] * 20, "gt_id": [str(i) for i in range(n)],
        "suspect_score": [i / n for i in range(n)], "score": [0.5] * n,
    })
    # origin has one value (no filter); attr_area and attr_size are numbers with many values; ids never
    assert facet_columns(meta, "class_name") == ["class_name", "status", "attr_iscrowd", "suspect"]
    assert numeric_columns(meta) == ["attr_area", "attr_iscrowd", "attr_size", "suspect_score"]


def test_fixed_axes_hold_every_point_and_the_density(tmp_path):
    import numpy as np
    from bokeh.models import Plot, Range1d

    from yololens.analysis import table as T
    from yololens.analysis.projection import project
    from yololens.analysis.synthetic import make_objects_table
    from yololens.figures.explorer_layout import build_layout

    make_objects_table(tmp_path, 40, n_images=2, seed=1, write_images=False)
    p = project(tmp_path, 15, "pca")
    meta = T.read_meta(tmp_path).set_index("object_id", drop=False).reindex(p.object_ids).reset_index(drop=True)
    wide = np.vstack([p.coords, p.coords.min(axis=0) - 50, p.coords.max(axis=0) + 50])  # "all" reaches further
    for density, lo, hi in ((None, p.coords.min(axis=0), p.coords.max(axis=0)), ([wide], wide.min(axis=0), wide.max(axis=0))):
        lay = build_layout([p], meta, initial="class_name", label="class_name", thumbs=None, density=density,
                           n_total=42 if density else None)
        fig = next(iter(lay.select({"type": Plot})))
        assert isinstance(fig.x_range, Range1d) and isinstance(fig.y_range, Range1d)  # filters cannot re-fit them
        assert fig.x_range.start < lo[0] and fig.x_range.end > hi[0] and fig.y_range.start < lo[1] and fig.y_range.end > hi[1]
        assert fig.x_range.end - fig.x_range.start < 1.2 * (hi[0] - lo[0])
