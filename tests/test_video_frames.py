"""Every command on a labelled folder of video frames (BDD100K tracking/MOTS layout; issue 11 §1).

``images/<video>/<frame>.jpg`` with one Scalabel JSON per video (``videoName``, ``frameIndex``, label ``id``
= track id), built from the real BDD frame of ../shared by :mod:`video_frames`.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner
from video_frames import FRAMES_PER_VIDEO, VIDEOS, build_video_frames

from yololens.cli.app import app
from yololens.jobs.extract import extract
from yololens.errors import InputError

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def layout(tmp_path_factory, bdd_detect):
    return build_video_frames(bdd_detect, tmp_path_factory.mktemp("video"))


@pytest.fixture(scope="module")
def both_run(layout, seg_weights, tmp_path_factory):
    images, labels = layout
    out = tmp_path_factory.mktemp("both")
    res = extract(str(seg_weights), str(images), str(labels), out=out, boxes="both", layers="9,15", progress=False)
    return out, res


def test_video_columns_carry_the_video_structure(both_run, layout):
    out, res = both_run
    t = res.to_pandas()
    gt = t[t.origin == "gt"]
    assert len(gt) == 10 * len(VIDEOS) * FRAMES_PER_VIDEO
    assert set(t.video) == set(VIDEOS) and sorted(set(t.frame_index)) == list(range(FRAMES_PER_VIDEO))
    for _, row in gt.iterrows():  # the image lives in its video's folder; the track id is the label id
        assert row.image.startswith(f"{row.video}/") and row.track_id == row.gt_id
    # one track id per physical object: the same id in every frame of its video, never in another video
    per_track = gt.groupby("track_id").agg(videos=("video", "nunique"), frames=("frame_index", "nunique"))
    assert (per_track.videos == 1).all() and (per_track.frames == FRAMES_PER_VIDEO).all()
    tp = t[(t.origin == "pred") & (t.status == "TP")]
    assert len(tp) >= 1 and tp.track_id.notna().all() and t[t.status == "FP"].track_id.isna().all()
    # the manifest records the paths as given (never a repr), so later steps can find the images
    images, labels = layout
    assert res.manifest["params"]["source"] == str(images) and res.manifest["params"]["labels"] == str(labels)


@pytest.mark.parametrize("boxes", ["gt", "pred"])
def test_extract_gt_and_pred_on_video_frames(layout, seg_weights, tmp_path, boxes):
    images, labels = layout
    res = extract(str(seg_weights), str(images), str(labels), out=tmp_path, boxes=boxes, layers=[9], progress=False)
    t = res.to_pandas()
    assert set(t.origin) == {boxes} and set(t.video) == set(VIDEOS)
    assert ("track_id" in t) and (t.track_id.notna().all() if boxes == "gt" else True)


def test_extract_given_an_opened_source_records_paths(layout, seg_weights, tmp_path):
    from yololens.sources.resolve import open_source

    images, labels = layout
    res = extract(str(seg_weights), open_source(images, labels), out=tmp_path, boxes="gt", layers=[9], progress=False)
    assert res.manifest["params"]["source"] == str(images) and "Source(" not in json.dumps(res.manifest)


def test_plot_and_stages_on_video_frames(both_run):
    out, _ = both_run
    runner = CliRunner()
    res = runner.invoke(app, ["plot", str(out), "--layer", "9", "--method", "pca", "--no-html", "--color", "video"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["stages", str(out), "--bootstrap", "50"])
    assert res.exit_code == 0, res.output
    md = (out / "stages.md").read_text()
    assert "folds grouped by video" in md and "StageOrigin: the label classes (ground-truth rows)" in md
    assert "class map default (BDD100K -> COCO); matched class pairs: car -> car" in md


def test_pool_size_that_cannot_give_a_vector_is_refused(layout, seg_weights, tmp_path):
    images, labels = layout
    for bad in (0, -3):
        with pytest.raises(InputError, match="--pool-size must be"):
            extract(str(seg_weights), str(images), str(labels), out=tmp_path, pool_size=bad, progress=False)
    assert not (tmp_path / "objects.parquet").exists()
    res = CliRunner().invoke(app, ["extract", "--model", str(seg_weights), "--source", str(images), "--labels",
                                   str(labels), "--pool-size", "0", "--out", str(tmp_path), "--no-progress"])
    # the CLI refuses it through typer's range check (min=1), the API (above) with its own line
    assert res.exit_code == 2 and "--pool-size" in res.output and "greater than or equal to 1" in res.output


def test_report_on_video_frames(layout, seg_weights, tmp_path):
    images, labels = layout
    out = tmp_path / "report"
    cmap = tmp_path / "bdd_to_coco.yaml"
    cmap.write_text("car: car\ntraffic light: traffic light\n")
    res = CliRunner().invoke(app, ["report", "--model", str(seg_weights), "--source", str(images), "--labels",
                                   str(labels), "--out", str(out), "--max-images", "1", "--seg-instances", "1",
                                   "--class-map", str(cmap), "--no-progress"])
    assert res.exit_code == 0, res.output
    report = json.loads((out / "report.json").read_text())
    status = {k: v["status"] for k, v in report["sections"].items()}
    assert {"catalogue", "maps", "projection", "stages", "seg"} <= set(status)
    assert set(status.values()) == {"ok"}, status
    html = (out / "index.html").read_text()
    assert "folds grouped by video" in html and "File name too long" not in html
    assert f"class map {cmap}; matched class pairs: car -&gt; car" in html  # the report names its map
    assert html.count("num bestval") == 4 and "nan–nan" not in html  # one best value per metric
    # plot and stages run on the report's extract folder afterwards
    runner = CliRunner()
    assert runner.invoke(app, ["plot", str(out / "extract"), "--layer", "9", "--method", "pca",
                               "--no-html"]).exit_code == 0
    assert runner.invoke(app, ["stages", str(out / "extract"), "--bootstrap", "50"]).exit_code == 0
    assert np.isfinite(json.loads((out / "extract" / "manifest.json").read_text())["counts"]["objects_total"])
