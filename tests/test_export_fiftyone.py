"""``yololens export fiftyone``: the folder reads back through FiftyOne's own importer (no database needed);
``to_fiftyone`` (a real ``fiftyone.Dataset``) runs only where a MongoDB is reachable."""

from __future__ import annotations

import os
import shutil
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from yololens.cli.app import app
from yololens.jobs.export_fiftyone import FIELDS, export_fiftyone, read_embeddings
from yololens.types import ExportMedia



@pytest.fixture(scope="module")
def importers():
    return pytest.importorskip("fiftyone.utils.data.importers", reason='needs FiftyOne (pip install "yololens[fiftyone]")')


@pytest.fixture(scope="module")
def run(synthetic_run):
    return synthetic_run


@pytest.fixture(scope="module")
def table(run):
    return pq.read_table(run / "objects.parquet").to_pandas().set_index("object_id", drop=False)


def _read_back_labels(folder) -> list[tuple[str, dict]]:
    """Every sample through FiftyOne's own ``FiftyOneImageLabelsDatasetImporter``: (image path, {field: label})."""
    from fiftyone.utils.data.importers import FiftyOneImageLabelsDatasetImporter

    importer = FiftyOneImageLabelsDatasetImporter(str(folder))
    with importer:
        return [(path, labels) for path, _, labels in importer]


def _read_back(folder) -> list[tuple[str, dict]]:
    """(image path, {detection field: list of Detection}) per sample."""
    return [(path, {k: v.detections for k, v in labels.items() if k in FIELDS.values()})
            for path, labels in _read_back_labels(folder)]


def test_export_reads_back_through_fiftyone_importer(run, table, tmp_path, importers):
    res = export_fiftyone(run, tmp_path / "ds")
    samples = _read_back(tmp_path / "ds")
    assert res.images == len(samples) == 5 and not res.skips
    seen = []
    for path, fields in samples:
        assert os.path.islink(path)  # --media symlink: links to the originals
        image = None
        for origin, fld in FIELDS.items():
            for det in fields.get(fld, []):
                row = table.loc[det["object_id"]]
                image = row["image"]
                seen.append(det["object_id"])
                assert row["origin"] == origin
                assert det.label == row["class_name"]
                w, h = float(row["image_w"]), float(row["image_h"])
                want = [row["x1"] / w, row["y1"] / h, (row["x2"] - row["x1"]) / w, (row["y2"] - row["y1"]) / h]
                np.testing.assert_allclose(det.bounding_box, want, rtol=1e-6)
                assert all(0.0 <= v <= 1.0 for v in det.bounding_box)
                if origin == "pred":
                    assert det.confidence == pytest.approx(float(row["score"]), rel=1e-6)
                else:
                    assert det.confidence is None
                assert det["status"] == row["status"]
                assert det["attr_weather"] == row["attr_weather"] and det["attr_timeofday"] == row["attr_timeofday"]
                assert bool(det["attr_occluded"]) == bool(row["attr_occluded"])
                assert det["class_id"] == row["class_id"]
        assert os.path.realpath(path) == os.path.realpath(run / image)
        per_image = table[table["image"] == image]
        for origin, fld in FIELDS.items():
            assert len(fields.get(fld, [])) == int((per_image["origin"] == origin).sum())
    assert sorted(seen) == sorted(table["object_id"])  # every object exactly once
    assert res.detections == {"ground_truth": int((table["origin"] == "gt").sum()),
                              "predictions": int((table["origin"] == "pred").sum())}


def test_embeddings_are_aligned_with_the_detections(run, table, tmp_path, importers):
    export_fiftyone(run, tmp_path / "ds", layers="9,coef")
    index, emb = read_embeddings(tmp_path / "ds")
    assert sorted(emb) == ["L9", "coef"] and len(index) == len(table)
    assert emb["L9"].dtype == np.float32 and emb["L9"].shape == (len(table), 16)
    for i in (0, 17, len(index) - 1):
        row = table.loc[index["object_id"].iat[i]]
        np.testing.assert_array_equal(emb["L9"][i], np.asarray(row["emb_L9"], dtype=np.float32))
        assert index["field"].iat[i] == FIELDS[row["origin"]]
    gt = (index["field"] == "ground_truth").to_numpy()
    assert np.isnan(emb["coef"][gt]).all() and np.isfinite(emb["coef"][~gt]).all()  # coef: predictions only


