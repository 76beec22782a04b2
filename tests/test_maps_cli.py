"""``yololens maps`` end to end through Typer's CliRunner."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from yololens.cli.app import app
from yololens.cli.common import EXIT_FATAL, EXIT_OK, EXIT_SKIPPED


def _invoke(*args: str):
    return CliRunner().invoke(app, ["maps", *args, "--no-progress"])


@pytest.fixture()
def folder(assets, tmp_path):
    """bus.jpg twice (two sub-folders: same stem), zidane.jpg, and one broken file."""
    src = tmp_path / "src"
    for sub in ("a", "b"):
        (src / sub).mkdir(parents=True)
        shutil.copy(assets / "bus.jpg", src / sub / "bus.jpg")
    shutil.copy(assets / "zidane.jpg", src / "zidane.jpg")
    (src / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    return src


def test_cli_yaml_model_folder_with_a_bad_image(folder, tmp_path):
    out = tmp_path / "out"
    result = _invoke("--model", "yolov8n.yaml", "--source", str(folder), "--layers", "4,sppf", "--out", str(out),
                     "--channels", "4", "--batch", "2", "--imgsz", "320", "--no-npy", "--rank", "variance", "--heatmap", "energy")
    assert result.exit_code == EXIT_SKIPPED, result.output
    assert "skipped broken.jpg" in result.output
    assert "maps: 3 images, 2 layers, 22 files written, 1 skipped" in result.output
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["a__bus_jpg", "b__bus_jpg", "zidane_jpg"]
    files = sorted(p.name for p in (out / "b__bus_jpg").iterdir())
    assert files == ["L4_C2f_channels.png", "L4_C2f_overlay.png", "L4_C2f_pca.png", "L9_SPPF_channels.png",
                     "L9_SPPF_overlay.png", "L9_SPPF_pca.png", "overview.png"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["options"]["rank"] == "variance" and manifest["options"]["npy"] is False
    assert manifest["counts"]["skipped"] == 1 and manifest["skipped"][0]["file"] == "broken.jpg"


def test_cli_bad_layer_exits_2_with_one_line_listing_valid_layers(assets, tmp_path):
    result = _invoke("--model", "yolov8n.yaml", "--source", str(assets / "bus.jpg"), "--layers", "2,42",
                     "--out", str(tmp_path / "out"))
    assert result.exit_code == EXIT_FATAL, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: layer '42' does not exist")
    assert "valid layers: 0..21" in lines[0] and "sppf" in lines[0]


def test_cli_bad_option_value_exits_2(assets, tmp_path):
    result = _invoke("--model", "yolov8n.yaml", "--source", str(assets / "bus.jpg"), "--dtype", "int8",
                     "--out", str(tmp_path / "out"))
    assert result.exit_code == EXIT_FATAL and "--dtype must be one of float16, float32" in result.output


def test_cli_real_weights_one_image(det_weights, assets, tmp_path):
    out = tmp_path / "out"
    result = _invoke("--model", str(det_weights), "--source", str(assets / "zidane.jpg"), "--layers", "p3,p4,p5",
                     "--out", str(out), "--channels", "8", "--shared-scale", "--no-figures", "--dtype", "float32")
    assert result.exit_code == EXIT_OK, result.output
    assert "maps: 1 images, 3 layers, 7 files written, 0 skipped" in result.output
    shapes = {p.stem: np.load(p).shape for p in (out / "zidane_jpg").glob("*.npy")}
    # 1280x720 -> 640x384 input (minimal rect letterbox); P3/P4/P5 = strides 8/16/32
    assert shapes == {"L15_C2f": (64, 48, 80), "L18_C2f": (128, 24, 40), "L21_C2f": (256, 12, 20)}
    meta = json.loads((out / "zidane_jpg" / "L21_C2f.json").read_text())
    assert meta["letterbox"]["orig_shape"] == [720, 1280] and meta["letterbox"]["pad"] == [0, 12]
    assert meta["content_cells"]["rows"] == [0, 12]  # 12 px pad = 3/8 cell: every row's centre is inside
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"]["trained"] is True and manifest["model"]["sha256"]
