"""The maps job: saved tensors equal the hooked activations, overlays keep the original size, figures are not blank."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from yololens.jobs.maps import maps
from yololens.engine.runner import Runner
from yololens.errors import InputError
from yololens.figures.featuremaps import OverviewRow, channel_grid_figure, overview_figure
from yololens.model.loading import load_model
from yololens.sources.images import decode_image
from yololens.store.atomic import save_figure


def assert_not_blank(png: Path, min_std: float = 10.0, min_colours: int = 50) -> np.ndarray:
    """A figure with content: pixel spread and many distinct colours (not one flat fill)."""
    image = cv2.imread(str(png), cv2.IMREAD_COLOR)
    assert image is not None, f"{png} is not a readable PNG"
    packed = image.reshape(-1, 3).astype(np.int32) @ np.array([1, 256, 65536], np.int32)  # one int per colour
    colours = np.unique(packed)
    assert image.std() > min_std, f"{png}: std {image.std():.1f}"
    assert len(colours) >= min_colours, f"{png}: only {len(colours)} colours"
    return image


@pytest.fixture(scope="module")
def yaml_model():
    return load_model("yolov8n.yaml", device="cpu")  # random weights: load once, share with the Runner


@pytest.fixture(scope="module")
def images(assets, tmp_path_factory) -> list[Path]:
    """bus.jpg (810x1080) and zidane.jpg (1280x720): two shapes, so batches split by shape."""
    folder = tmp_path_factory.mktemp("imgs")
    return [Path(shutil.copy(assets / n, folder / n)) for n in ("bus.jpg", "zidane.jpg")]


@pytest.fixture(scope="module")
def yaml_run(yaml_model, images, tmp_path_factory):
    out = tmp_path_factory.mktemp("maps")
    return maps(yaml_model, [str(p) for p in images], layers="2,sppf,p3", out=out, batch=2, channels=6,
                dtype="float32", progress=False)


def _hooked(model, image_path: Path, layers, imgsz: int = 640) -> dict:
    result = Runner(model, layers=layers, imgsz=imgsz, predict=False).run([decode_image(image_path)])
    return {k: v.float().cpu().numpy() for k, v in result.images[0].features.items()}


def test_float32_tensors_equal_the_hooked_activations(yaml_model, images, yaml_run):
    assert yaml_run.layers == [2, 9, 15]
    for path in images:
        folder = yaml_run.out / path.name.replace(".", "_")
        expected = _hooked(yaml_model, path, [2, 9, 15])
        for stem, layer in (("L2_C2f", 2), ("L9_SPPF", 9), ("L15_C2f", 15)):
            saved = np.load(folder / f"{stem}.npy")
            assert saved.dtype == np.float32
            np.testing.assert_array_equal(saved, expected[layer])


def test_sidecar_holds_letterbox_metadata(yaml_run, images):
    meta = json.loads((yaml_run.out / "bus_jpg" / "L9_SPPF.json").read_text())
    assert meta["module"] == "SPPF" and meta["layer"] == 9 and meta["dtype"] == "float32"
    assert meta["letterbox"]["orig_shape"] == [1080, 810]
    assert meta["letterbox"]["input_shape"] == [640, 480]  # one image per shape: minimal rect letterbox
    c, h, w = meta["shape"]
    assert (c, h, w) == (256, 20, 15) and meta["stride"] == 32
    assert meta["ratio_pad"] == [meta["letterbox"]["gain"], meta["letterbox"]["pad"]]
    assert len(meta["ranking"]["channels"]) == 6 and meta["ranking"]["method"] == "energy"
    scores = meta["ranking"]["scores"]
    assert scores == sorted(scores, reverse=True)


def test_overlay_and_pca_have_the_original_size(yaml_run, images):
    for path in images:
        h0, w0 = cv2.imread(str(path)).shape[:2]
        for layer in ("L2_C2f", "L9_SPPF", "L15_C2f"):
            for kind in ("overlay", "pca"):
                image = cv2.imread(str(yaml_run.out / path.name.replace(".", "_") / f"{layer}_{kind}.png"))
                assert image.shape == (h0, w0, 3), (path.name, layer, kind)


def test_figures_are_not_blank(yaml_run, images):
    for path in images:
        folder = yaml_run.out / path.name.replace(".", "_")
        overview = assert_not_blank(folder / "overview.png")
        assert overview.shape[0] > 3 * 150  # one row per layer
        assert_not_blank(folder / "L2_C2f_channels.png")
        assert_not_blank(folder / "L15_C2f_overlay.png")
        assert_not_blank(folder / "L15_C2f_pca.png", min_std=5)


def test_manifest_and_result(yaml_run):
    manifest = json.loads(yaml_run.manifest.read_text())
    assert manifest["counts"] == {"images": 2, "layers": 3, "files": yaml_run.files_written, "skipped": 0}
    assert [m["image"].split("/")[-1] for m in manifest["images"]] == ["bus.jpg", "zidane.jpg"]  # source order
    assert [layer["files"] for layer in manifest["layers"]] == ["L2_C2f", "L9_SPPF", "L15_C2f"]
    assert manifest["layers"][1]["channels"] == 256 and manifest["layers"][1]["stride"] == 32
    assert manifest["model"]["source"] == "yolov8n.yaml" and "ultralytics" in manifest["versions"]
    # 3 layers x (npy, json, channels, overlay, pca) + overview, per image; + manifest
    assert yaml_run.files_written == 2 * (3 * 5 + 1) + 1
    assert "2 images, 3 layers, 33 files written, 0 skipped" in yaml_run.summary()


def test_float16_default_rounds_the_activations(yaml_model, images, tmp_path):
    result = maps(yaml_model, [str(images[0])], layers="4", out=tmp_path, figures=False, imgsz=320, progress=False)
    saved = np.load(tmp_path / "bus_jpg" / "L4_C2f.npy")
    expected = _hooked(yaml_model, images[0], [4], imgsz=320)[4]
    assert saved.dtype == np.float16
    np.testing.assert_array_equal(saved, expected.astype(np.float16))
    np.testing.assert_allclose(saved.astype(np.float32), expected, rtol=1e-3, atol=1e-4)
    assert sorted(p.name for p in (tmp_path / "bus_jpg").iterdir()) == ["L4_C2f.json", "L4_C2f.npy"]
    assert result.files_written == 3


def test_bad_layer_lists_the_valid_ones(yaml_model, images, tmp_path):
    with pytest.raises(InputError, match=r"layer '99' does not exist.*valid layers: 0\.\.21.*p3, p4, p5, sppf"):
        maps(yaml_model, [str(images[0])], layers="2,99", out=tmp_path, progress=False)
    assert not (tmp_path / "manifest.json").exists()


def test_bad_images_are_skipped_and_the_run_goes_on(yaml_model, images, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    seen = []
    result = maps(yaml_model, [str(bad), str(images[0])], layers="9", out=tmp_path / "out", channels=4, imgsz=320,
                  progress=False, on_skip=seen.append)
    assert [s.file for s in result.skips] == [str(bad)] and seen == result.skips
    assert [m.folder for m in result.images] == ["bus_jpg"]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["counts"]["skipped"] == 1 and manifest["skipped"][0]["file"] == str(bad)


def test_channel_grid_figure_shared_scale_renders(tmp_path):
    rng = np.random.default_rng(0)
    crop = rng.normal(size=(10, 24, 32)).astype(np.float32)
    crop[3] *= 5
    for shared in (False, True):
        fig = channel_grid_figure(crop, np.arange(10), "test", "index", shared_scale=shared)
        save_figure(fig, tmp_path / f"grid_{shared}.png")
        assert_not_blank(tmp_path / f"grid_{shared}.png")


def test_overview_figure_one_row_per_stage(tmp_path):
    rng = np.random.default_rng(0)
    rows = [OverviewRow(f"L{i}", rng.integers(0, 255, (90, 120, 3), np.uint8),
                        rng.integers(0, 255, (90, 120, 3), np.uint8), [(c, rng.random((6, 8))) for c in range(3)],
                        [0.5, 0.2, 0.1]) for i in range(3)]
    save_figure(overview_figure(rows, "title", "channel mean", "energy"), tmp_path / "o.png")
    image = assert_not_blank(tmp_path / "o.png")
    h, w = image.shape[:2]
    assert w > h  # 5 landscape panels per row, 3 rows


def test_seg_proto_layer_equals_the_runner_prototypes(seg_weights, images, tmp_path):
    model = load_model(seg_weights, device="cpu")
    result = maps(model, [str(images[0])], layers="proto,p5", out=tmp_path, channels=8, progress=False)
    assert result.layers == ["proto", 21]
    expected = _hooked(model, images[0], ["proto", 21])
    saved = np.load(tmp_path / "bus_jpg" / "proto.npy")
    assert saved.shape == (32, 160, 120)
    np.testing.assert_allclose(saved.astype(np.float32), expected["proto"], rtol=1e-3, atol=1e-3)
    meta = json.loads((tmp_path / "bus_jpg" / "proto.json").read_text())
    assert meta["module"] == "Proto" and meta["stride"] == 4
    for name in ("proto_channels.png", "proto_pca.png", "L21_C2f_overlay.png", "overview.png"):
        assert_not_blank(tmp_path / "bus_jpg" / name)


def test_float16_overflow_keeps_float32():
    from yololens.jobs.maps import _as_dtype

    small = np.array([[[1.5, -2.0]]], np.float32)
    assert _as_dtype(small, "float16")[1] == "float16"
    huge, dtype = _as_dtype(np.array([[[7e4]]], np.float32), "float16")
    assert dtype == "float32" and huge.dtype == np.float32 and np.isfinite(huge).all()


def test_no_channel_grid_with_zero_channels(yaml_model, images, tmp_path):
    result = maps(yaml_model, [str(images[1])], layers="21", out=tmp_path, channels=0, npy=False, imgsz=320,
                  progress=False)
    assert sorted(result.images[0].files) == ["L21_C2f_overlay.png", "L21_C2f_pca.png", "overview.png"]
    assert_not_blank(tmp_path / "zidane_jpg" / "overview.png")