def test_copy_media_and_overwrite(run, tmp_path, importers):
    export_fiftyone(run, tmp_path / "ds", media=ExportMedia.COPY)
    paths = [p for p, _ in _read_back(tmp_path / "ds")]
    assert all(os.path.isfile(p) and not os.path.islink(p) for p in paths)
    with pytest.raises(Exception, match="already exists"):
        export_fiftyone(run, tmp_path / "ds")
    export_fiftyone(run, tmp_path / "ds", overwrite=True)
    assert [n for n in os.listdir(tmp_path) if n.startswith(".")] == []  # no temp folder left beside it


@pytest.mark.reliability
def test_missing_image_is_one_line_and_exit_1(run, tmp_path, importers):
    broken = tmp_path / "run"
    shutil.copytree(run, broken)
    (broken / "images" / "frame_002.jpg").unlink()
    res = CliRunner().invoke(app, ["export", "fiftyone", str(broken), "--out", str(tmp_path / "ds")])
    assert res.exit_code == 1, res.output
    lines = [line for line in res.output.splitlines() if line.startswith("skipped")]
    assert lines == ["skipped images/frame_002.jpg: image not found under the run's source or --images-root (skipped)"]
    assert "4 images" in res.output and "1 skipped" in res.output
    assert len(_read_back(tmp_path / "ds")) == 4


def test_without_fiftyone_the_export_says_how_to_install_it(run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "fiftyone.core.labels", None)  # import fails as if FiftyOne were absent
    res = CliRunner().invoke(app, ["export", "fiftyone", str(run), "--out", str(tmp_path / "ds")])
    assert res.exit_code == 2
    assert res.output.strip() == 'error: the FiftyOne export needs the optional extra: pip install "yololens[fiftyone]"'
    assert not (tmp_path / "ds").exists()


def _mongo_or_skip() -> None:
    uri = os.environ.get("FIFTYONE_DATABASE_URI", "mongodb://localhost:27017")
    try:
        import pymongo

        pymongo.MongoClient(uri, serverSelectionTimeoutMS=1500).server_info()
    except Exception as exc:  # noqa: BLE001 - any failure means "no database here"
        pytest.skip(f"no MongoDB reachable at {uri} ({type(exc).__name__}); FiftyOne's own database "
                    "(fiftyone-db) downloads MongoDB at install time, which fails offline")
    os.environ["FIFTYONE_DATABASE_URI"] = uri


def test_to_fiftyone_dataset_and_brain_visualization(run, table, tmp_path, importers):
    _mongo_or_skip()
    import fiftyone.brain as fob

    import yololens

    ds = yololens.to_fiftyone(run, export_dir=tmp_path / "ds")
    try:
        assert len(ds) == 5
        assert ds.count("predictions.detections") == int((table["origin"] == "pred").sum())
        vecs = ds.values("predictions.detections.emb_L9", unwind=True)
        assert all(v is not None and len(v) == 16 for v in vecs)
        viz = fob.compute_visualization(ds, patches_field="predictions", embeddings="emb_L9", method="pca",
                                        brain_key="yololens_l9")
        assert viz.points.shape == (int((table["origin"] == "pred").sum()), 2)
    finally:
        ds.delete()


def test_per_image_attributes_become_sample_fields(run, tmp_path, importers):
    """An attribute with one value per image (BDD's weather) is also a sample-level classification."""
    import pyarrow as pa

    frames = tmp_path / "run"
    shutil.copytree(run, frames)
    tbl = pq.read_table(frames / "objects.parquet")
    weather = np.asarray(["clear", "rainy", "snowy", "overcast", "foggy"], dtype=object)[tbl["image_index"].to_numpy()]
    tbl = tbl.set_column(tbl.schema.get_field_index("attr_weather"), "attr_weather", pa.array(weather, pa.string()))
    # a label attribute: one value per image too, but on ground-truth rows only -> stays on the detections
    occluded = [bool(i % 2) if o == "gt" else None for i, o in zip(tbl["image_index"].to_numpy(), tbl["origin"].to_numpy())]
    tbl = tbl.set_column(tbl.schema.get_field_index("attr_occluded"), "attr_occluded", pa.array(occluded, pa.bool_()))
    pq.write_table(tbl, frames / "objects.parquet")
    export_fiftyone(frames, tmp_path / "ds")
    for path, fields in _read_back_labels(tmp_path / "ds"):
        image = os.path.basename(os.path.realpath(path))
        want = weather[tbl["image"].to_numpy() == f"images/{image}"][0]
        assert fields["weather"].label == want
        assert "occluded" not in fields and "attr_occluded" not in fields
        assert {d["attr_occluded"] for d in fields["ground_truth"].detections} <= {True, False}
        assert all(d["attr_weather"] == want for d in fields["predictions"].detections)
