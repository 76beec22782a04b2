"""``yololens compare`` (issue 20 item 3): gt status transitions, false positives per model, same-role stages side
by side with paired intervals, the cross-model CKA diagonal, and compare.html; two models with different class
lists; real weights."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner
from video_frames import build_video_frames

from yololens.analysis.synthetic import make_model_runs
from yololens.cli.app import app
from yololens.jobs.compare import compare


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A 3-class model (A) against a 2-class one (B: its FPs are only car/person), B's features noisier, B's rows
    shuffled."""
    d = tmp_path_factory.mktemp("cmp")
    return make_model_runs(d / "a3", d / "b2", 240, names_b=("car", "person"), noise_b=6.0, seed=3)


def _statuses(run) -> pd.DataFrame:
    df = pd.read_parquet(run / "objects.parquet")
    return df[df.origin == "gt"][["gt_id", "class_name", "status"]]


def test_transitions_match_an_independent_count(pair):
    a, b = pair
    res = compare(a, b, bootstrap=200, save=False)
    ref = _statuses(a).merge(_statuses(b), on=["gt_id", "class_name"], suffixes=("_a", "_b"))
    expected = ref.groupby(["class_name", "status_a", "status_b"]).size()
    gt = res.transitions[res.transitions.kind == "gt"].set_index(["class_name", "from", "to"])["count"]
    assert gt.to_dict() == expected.to_dict()
    assert gt.sum() == len(_statuses(a)) == 240  # the gt rows add up to the gt objects
    for run, name in ((a, "a3"), (b, "b2")):
        df = pd.read_parquet(run / "objects.parquet")
        fp = df[(df.origin == "pred") & (df.status == "FP")].groupby("class_name").size().to_dict()
        got = res.transitions[(res.transitions.kind == "fp") & (res.transitions.run == name)]
        assert dict(zip(got.class_name, got["count"])) == fp
    assert set(res.transitions[(res.transitions.kind == "fp") & (res.transitions.run == "b2")].class_name) <= {"car", "person"}
    moved = int((ref.status_a == "FN").mul(ref.status_b == "TP").sum())
    assert res.moved("FN", "TP") == moved and f"FN->TP {moved}" in res.headline


def test_paired_stage_metrics(pair):
    a, b = pair
    res = compare(a, b, bootstrap=300, save=False)
    s = res.stages.set_index("role")
    assert list(s.index) == ["backbone", "p3", "p4", "p5"]
    assert s.loc["p3", "stage_a"] == "L15 (P3 neck, stride 8)" and (s["n"] == 240).all()
    assert np.allclose(s["knn_acc_diff"], s["knn_acc_b"] - s["knn_acc_a"])
    # B is A plus heavy noise: clearly worse, and the paired interval says so
    assert (s["knn_acc_diff_hi"] < 0).all() and (s["knn_acc_diff_lo"] <= s["knn_acc_diff"]).all()
    assert ((s["cka"] > 0) & (s["cka"] < 0.9)).all() and res.cka["p3"] == pytest.approx(s.loc["p3", "cka"])


def test_cli_writes_files_and_answers_first(pair, tmp_path):
    a, b = pair
    out = tmp_path / "cmp"
    res = CliRunner().invoke(app, ["compare", str(a), str(b), "--out", str(out), "--bootstrap", "100"])
    assert res.exit_code == 0, res.output
    assert res.output.startswith("b2 finds ") and " of 240 gt objects, a3 " in res.output.splitlines()[0]
    tr = pd.read_csv(out / "transitions.csv", keep_default_na=False)
    assert list(tr.columns) == ["kind", "run", "class_name", "from", "to", "count"]
    assert tr[tr.kind == "gt"]["count"].sum() == 240
    assert "All rows add up to 240 gt objects." in (out / "compare.md").read_text()
    page = (out / "compare.html").read_text()
    assert "<script src" not in page and "http" not in page.split("<script")[1]  # self-contained
    data = json.loads(page.split('<script type="application/json" id="data">')[1].split("</script>")[0])
    assert len(data["objects"]) == 240 and len(data["xy"][0]) == len(data["xy"][1]) == 240


def test_different_source_is_refused(pair, tmp_path):
    a, _ = pair
    other = tmp_path / "other"
    shutil.copytree(a, other)
    man = json.loads((other / "manifest.json").read_text())
    man["params"]["source"] = "elsewhere/images"
    (other / "manifest.json").write_text(json.dumps(man))
    res = CliRunner().invoke(app, ["compare", str(a), str(other)])
    assert res.exit_code == 2 and res.output.count("\n") == 1 and "not the same source" in res.output


