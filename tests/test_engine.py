"""Engine exactness against Ultralytics on real weights, and pooling against an independent computation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.ops import roi_align
from ultralytics import YOLO

from yololens.jobs.extract import extract
from yololens.engine.matching import match
from yololens.engine.runner import Runner
from yololens.model import ultra
from yololens.model.loading import load_model
from yololens.sources.records import ImageRecord, Source


def _source(paths: list[Path]) -> Source:
    return Source([ImageRecord(i, p, p.name) for i, p in enumerate(paths)])


@pytest.mark.parametrize("weights_fixture", ["det_weights", "seg_weights"])
@pytest.mark.parametrize("image", ["bus.jpg", "zidane.jpg"])
def test_predictions_equal_ultralytics(request, weights_fixture, image, assets):
    weights = request.getfixturevalue(weights_fixture)
    model = load_model(str(weights), device="cpu")
    im = ultra.imread(str(assets / image))
    dets = Runner(model).run([im]).images[0].detections
    ref = YOLO(str(weights)).predict(str(assets / image), verbose=False)[0].boxes
    assert len(dets) == len(ref) > 0
    np.testing.assert_allclose(dets.boxes, ref.xyxy.numpy(), atol=1e-2)
    np.testing.assert_allclose(dets.scores, ref.conf.numpy(), atol=1e-4)
    np.testing.assert_array_equal(dets.class_ids, ref.cls.numpy().astype(int))


def test_batched_same_shape_uses_rect_letterbox(det_weights, assets):
    model = load_model(str(det_weights), device="cpu")
    im = ultra.imread(str(assets / "zidane.jpg"))
    res = Runner(model).run([im, im.copy()])
    assert res.input_shape == (384, 640)  # minimal rect, as Ultralytics for same-shape batches
    a, b = res.images[0].detections, res.images[1].detections
    np.testing.assert_array_equal(a.boxes, b.boxes)


def test_embeddings_equal_independent_roi_align(seg_weights, assets, tmp_path):
    result = extract(str(seg_weights), _source([assets / "bus.jpg"]), out=tmp_path, layers=[9, 15], batch=1,
                     progress=False)
    table = result.table()
    # Independent path: Ultralytics' own letterbox + preprocess, a fresh fused model, our own hook.
    net = YOLO(str(seg_weights)).model.fuse().eval()
    im = ultra.imread(str(assets / "bus.jpg"))
    lb = ultra.letterbox_batch([im], (640, 640), 32)
    x = torch.from_numpy(lb[0]).permute(2, 0, 1)[None].flip(1).float() / 255
    feats = {}
    hooks = [net.model[i].register_forward_hook(lambda m, a, o, i=i: feats.__setitem__(i, o)) for i in (9, 15)]
    with torch.inference_mode():
        net(x)
    for h in hooks:
        h.remove()
    h0, w0 = im.shape[:2]
    gain = min(x.shape[2] / h0, x.shape[3] / w0)
    pad_x, pad_y = (x.shape[3] - round(w0 * gain)) // 2, (x.shape[2] - round(h0 * gain)) // 2
    for row in table.to_pylist():
        box = torch.tensor([[row["x1"] * gain + pad_x, row["y1"] * gain + pad_y,
                             row["x2"] * gain + pad_x, row["y2"] * gain + pad_y]])
        for layer in (9, 15):
            f = feats[layer]
            ref = roi_align(f, [box], 7, spatial_scale=f.shape[-1] / x.shape[-1], sampling_ratio=2, aligned=True)
            np.testing.assert_allclose(row[f"emb_L{layer}"], ref.mean(dim=(2, 3))[0].numpy(), atol=2e-3, rtol=1e-3)
    # The seg coefficients column equals the NMS output's coefficient columns.
    dets = Runner(load_model(str(seg_weights)), imgsz=640).run([im]).images[0].detections
    np.testing.assert_allclose(np.stack(table.column("emb_coef").to_pylist()), dets.coefs.numpy(), atol=1e-5)


def test_padding_is_excluded_from_pooling(det_weights, assets, tmp_path):
    """A box reaching into the letterbox padding pools the same as the box clipped to the image."""
    from yololens.engine.pooling import clip_to_content, pool_boxes

    model = load_model(str(det_weights))
    im = ultra.imread(str(assets / "zidane.jpg"))
    res = Runner(model, layers=[9], predict=False).run([im])
    info = res.images[0].letterbox
    assert info.pad == (0, 12)
    inside = torch.tensor([[100.0, 12.0, 300.0, 200.0]])
    into_pad = torch.tensor([[100.0, 0.0, 300.0, 200.0]])
    a = pool_boxes(res.features[9], [clip_to_content(inside, info.content)], res.input_shape)
    b = pool_boxes(res.features[9], [clip_to_content(into_pad, info.content)], res.input_shape)
    c = pool_boxes(res.features[9], [into_pad], res.input_shape)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


def test_letterbox_round_trip():
    info = ultra.LetterboxInfo.compute((384, 640), (720, 1280))
    boxes = np.array([[0.0, 0.0, 1280.0, 720.0], [10.5, 20.25, 30.0, 40.0]])
    back = info.to_original(torch.tensor(info.to_letterbox(boxes)))
    np.testing.assert_allclose(back.numpy(), boxes, atol=1e-3)


def test_matching_greedy_class_aware():
    gt = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)
    pred = np.array([[0, 0, 10, 9], [0, 0, 10, 10], [20, 20, 30, 30]], float)
    m = match(pred, np.array([0.9, 0.5, 0.8]), ["person", "person", "car"], gt, ["pedestrian", "truck"], 0.5)
    assert m.pred_to_gt.tolist() == [0, -1, -1]  # highest score wins; car != truck
    assert m.gt_to_pred.tolist() == [0, -1]
    assert m.iou[0] == pytest.approx(0.9)


@pytest.mark.parametrize("end2end", [True, False])
def test_yolo26_heads_equal_ultralytics(assets, end2end):
    """YOLO26: the NMS-free one-to-one head (--end2end) and the default one-to-many + NMS path."""
    torch.manual_seed(0)
    yolo = YOLO("yolo26n-seg.yaml")  # untrained: scores are low, so use a tiny conf
    model = load_model(yolo, end2end=end2end)
    assert model.end2end is end2end and model.family == "yolo26"
    conf = 1e-6 if end2end else 1e-4
    im = ultra.imread(str(assets / "bus.jpg"))
    dets = Runner(model, conf=conf, max_det=50).run([im]).images[0].detections
    ref = yolo.predict(str(assets / "bus.jpg"), conf=conf, max_det=50, nms=False if end2end else None,
                       verbose=False)[0].boxes
    assert len(dets) == len(ref) > 0
    np.testing.assert_allclose(dets.boxes, ref.xyxy.numpy(), atol=1e-2)
    np.testing.assert_allclose(dets.scores, ref.conf.numpy(), atol=1e-4)
