"""``--precision f32|bf16|int8`` (issue 24 item 2): resolution, the calibration set, the int8 cache, the manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from yololens.engine.backends import Backend, Precision, openvino_available, prepare_model, requested_precision
from yololens.engine.calibration import CalibrationSet
from yololens.errors import InputError, ModelError
from yololens.sources.records import ImageRecord

pytestmark = pytest.mark.skipif(not openvino_available(), reason="openvino is not installed")


def _records(folder: Path, n: int) -> list[ImageRecord]:
    return [ImageRecord(index=i, path=folder / f"{i:03d}.jpg", name=f"{i:03d}.jpg") for i in range(n)]


def test_requested_precision_and_the_half_alias():
    assert requested_precision(None) is Precision.F32
    assert requested_precision(None, half=True) is Precision.BF16
    assert requested_precision("INT8") is Precision.INT8
    assert requested_precision("bf16", half=True) is Precision.BF16
    with pytest.raises(ModelError, match="--half is --precision bf16"):
        requested_precision("int8", half=True)
    with pytest.raises(ModelError, match="not one of"):
        requested_precision("int4")


def test_int8_resolves_to_openvino_and_is_refused_on_torch():
    _, compute = prepare_model("yolov8n.yaml", device="cpu", backend="auto", precision="int8", calibration=5)
    assert compute.backend is Backend.OPENVINO and compute.int8 and compute.precision is Precision.INT8
    with pytest.raises(RuntimeError, match="calibration set"):
        compute.runner_kwargs()  # a job must pick the set from its source first
    with pytest.raises(ModelError, match="int8 runs with the OpenVINO backend"):
        prepare_model("yolov8n.yaml", device="cpu", backend="torch", precision="int8")
    with pytest.raises(InputError, match="--calibration must be >= 1"):
        prepare_model("yolov8n.yaml", device="cpu", backend="openvino", precision="int8", calibration=0)
    _, f32 = prepare_model("yolov8n.yaml", device="cpu", backend="openvino")
    assert f32.precision is Precision.F32 and f32.calibrated_on(_records(Path("/x"), 3)) is f32


def test_calibration_set_spreads_over_the_source_and_keys_by_files(tmp_path):
    records = _records(tmp_path, 10)
    for r in records:
        r.path.write_bytes(b"x" * (r.index + 1))
    chosen = CalibrationSet.of(records, 4)
    assert chosen.keys == ("000.jpg", "003.jpg", "006.jpg", "009.jpg")  # evenly over the order, both ends
    assert CalibrationSet.of(records, 4) == chosen and len(CalibrationSet.of(records, 50)) == 10
    before = chosen.fields()
    records[3].path.write_bytes(b"changed content")
    assert chosen.fields() != before  # a changed file is another calibration set (another int8 entry)


def test_int8_extract_records_precision_and_reuses_the_cache(det_weights, seed_coco_images, tmp_path, capsys):
    from yololens.jobs.extract import extract

    kw = dict(layers=[9, 15], device="cpu", precision="int8", calibration=4, progress=False, batch=2)
    res = extract(str(det_weights), str(seed_coco_images), out=tmp_path / "a", **kw)
    params = json.loads((tmp_path / "a" / "manifest.json").read_text())["params"]
    assert params["precision"] == "int8" and params["backend"] == "openvino" and params["calibration"] == 4
    assert res.objects > 0
    err = capsys.readouterr().err
    assert "calibrating on 4 images" in err
    extract(str(det_weights), str(seed_coco_images), out=tmp_path / "b", **kw)
    assert "calibrating" not in capsys.readouterr().err  # the same set: the cached int8 model
    with pytest.raises(InputError, match="different settings"):  # resuming at another precision is refused
        extract(str(det_weights), str(seed_coco_images), out=tmp_path / "a", **{**kw, "precision": "f32"})
