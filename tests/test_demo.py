"""``yololens demo``: the full report on Ultralytics' bus.jpg and zidane.jpg through the CLI, and the untrained
fallback when no trained model can be had."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from yololens.cli.app import app
from yololens.errors import ModelError

FIGURE_SECTIONS = ("maps", "projection", "stages", "seg")


@pytest.fixture(scope="session")
def demo_report(seg_weights, tmp_path_factory) -> dict:
    """``yololens demo`` with ``$YOLOLENS_MODEL`` = the real seg weights, run once per session: the browser
    test imports this fixture, and a second instance finds the first one's record. Returns the folder, the
    CLI output and exit code."""
    out = tmp_path_factory.getbasetemp() / "yololens-demo"
    record = out.with_suffix(".cli.json")
    if record.exists():
        return {**json.loads(record.read_text()), "out": out}
    res = CliRunner().invoke(app, ["demo", "--out", str(out), "--no-progress"],
                             env={"YOLOLENS_MODEL": str(seg_weights)})
    run = {"output": res.output, "exit_code": res.exit_code, "exception": repr(res.exception)}
    record.write_text(json.dumps(run))
    return {**run, "out": out}


def test_demo_writes_the_full_report(demo_report):
    assert demo_report["exit_code"] == 0, (demo_report["output"], demo_report["exception"])
    out: Path = demo_report["out"]
    index = out / "index.html"
    assert f"open the report: {index.resolve().as_uri()}" in demo_report["output"]
    manifest = json.loads((out / "report.json").read_text())
    assert {k: v["status"] for k, v in manifest["sections"].items()} == {
        "catalogue": "ok", "maps": "ok", "projection": "ok", "stages": "ok", "similarity": "ok", "suspects": "skipped",
        "seg": "ok",
        "extract": "ok"}
    assert manifest["model"]["trained"] is True and len(manifest["model"]["sha256"]) == 64
    assert manifest["counts"]["images"] == 2 and manifest["counts"]["objects"] >= 20
    assert set(manifest["timings_s"]) >= {"model", "extract", "maps", "projection", "stages", "seg", "total"}
    assert {"yololens", "ultralytics", "torch", "bokeh"} <= set(manifest["versions"])
    html = index.read_text()
    for key in ("overview", "catalogue", "maps", "projection", "stages", "seg", "coef-heatmap", "manifest"):
        assert f'id="{key}"' in html, key
    assert "untrained weights" not in html.lower()
    assert manifest["model"]["sha256"] in html
    # the stage report found two classes with enough objects and recommends one stage
    assert re.search(r'<p class="verdict" id="stage-verdict"><b>Verdict: (use (L\d+|coef)|no clear winner)', html)
    # t-SNE small multiples: one panel per stage, embedded bokeh (inline resources, no CDN)
    assert "Bokeh.embed.embed_items" in html and "cdn.bokeh.org" not in html
    for stage in ("emb_L9", "emb_L15", "emb_L18", "emb_L21", "emb_coef"):
        assert stage in html
    # every section explains itself and says how to rerun it alone
    assert html.count('class="explain"') >= 7 and html.count("Reproduce on its own") >= 6


def test_demo_untrained_fallback(monkeypatch, tmp_path):
    """Offline without $YOLOLENS_MODEL: the demo says so, uses yolov8n-seg.yaml, marks the header and every
    figure section "untrained weights", and still completes."""
    import yololens.report.demo as demo

    real = demo.load_model

    def offline(model, device=None, **kw):
        if model == demo.DEFAULT_MODEL:
            raise ModelError(f"{model}: not found locally and could not be downloaded (offline)")
        return real(model, device=device, **kw)

    monkeypatch.delenv("YOLOLENS_MODEL", raising=False)
    monkeypatch.setattr(demo, "load_model", offline)
    notes = []
    result = demo.run_demo(out=tmp_path / "demo", progress=False, echo=notes.append, max_images=1, max_det=5,
                           map_layers="9", seg_instances=1, hover_thumbnails=10, sections=FIGURE_SECTIONS)
    assert "UNTRAINED WEIGHTS" in notes[0] and "yolov8n-seg.yaml" in notes[0]
    assert result.untrained and not result.failed
    manifest = result.manifest
    assert manifest["model"]["trained"] is False and manifest["model"]["source"] == "yolov8n-seg.yaml"
    assert manifest["counts"]["objects"] > 0  # the top boxes of a random head: the plumbing still shows
    html = result.index.read_text()
    assert 'id="untrained-banner"' in html and "(untrained weights)</title>" in html
    header = html.split("</header>")[0]
    assert "untrained weights" in header
    for key in FIGURE_SECTIONS:
        assert manifest["sections"][key]["status"] in ("ok", "skipped"), key
        block = html.split(f'<section class="card" id="{key}">')[1].split("</section>")[0]
        h2 = block.split("</h2>")[0]
        assert "untrained weights" in h2, key

