"""Model loading, the layer catalogue and layer-name resolution."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from yololens.cli.app import app
from yololens.errors import InputError, ModelError
from yololens.model.catalogue import build_catalogue, default_layers, resolve_layers
from yololens.model.loading import load_model


@pytest.fixture(scope="module")
def v8seg():
    return load_model("yolov8n-seg.yaml", device="cpu")


@pytest.mark.parametrize(
    "yaml,family,task,defaults",
    [
        ("yolov8n.yaml", "yolov8", "detect", [9, 15, 18, 21]),
        ("yolo11n-seg.yaml", "yolo11", "segment", [9, 16, 19, 22]),
        ("yolo26n-seg.yaml", "yolo26", "segment", [9, 16, 19, 22]),
    ],
)
def test_families_and_default_layers(yaml, family, task, defaults):
    m = load_model(yaml, device="cpu")
    assert (m.family, m.task, m.trained) == (family, task, False)
    assert default_layers(m) == defaults
    assert not any(p.requires_grad for p in m.net.parameters())


def test_catalogue_yolov8_sppf_row(v8seg):
    rows = {r.index: r for r in build_catalogue(v8seg, imgsz=640)}
    sppf = rows[9]
    assert (sppf.module, sppf.channels, sppf.height, sppf.width, sppf.stride, sppf.level, sppf.role) == (
        "SPPF", 256, 20, 20, 32, 5, "backbone")
    assert "sppf" in sppf.aliases
    assert (rows[15].stride, rows[15].role, rows[15].aliases) == (8, "neck", ("p3",))
    assert rows[22].role == "head" and rows[22].channels is None
    assert (rows["proto"].channels, rows["proto"].height, rows["proto"].stride) == (32, 160, 4)


def test_resolve_names_and_errors(v8seg):
    assert resolve_layers(v8seg, "sppf,p3,L18,21") == [9, 15, 18, 21]
    assert resolve_layers(v8seg, "proto", allow_proto=True) == ["proto"]
    with pytest.raises(InputError, match=r"layer '99' does not exist.*valid layers: 0\.\.21.*sppf"):
        resolve_layers(v8seg, "99")
    with pytest.raises(InputError, match="detection head"):
        resolve_layers(v8seg, "22")
    with pytest.raises(InputError, match="not available here"):
        resolve_layers(v8seg, "proto")


def test_proto_on_detect_model_names_the_task():
    det = load_model("yolov8n.yaml", device="cpu")
    with pytest.raises(InputError, match=r"'proto' needs a segmentation model.*'detect' model"):
        resolve_layers(det, "proto", allow_proto=True)


def test_load_errors(tmp_path):
    bogus = tmp_path / "random.pt"
    bogus.write_bytes(b"\x00not a checkpoint" * 10)
    with pytest.raises(ModelError, match="random.pt: cannot be loaded as an Ultralytics model"):
        load_model(str(bogus))
    with pytest.raises(ModelError, match="model file not found"):
        load_model(str(tmp_path / "missing" / "best.pt"))
    with pytest.raises(ModelError, match="task 'classify' is not supported"):
        load_model("yolov8n-cls.yaml")
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(ModelError, match="empty file"):
        load_model(str(empty))
    with pytest.raises(ModelError, match="--half needs a CUDA device"):
        load_model("yolov8n.yaml", device="cpu", half=True)


def test_default_model_offline_says_what_to_pass(monkeypatch):
    monkeypatch.delenv("YOLOLENS_MODEL", raising=False)
    monkeypatch.setattr("ultralytics.utils.downloads.is_online", lambda: False, raising=False)
    try:
        m = load_model(None)
    except ModelError as exc:
        assert "yolov8n-seg.pt: not found locally and could not be downloaded" in str(exc)
        assert "--model path/to/best.pt" in str(exc)
    else:  # online machine: Ultralytics fetched the official weights
        assert m.task == "segment"


def test_layers_cli_table_and_json():
    runner = CliRunner()
    res = runner.invoke(app, ["layers", "yolov8n.yaml"])
    assert res.exit_code == 0, res.output
    line = next(l for l in res.output.splitlines() if l.split()[:2] == ["9", "SPPF"])
    assert "256×20×20" in line and " 32 " in line and "backbone" in line and "sppf" in line
    res = runner.invoke(app, ["layers", "yolov8n.yaml", "--json", "--imgsz", "320"])
    data = json.loads(res.output)
    row9 = next(r for r in data["layers"] if r["index"] == 9)
    assert (row9["channels"], row9["height"], row9["stride"]) == (256, 10, 32)
    assert all(isinstance(r["index"], int) for r in data["layers"]) and data["proto"] is None  # detect: no protos
    seg = json.loads(runner.invoke(app, ["layers", "yolov8n-seg.yaml", "--json", "--imgsz", "320"]).output)
    assert [r["index"] for r in seg["layers"]] == list(range(23)) and seg["proto"]["module"] == "Proto"
    assert seg["proto"]["channels"] == 32 and "index" not in seg["proto"] and seg["proto"]["aliases"] == ["proto"]
    res = runner.invoke(app, ["layers", "nope.pt"])
    assert res.exit_code == 2 and "nope.pt: model file not found" in res.output
