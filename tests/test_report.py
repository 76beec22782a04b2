"""``yololens report``: a detect model (no seg sections), sections switched off, relative links that exist,
small-n projection settings, option errors."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from test_demo import demo_report  # noqa: F401  (session fixture: the full demo report, built once)
from typer.testing import CliRunner

from yololens.cli.app import app
from yololens.errors import InputError
from yololens.report import SECTIONS, build_report
from yololens.report.sections.projection import MIN_TSNE, tsne_settings


class _Links(HTMLParser):
    """Every href/src of the page (script bodies are not parsed as markup)."""

    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src") and value is not None:
                self.links.append(value)
            if name == "id" and value:
                self.ids.add(value)


def check_links(folder: Path) -> list[str]:
    """Assert every link of ``folder/index.html`` is relative and exists on disk (anchors: exist in the page)."""
    parser = _Links()
    parser.feed((folder / "index.html").read_text())
    files = []
    for link in parser.links:
        if link.startswith("data:"):
            continue
        if link.startswith("#"):
            assert link[1:] in parser.ids, f"anchor {link} has no target"
            continue
        url = urlparse(link)
        assert not url.scheme and not url.netloc and not link.startswith("/"), f"not a relative link: {link}"
        path = folder / unquote(url.path)
        assert path.is_file(), f"{link} does not exist"
        files.append(link)
    return files


@pytest.fixture(scope="module")
def detect_report(det_weights, assets, tmp_path_factory):
    out = tmp_path_factory.mktemp("detect") / "report"
    result = build_report(str(det_weights), str(assets), out=out, conf=0.05, max_images=1, progress=False,
                          sections=("catalogue", "projection", "stages", "similarity", "seg"), hover_thumbnails=50)
    return result


def test_detect_model_has_no_seg_sections(detect_report):
    res = detect_report
    assert not res.failed and res.manifest["model"]["task"] == "detect"
    status = {k: s.status for k, s in res.sections.items()}
    assert status == {"catalogue": "ok", "maps": "off", "projection": "ok", "stages": "ok", "similarity": "ok",
                      "suspects": "off", "seg": "skipped", "extract": "ok"}
    assert "detect model" in res.sections["seg"].note
    html = res.index.read_text()
    # the page's own text: no bokeh JS, and not the manifest (it lists every section's status)
    body = re.sub(r"<script.*?</script>", "", html, flags=re.S).split('<section class="card" id="manifest">')[0]
    assert 'id="seg"' not in html and "prototype" not in body.lower() and 'id="maps"' not in html
    assert 'id="projection"' in html and 'id="stages"' in html and 'id="catalogue"' in html
    # projection of the neck/SPPF stages only (a detect model has no mask coefficients)
    assert res.sections["projection"].data["stages"] == ["L9", "L15", "L18", "L21"]
    assert "untrained weights" not in html.lower()
    # the similarity section: its answer line first, the heatmap, the stages with their role
    sim = res.sections["similarity"]
    assert f'<p class="verdict" id="similarity-headline"><b>{sim.data["headline"]}</b></p>' in html
    assert sim.data["headline"].startswith("most alike: ") and "L15 (P3 neck, stride 8)" in html
    assert (res.out / sim.data["heatmap"]).is_file()


def test_links_are_relative_and_exist(detect_report, demo_report, tmp_path):  # noqa: F811
    for folder in (detect_report.out, demo_report["out"]):
        files = check_links(folder)
        assert "report.json" in files
    # the folder is self-contained: a copy elsewhere still resolves every link
    copy = tmp_path / "copied"
    shutil.copytree(demo_report["out"], copy)
    linked = check_links(copy)
    assert any(f.startswith("maps/") and f.endswith("overview.png") for f in linked)
    assert any(f.startswith("seg/") and "instance_" in f for f in linked)
    assert any(f.endswith("class_mean.png") for f in linked)
    assert any(f.endswith("stages.png") for f in linked)


def test_sections_switched_off(seg_weights, assets, tmp_path):
    out = tmp_path / "r"
    res = CliRunner().invoke(app, ["report", "--model", str(seg_weights), "--source", str(assets / "bus.jpg"),
                                   "--out", str(out), "--no-progress", "--no-catalogue", "--no-maps",
                                   "--no-projection", "--no-stages", "--no-similarity", "--no-suspects",
                                   "--no-seg"])
    assert res.exit_code == 0, res.output
    assert (out / "index.html").resolve().as_uri() in res.output
    manifest = json.loads((out / "report.json").read_text())
    assert {k: v["status"] for k, v in manifest["sections"].items() if k in SECTIONS} == dict.fromkeys(SECTIONS, "off")
    html = (out / "index.html").read_text()
    for key in SECTIONS:
        assert f'id="{key}"' not in html and f'href="#{key}"' not in html
    assert 'id="overview"' in html and 'id="manifest"' in html and "Bokeh" not in html
    check_links(out)


def test_report_options_and_errors(seg_weights, assets, tmp_path):
    runner = CliRunner()
    help_text = runner.invoke(app, ["report", "--help"]).output
    for opt in ("--model", "--source", "--labels", "--out", "--max-images", "--no-maps", "--no-projection",
                "--no-stages", "--no-seg", "--no-catalogue"):
        assert opt in help_text, opt
    bad = runner.invoke(app, ["report", "--model", str(seg_weights), "--source", str(assets), "--boxes", "all",
                              "--out", str(tmp_path / "x")])
    # Typer's own error for a value outside the choices (BoxMode); the API refuses it with the same message
    assert bad.exit_code == 2 and "Invalid value for '--boxes'" in bad.output and "'all' is not one of" in bad.output
    with pytest.raises(InputError, match="--boxes must be one of auto, pred, gt, both, not 'all'"):
        build_report(str(seg_weights), str(assets), out=tmp_path / "api", boxes="all", progress=False)
    missing = runner.invoke(app, ["report", "--model", str(seg_weights), "--source", str(tmp_path / "nope"),
                                  "--out", str(tmp_path / "y")])
    assert missing.exit_code == 2 and "nope: source not found" in missing.output
    nolabels = runner.invoke(app, ["report", "--model", str(seg_weights), "--source", str(assets), "--boxes", "gt",
                                   "--out", str(tmp_path / "z")])
    assert nolabels.exit_code == 2 and "needs labels" in nolabels.output


def test_small_n_projection_settings():
    method, kw, note = tsne_settings(MIN_TSNE - 1, "tsne")
    assert method == "pca" and kw == {} and "PCA" in note
    method, kw, note = tsne_settings(26, "tsne")
    assert method == "tsne" and kw["perplexity"] == pytest.approx(25 / 3, abs=0.01) and kw["perplexity"] < 26
    assert kw["n_jobs"] == 1 and "perplexity" in note
    assert tsne_settings(10, "tsne")[1]["perplexity"] == 3.0
    method, kw, note = tsne_settings(5000, "tsne")
    assert kw["perplexity"] == 30.0 and note is None
    assert tsne_settings(8, "umap")[1] == {"n_neighbors": 7}
    assert tsne_settings(5, "pca") == ("pca", {}, None)


def test_no_objects_still_completes(assets, tmp_path):
    """Untrained weights at the usual confidence detect nothing: the object sections say why, nothing fails."""
    res = build_report("yolov8n-seg.yaml", str(assets / "bus.jpg"), out=tmp_path / "r", max_images=1, progress=False,
                       sections=("projection", "stages", "seg"), seg_instances=1)
    assert res.untrained and not res.failed and res.manifest["counts"]["objects"] == 0
    for key in ("projection", "stages"):
        assert res.sections[key].status == "skipped" and "detected no objects" in res.sections[key].note
    assert res.sections["seg"].status == "ok" and "no predicted objects" in res.sections["seg"].data["coef"]["note"]
    html = res.index.read_text()
    assert "Skipped: the model detected no objects at confidence 0.25" in html and 'id="untrained-banner"' in html
    check_links(res.out)


def test_failed_section_is_one_line_in_the_page(assets, tmp_path, monkeypatch):
    """A section that raises is one short line in the page; the full message and traceback are in report.json."""
    import dataclasses

    import yololens.report.build as build

    long_line = "x" * 5000

    def boom(ctx):
        raise RuntimeError(f"catalogue broke {long_line}\nsecond line of the message")

    specs = tuple(dataclasses.replace(s, run=boom) if s.key == "catalogue" else s for s in build.RUN_ORDER)
    monkeypatch.setattr(build, "RUN_ORDER", specs)
    res = build_report("yolov8n.yaml", str(assets / "bus.jpg"), out=tmp_path / "r", max_images=1, progress=False,
                       sections=("catalogue",))
    assert res.failed == ["catalogue"]
    note = res.sections["catalogue"].note
    assert note.startswith("RuntimeError: catalogue broke xxx") and note.endswith("…") and len(note) < 220
    html = res.index.read_text()
    body = html.split('<section class="card" id="manifest">')[0]
    assert f"This section failed: {note}." in body
    assert "Traceback" not in html and "second line" not in html and long_line not in html
    manifest = json.loads((res.out / "report.json").read_text())
    tb = manifest["sections"]["catalogue"]["traceback"]
    assert tb.startswith("Traceback (most recent call last)") and "second line of the message" in tb
    assert manifest["sections"]["catalogue"]["status"] == "failed"
