"""``extract --pool mask``: mask-weighted embeddings against an independent computation (issue 11 §5)."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from yololens.cli.app import app
from yololens.jobs.extract import extract
from yololens.errors import InputError

pytestmark = pytest.mark.shared


def _hooked_predict(weights, image, layers):
    """Ultralytics' own predict, with forward hooks on ``layers``: (Results, {layer: (C, h, w) features})."""
    from ultralytics import YOLO

    model = YOLO(str(weights))
    model.predict(str(image), verbose=False)  # sets up (and fuses) the predictor first
    feats = {}
    net = model.predictor.model.model  # the (fused) DetectionModel inside the predictor's AutoBackend
    hooks = [net.model[i].register_forward_hook(lambda m, a, o, i=i: feats.__setitem__(i, o[0].detach()))
             for i in layers]
    res = model.predict(str(image), verbose=False)[0]
    for h in hooks:
        h.remove()
    return res, feats


def _independent(mask: np.ndarray, feat: torch.Tensor) -> np.ndarray:
    """Resample the mask to the layer grid, multiply, sum, divide."""
    c, h, w = feat.shape
    m = cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    f = feat.float().numpy()
    return (f * m[None]).sum(axis=(1, 2)) / m.sum()


def _rel(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(b))


def test_pred_masks_match_an_independent_computation(seg_weights, assets, tmp_path):
    layers = [9, 15, 21]
    res = extract(str(seg_weights), str(assets / "bus.jpg"), out=tmp_path, pool="both", layers=layers,
                  progress=False)
    t = res.to_pandas()
    ultra_res, feats = _hooked_predict(seg_weights, assets / "bus.jpg", layers)
    masks = ultra_res.masks.data.cpu().numpy()  # (n, H, W) at the letterboxed input size (no padding here)
    boxes = ultra_res.boxes.xyxy.cpu().numpy()
    assert len(t) == len(boxes) >= 4 and t.mask_fallback.isna().all()
    for k, row in t.iterrows():
        j = int(np.argmin(np.abs(boxes - row[["x1", "y1", "x2", "y2"]].to_numpy(float)).sum(1)))
        for layer in layers:
            ours = row[f"emb_L{layer}_mask"]
            assert _rel(ours, _independent(masks[j], feats[layer])) < 1e-4
            assert _rel(ours, row[f"emb_L{layer}"]) > 1e-2  # the mask is not the box


@pytest.fixture()
def polygon_frame(bdd_detect, tmp_path):
    """The real BDD frame with three cars: a box plus a rectangle polygon aligned to the stride-32 grid (a),
    a box only (b), and a box plus a polygon outside the image, an empty mask (c)."""
    images = tmp_path / "images"
    images.mkdir()
    image = next((bdd_detect / "images").iterdir())
    shutil.copy(image, images / image.name)
    # 1280x720 at imgsz 640: gain 0.5, input 640x384, 12 px of padding at the top. In original pixels the
    # polygon covers x 128..383, y 40..295 -> letterboxed x 64..191, y 32..159: stride-32 cells x 2..5, y 1..4
    rect = [[128, 40], [383, 40], [383, 295], [128, 295]]
    labels = [
        {"id": "a", "category": "car", "box2d": {"x1": 128, "y1": 40, "x2": 384, "y2": 296},
         "poly2d": [{"vertices": rect, "closed": True}]},
        {"id": "b", "category": "car", "box2d": {"x1": 600, "y1": 300, "x2": 700, "y2": 380}},
        {"id": "c", "category": "car", "box2d": {"x1": 900, "y1": 300, "x2": 1000, "y2": 380},
         "poly2d": [{"vertices": [[-50, -50], [-10, -50], [-10, -10]], "closed": True}]},
    ]
    path = tmp_path / "labels.json"
    path.write_text(json.dumps([{"name": image.name, "labels": labels}]))
    return images, path


def test_gt_polygon_masks_pool_exactly_the_covered_cells(polygon_frame, seg_weights, tmp_path):
    images, labels = polygon_frame
    res = extract(str(seg_weights), str(images), str(labels), out=tmp_path / "o", boxes="gt", pool="mask",
                  layers=[9, 15], progress=False)
    t = res.to_pandas().set_index("gt_id")
    assert "emb_L9" not in t and "emb_L9_mask" in t  # --pool mask writes the mask columns only
    _, feats = _hooked_predict(seg_weights, next(images.iterdir()), [9, 15])
    cells = feats[9][:, 1:5, 2:6].float().numpy().mean(axis=(1, 2))
    assert _rel(t.loc["a", "emb_L9_mask"], cells) < 1e-4
    assert _rel(t.loc["a", "emb_L15_mask"], feats[15][:, 4:20, 8:24].float().numpy().mean(axis=(1, 2))) < 1e-4
    assert pd_isna(t.loc["a", "mask_fallback"])
    assert t.loc["b", "mask_fallback"] == "no mask: the label has no mask"
    assert t.loc["c", "mask_fallback"] == "empty mask"
    box = extract(str(seg_weights), str(images), str(labels), out=tmp_path / "b", boxes="gt", layers=[9],
                  progress=False).to_pandas().set_index("gt_id")
    for gt_id in ("b", "c"):  # the fallback is the box embedding
        assert _rel(t.loc[gt_id, "emb_L9_mask"], box.loc[gt_id, "emb_L9"]) < 1e-6