@pytest.fixture(scope="module")
def page(pair, tmp_path_factory):
    import shutil as sh

    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = sh.which("chromium") or sh.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium on PATH")
    a, b = pair
    out = tmp_path_factory.mktemp("page")
    compare(a, b, out=out, bootstrap=50)
    pw = sync_api.sync_playwright().start()
    browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
    pg = browser.new_page(viewport={"width": 1300, "height": 1600})
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.route("http*://**", lambda route: route.abort())
    pg.goto((out / "compare.html").as_uri())
    yield pg
    browser.close()
    pw.stop()


@pytest.mark.browser
def test_page_links_the_two_maps(page):
    """A rectangle dragged over the whole left map selects every object shown, in both maps; 'only changed'
    keeps only the objects whose status moved."""
    assert page.errors == []
    box = page.locator("#p0").bounding_box()
    page.mouse.move(box["x"] + 2, box["y"] + 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 2, box["y"] + box["height"] - 2)
    page.mouse.up()
    assert page.locator("#count").text_content() == "240 selected (both panels)"
    assert page.locator("#rows tr").count() == 200  # the list shows the first 200
    page.check("#changed")
    n_changed = page.evaluate("D.objects.filter(o => o.a !== o.b).length")
    assert 0 < n_changed < 240 and page.locator("#rows tr").count() == n_changed
    assert page.errors == []


def test_real_weights_detect_vs_seg(det_weights, seg_weights, bdd_detect, tmp_path):
    """Two real COCO models (detect, seg) on video frames built from the real BDD frame (12 frames, 120 gt)."""
    from yololens.jobs.extract import extract

    images, labels = build_video_frames(bdd_detect, tmp_path / "frames")
    runs = []
    for w, name in ((det_weights, "det"), (seg_weights, "seg")):
        runs.append(tmp_path / name)
        extract(str(w), str(images), labels=str(labels), boxes="both", out=runs[-1], progress=False)
    res = compare(runs[0], runs[1], bootstrap=100, out=tmp_path / "cmp")
    n_gt = int((pd.read_parquet(runs[0] / "objects.parquet", columns=["origin"]).origin == "gt").sum())
    assert n_gt == 120 and len(res.objects) == 120
    assert res.transitions[res.transitions.kind == "gt"]["count"].sum() == 120
    st = {(r.status_a, r.status_b) for r in res.objects.itertuples()}
    assert st <= {("TP", "TP"), ("TP", "FN"), ("FN", "TP"), ("FN", "FN")}
    assert sorted(res.cka) == ["backbone", "p3", "p4", "p5"] and all(-0.2 < v <= 1.0 + 1e-9 for v in res.cka.values())
    assert list(res.stages["role"]) == ["backbone", "p3", "p4", "p5"]
    assert (tmp_path / "cmp" / "compare.html").is_file()


def test_notebook_repr(pair, tmp_path):
    a, b = pair
    res = compare(a, b, bootstrap=50, out=tmp_path / "c")
    html = res._repr_html_()
    import html as h

    assert h.escape(res.headline, quote=False) in html and "compare.html" in html and "<table>" in html
    assert repr(res).splitlines()[0].endswith(res.headline)


def test_real_coco80_against_an_untrained_2_class_model(det_weights, bdd_detect, tmp_path):
    """Different class lists on real models: COCO-80 weights against a 2-class YOLOv8n built from its yaml
    (untrained: at a tiny --conf it predicts junk boxes of classes '0'/'1', which its own matching calls FP).
    Every gt row is counted once, and the 2-class run's false positives carry only its own class names."""
    from pathlib import Path

    import ultralytics

    from yololens.jobs.extract import extract

    yaml = (Path(ultralytics.__file__).parent / "cfg/models/v8/yolov8.yaml").read_text()
    two = tmp_path / "yolov8n-2cls.yaml"
    two.write_text(yaml.replace("nc: 80", "nc: 2", 1))
    src, labels = str(bdd_detect / "images"), str(bdd_detect / "labels" / "annotation.json")
    extract(str(det_weights), src, labels=labels, boxes="both", out=tmp_path / "coco80", progress=False)
    extract(str(two), src, labels=labels, boxes="both", out=tmp_path / "two", conf=0.0001, max_det=50, progress=False)
    res = compare(tmp_path / "coco80", tmp_path / "two", bootstrap=50, out=tmp_path / "cmp")
    gt = res.transitions[res.transitions.kind == "gt"]
    assert gt["count"].sum() == 10 and set(gt["to"]) == {"FN"}
    found = int((res.objects.status_a == "TP").sum())
    assert res.moved("TP", "FN") == found and f"TP->FN {found}" in res.headline
    fp_two = res.transitions[(res.transitions.kind == "fp") & (res.transitions.run == "two")]
    names = json.loads((tmp_path / "two" / "manifest.json").read_text())["model"]["names"]
    assert set(fp_two.class_name) <= set(names.values()) and fp_two["count"].sum() > 0
    assert res.metrics_note.startswith("not enough objects to compare stages: car 4")
