"""`yololens extract` end to end: BDD ground truth, resume, bad input, exit codes, locking."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from yololens.cli.app import app
from yololens.jobs.extract import extract, load_objects
from yololens.errors import InputError
from yololens.objects import ObjectSchema
from yololens.store.table import ResumableTable
from yololens.store.lock import DirectoryLock


@pytest.fixture()
def folder(tmp_path, assets):
    d = tmp_path / "imgs"
    (d / "sub").mkdir(parents=True)
    shutil.copy(assets / "bus.jpg", d / "a_bus.jpg")
    shutil.copy(assets / "zidane.jpg", d / "b_zidane.jpg")
    shutil.copy(assets / "bus.jpg", d / "sub" / "c_bus.jpg")
    return d


def test_bdd_ground_truth_rows_equal_json(bdd_detect, det_weights, tmp_path):
    labels = bdd_detect / "labels" / "annotation.json"
    res = extract(str(det_weights), str(bdd_detect / "images"), str(labels), out=tmp_path, boxes="gt",
                  layers="sppf,p3", progress=False)
    frame = json.loads(labels.read_text())
    frame = frame[0] if isinstance(frame, list) else frame["frames"][0]
    boxed = [lab for lab in frame["labels"] if "box2d" in lab]
    t = res.to_pandas()
    assert len(t) == len(boxed) == 10
    assert t["class_name"].value_counts().to_dict() == {"traffic light": 5, "car": 4, "traffic sign": 1}
    for (_, row), lab in zip(t.iterrows(), boxed):
        b = lab["box2d"]
        np.testing.assert_allclose([row.x1, row.y1, row.x2, row.y2], [b["x1"], b["y1"], b["x2"], b["y2"]], atol=1e-3)
        assert row.gt_id == str(lab["id"]) and row.origin == "gt" and row.class_name == lab["category"]
        assert row.attr_occluded == lab["attributes"]["occluded"]
        assert row.attr_trafficLightColor == lab["attributes"]["trafficLightColor"]
    assert set(t["attr_weather"]) == {frame["attributes"]["weather"]}
    assert set(t["attr_timeofday"]) == {frame["attributes"]["timeofday"]}
    assert len(t["emb_L9"][0]) == 256 and len(t["emb_L15"][0]) == 64
    assert res.manifest["model"]["sha256"] == "b214fe2c550c6e8abf568dd97d4f2c7721b264454c9d11cd58f49c69a99452bf"
    # the typed counts are the manifest's
    assert res.counts.objects_total == res.counts.objects_written == 10 and res.counts.images_processed == 1
    assert res.counts.to_dict() == res.manifest["counts"]
    # analysis reads the rows back as one Objects batch, equal to the table
    from yololens.analysis.table import read_objects

    objs = read_objects(tmp_path)
    assert len(objs) == 10 and objs.gt_id == t["gt_id"].tolist() and set(objs.origin) == {"gt"}
    np.testing.assert_array_equal(objs.boxes, t[["x1", "y1", "x2", "y2"]].to_numpy(np.float32))
    np.testing.assert_array_equal(objs.embeddings["emb_L9"], np.stack(t["emb_L9"]))
    assert objs.to_table(ObjectSchema({c: len(t[c][0]) for c in ("emb_L9", "emb_L15")},
                                      attr_types={c: res.table().schema.field(c).type for c in t if c.startswith("attr_")})
                         ).equals(res.table().replace_schema_metadata(None))


def test_boxes_both_matches_predictions(bdd_detect, det_weights, tmp_path):
    res = extract(str(det_weights), str(bdd_detect / "images"), str(bdd_detect / "labels" / "annotation.json"),
                  out=tmp_path, boxes="both", layers=[9], progress=False)
    t = res.to_pandas()
    gt, pred = t[t.origin == "gt"], t[t.origin == "pred"]
    assert set(gt.status) <= {"TP", "FN"} and set(pred.status) <= {"TP", "FP"}
    assert (gt.status == "TP").sum() == (pred.status == "TP").sum() >= 1
    tp = pred[pred.status == "TP"].iloc[0]
    partner = gt[gt.gt_id == tp.gt_id].iloc[0]
    assert partner.status == "TP" and tp.match_iou >= 0.5 and tp.class_name == partner.class_name == "car"
    assert pred.score.notna().all() and gt.score.isna().all()


def test_resume_equals_uninterrupted_run(folder, det_weights, tmp_path, monkeypatch):
    clean = extract(str(det_weights), str(folder), out=tmp_path / "clean", layers=[9, 15], batch=2,
                    window=1, progress=False).table()
    # Interrupted run: only the first image's window made it (Ctrl-C right after its part); the rerun does the rest.
    write_part = ResumableTable.write_part

    def write_then_interrupt(self, *args, **kwargs):
        write_part(self, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(ResumableTable, "write_part", write_then_interrupt)
    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        extract(str(det_weights), str(folder), out=out, layers=[9, 15], batch=2, window=1, progress=False)
    monkeypatch.undo()
    res = extract(str(det_weights), str(folder), out=out, layers=[9, 15], batch=2, window=1, progress=False)
    assert res.manifest["counts"]["images_resumed"] == 1 and res.manifest["counts"]["images_processed"] == 2
    resumed = load_objects(out)
    assert resumed.drop(["image_index", "object_id"]).equals(clean.drop(["image_index", "object_id"]))
    assert resumed.column("image").to_pylist() == clean.column("image").to_pylist()
    # A third run has nothing left to do and keeps the table as it is.
    again = extract(str(det_weights), str(folder), out=out, layers=[9, 15], progress=False)
    assert again.manifest["counts"]["images_processed"] == 0 and pq.read_table(again.table_path).equals(resumed)


def test_changed_settings_refuse_to_mix(folder, det_weights, tmp_path):
    extract(str(det_weights), str(folder / "sub"), out=tmp_path / "o", layers=[9], progress=False)
    with pytest.raises(InputError, match=r"different settings \(layers\).*--overwrite"):
        extract(str(det_weights), str(folder / "sub"), out=tmp_path / "o", layers=[15], progress=False)
    res = extract(str(det_weights), str(folder / "sub"), out=tmp_path / "o", layers=[15], overwrite=True, progress=False)
    assert "emb_L15" in res.table().column_names and "emb_L9" not in res.table().column_names


def test_cli_bad_image_skipped_exit_1_and_strict(folder, det_weights, tmp_path):
    (folder / "zero.jpg").write_bytes(b"")
    (folder / "text.png").write_text("not an image")
    runner = CliRunner()
    args = ["extract", "--model", str(det_weights), "--source", str(folder), "--layers", "9", "--no-progress"]
    res = runner.invoke(app, args + ["--out", str(tmp_path / "o1")])
    assert res.exit_code == 1, res.output
    assert "zero.jpg" in res.output and "empty file" in res.output and "text.png" in res.output
    assert "3 images processed" in res.output and "2 skipped" in res.output
    manifest = json.loads((tmp_path / "o1" / "manifest.json").read_text())
    assert {s["file"] for s in manifest["skipped"]} >= {"zero.jpg", "text.png"}
    assert pq.read_table(tmp_path / "o1" / "objects.parquet").column("image").unique().to_pylist() == [
        "a_bus.jpg", "b_zidane.jpg", "sub/c_bus.jpg"]
    res = runner.invoke(app, args + ["--out", str(tmp_path / "o2"), "--strict"])
    assert res.exit_code == 2 and "--strict" in res.output


def test_cli_errors_are_one_line(det_weights, tmp_path, folder):
    runner = CliRunner()
    res = runner.invoke(app, ["extract", "--model", str(det_weights), "--source", str(tmp_path / "nope"),
                              "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and res.output.strip().count("\n") == 0 and "nope" in res.output
    res = runner.invoke(app, ["extract", "--model", str(det_weights), "--source", str(folder), "--layers", "77",
                              "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "valid layers" in res.output
    res = runner.invoke(app, ["extract", "--model", str(det_weights), "--source", str(folder), "--boxes", "gt",
                              "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "needs labels" in res.output
    with DirectoryLock(tmp_path / "locked"):
        res = runner.invoke(app, ["extract", "--model", str(det_weights), "--source", str(folder),
                                  "--out", str(tmp_path / "locked")])
    assert res.exit_code == 3 and "in use" in res.output