def pd_isna(v) -> bool:
    import pandas as pd

    return bool(pd.isna(v))


def test_stage_report_compares_box_and_mask_pooling(seg_weights, assets, tmp_path):
    images = tmp_path / "images"  # three copies of each asset: >= 2 objects in >= 2 classes, so stages can answer
    images.mkdir()
    for src in sorted(assets.glob("*.jpg")):
        for k in range(3):
            shutil.copy(src, images / f"{src.stem}_{k}.jpg")
    tmp_path = tmp_path / "run"
    res = extract(str(seg_weights), str(images), out=tmp_path, pool="both", layers=[9], progress=False)
    assert {"emb_L9", "emb_L9_mask"} <= set(res.table().column_names)
    out = CliRunner().invoke(app, ["stages", str(tmp_path), "--bootstrap", "20", "--min-class-count", "2",
                                   "--folds", "2", "--group-by", "none"])
    assert out.exit_code == 0, out.output
    csv = (tmp_path / "stages.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in csv[1:3]] == ["L9", "L9_mask"]


def test_pool_option_is_checked(seg_weights, det_weights, assets, tmp_path):
    with pytest.raises(InputError, match="--pool must be one of box, mask, both"):
        extract(str(seg_weights), str(assets / "bus.jpg"), out=tmp_path, pool="blob", progress=False)
    with pytest.raises(InputError, match="predicts no masks"):
        extract(str(det_weights), str(assets / "bus.jpg"), out=tmp_path, pool="mask", progress=False)
    out = CliRunner().invoke(app, ["extract", "--model", str(det_weights), "--source", str(assets / "bus.jpg"),
                                   "--pool", "mask", "--out", str(tmp_path), "--no-progress"])
    assert out.exit_code == 2 and "predicts no masks" in out.output


def test_label_mask_specs_rasterise():
    from yololens.sources.masks import bdd_mask_spec, coco_mask_spec, rasterize

    bdd = bdd_mask_spec({"poly2d": [{"vertices": [[2, 1], [5, 1], [5, 3], [2, 3]], "closed": True},
                                    {"vertices": [[0, 0], [9, 9]], "closed": False}]})  # the open lane is no mask
    assert bdd == {"polygons": [[2.0, 1.0, 5.0, 1.0, 5.0, 3.0, 2.0, 3.0]]}
    m = rasterize(bdd, (6, 8))
    assert m.shape == (6, 8) and m.sum() == 12 and m[1:4, 2:6].all()  # inclusive integer vertices: 4 x 3 pixels
    coco = coco_mask_spec({"segmentation": [[2, 1, 5, 1, 5, 3, 2, 3]]})
    assert coco == bdd and coco_mask_spec({"bbox": [0, 0, 1, 1]}) is None
    rle = bdd_mask_spec({"rle": {"counts": "abc", "size": "[720, 1280]"}, "box2d": {}})
    assert rle == {"rle": {"counts": "abc", "size": "[720, 1280]"}}


def test_rle_label_without_pycocotools_falls_back_to_the_box(bdd_detect, seg_weights, tmp_path):
    try:
        import pycocotools  # noqa: F401

        pytest.skip("pycocotools is installed: the RLE is decoded")
    except ImportError:
        pass
    images = tmp_path / "images"
    images.mkdir()
    image = next((bdd_detect / "images").iterdir())
    shutil.copy(image, images / image.name)
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps([{"name": image.name, "labels": [
        {"id": "r", "category": "car", "box2d": {"x1": 600, "y1": 300, "x2": 700, "y2": 380},
         "rle": {"counts": "c?_5Qa00O1", "size": [720, 1280]}}]}]))
    t = extract(str(seg_weights), str(images), str(labels), out=tmp_path / "o", boxes="gt", pool="mask", layers=[9],
                progress=False).to_pandas()
    assert t.loc[0, "mask_fallback"] == "no mask: RLE masks need pycocotools (pip install pycocotools)"
