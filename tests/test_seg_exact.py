"""Seg instances and masks equal Ultralytics' ``Results`` pixel for pixel (real weights and yaml models)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from yololens.engine.runner import Runner
from yololens.model import ultra
from yololens.seg import align_instances, coefficient_vectors, decompose, instances_of
from yololens.seg.common import seg_model

pytestmark = pytest.mark.shared


@pytest.fixture
def predict_threads():
    """Run with the torch thread count Ultralytics' predictor sets (conv sums depend on it)."""
    from ultralytics.utils import NUM_THREADS

    before = torch.get_num_threads()
    torch.set_num_threads(NUM_THREADS)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def yolo(seg_weights):
    from ultralytics import YOLO

    return YOLO(str(seg_weights))


@pytest.fixture(scope="module")
def loaded(seg_weights):
    return seg_model(str(seg_weights), "test", device="cpu")


def _ours(loaded, path, retina, conf=0.25, imgsz=640, max_det=300):
    runner = Runner(loaded, imgsz=imgsz, conf=conf, max_det=max_det)
    res = runner.run([ultra.imread(str(path))]).images[0]
    return res, instances_of(res, retina)


def _assert_same(inst, ref, allow_empty: bool = False) -> None:
    """Same instances, masks (bitwise), boxes, classes and scores; zero instances only where ``allow_empty``."""
    assert len(inst) == len(ref), (len(inst), len(ref))
    if len(ref) == 0:
        assert allow_empty, "no instances: the comparison below would check nothing"
        return
    assert inst.masks.dtype == ref.masks.data.dtype
    assert torch.equal(inst.masks, ref.masks.data)
    np.testing.assert_allclose(inst.boxes, ref.boxes.xyxy.numpy(), atol=1e-2)
    np.testing.assert_array_equal(inst.class_ids, ref.boxes.cls.numpy().astype(np.int64))
    np.testing.assert_allclose(inst.scores, ref.boxes.conf.numpy(), atol=1e-6)


def _image(name, assets, seed_coco_images):
    return (assets if name in ("bus.jpg", "zidane.jpg") else seed_coco_images) / name


@pytest.mark.parametrize("name", ["bus.jpg", "zidane.jpg", "000000000285.jpg", "000000053624.jpg"])
@pytest.mark.parametrize("retina", [False, True])
def test_masks_equal_ultralytics(yolo, loaded, predict_threads, assets, seed_coco_images, name, retina):
    path = _image(name, assets, seed_coco_images)
    ref = yolo.predict(str(path), retina_masks=retina, verbose=False)[0]
    res, inst = _ours(loaded, path, retina)
    _assert_same(inst, ref)
    assert inst.masks.shape[1:] == (res.letterbox.orig_shape if retina else res.letterbox.input_shape)


def test_empty_mask_filter_alignment(yolo, loaded, predict_threads, seed_coco_images):
    """At conf 0.001 the bear image has NMS detections whose retina mask is empty: Results drop them."""
    path = seed_coco_images / "000000000285.jpg"
    ref = yolo.predict(str(path), retina_masks=True, conf=0.001, verbose=False)[0]
    res, inst = _ours(loaded, path, retina=True, conf=0.001)
    dets = res.detections
    assert len(dets) > len(inst), "the case must trigger Ultralytics' empty-mask filter"
    _assert_same(inst, ref)
    # instance -> NMS index mapping: the kept rows of the NMS output, in order
    assert np.all(np.diff(inst.nms_index) > 0)
    np.testing.assert_array_equal(inst.boxes, dets.boxes[inst.nms_index])
    assert torch.equal(inst.coefs, dets.coefs[torch.from_numpy(inst.nms_index)])
    np.testing.assert_array_equal(coefficient_vectors(dets)[inst.nms_index], inst.coefs.numpy())


@pytest.mark.parametrize("yaml_name", ["yolo11n-seg.yaml", "yolo26n-seg.yaml"])
@pytest.mark.parametrize("retina", [False, True])
def test_yaml_models_agree(predict_threads, assets, yaml_name, retina):
    """Untrained YOLO11/YOLO26 seg models run the whole path and agree with Ultralytics. Untrained heads score
    every box near the class-bias prior (~1.6e-4), so conf 1e-4 with the top 20 boxes gives YOLO26 20 instances to
    compare; untrained YOLO11's masks are all empty, so Results drops every NMS detection, and so must we."""
    from ultralytics import YOLO

    torch.manual_seed(0)
    y = YOLO(yaml_name)
    ref = y.predict(str(assets / "bus.jpg"), retina_masks=retina, conf=1e-4, max_det=20, imgsz=320, verbose=False)[0]
    lm = seg_model(y, "test", device="cpu")
    res, inst = _ours(lm, assets / "bus.jpg", retina, conf=1e-4, imgsz=320, max_det=20)
    empty = yaml_name.startswith("yolo11")
    if empty:  # the empty-mask filter ran on real detections
        assert len(res.detections.boxes) > 0 and len(ref) == 0
    else:
        assert len(ref) == 20
    _assert_same(inst, ref, allow_empty=empty)


def test_decomposition_is_consistent(loaded, assets):
    """Proto-resolution steps reproduce Ultralytics' own proto-resolution mask; the final mask is Results'."""
    from ultralytics.utils import ops

    res, inst = _ours(loaded, assets / "bus.jpg", retina=False)
    assert len(inst) >= 4
    for i in range(2):
        d = decompose(inst, res.protos, i, loaded.names)
        nm, h, w = d.prototypes.shape
        assert d.coefficients.shape == (nm,) and d.contributions.shape == (nm, h, w)
        np.testing.assert_allclose(d.positive + d.negative, d.logit, atol=1e-3)
        assert (d.positive >= 0).all() and (d.negative <= 0).all()
        np.testing.assert_allclose(d.contributions.sum(0), d.logit, atol=1e-3)
        ref_proto = ops.process_mask(res.protos, inst.coefs[i:i + 1], inst.boxes_lb[i:i + 1],
                                     res.letterbox.input_shape, upsample=False)[0]
        np.testing.assert_array_equal(d.mask_proto, ref_proto.numpy())
        assert np.array_equal(d.final_mask, inst.masks[i].numpy())
        assert d.class_name == loaded.names[int(inst.class_ids[i])]
        assert d.order("abs")[0] == int(np.argmax(np.abs(d.coefficients)))
        assert d.unletterbox(d.prototypes).shape == (nm, h, w)  # bus at 640x480: no padding at all
    # zidane (1280x720) is letterboxed to 384x640: 12 px (3 cells) of padding above and below
    res, inst = _ours(loaded, assets / "zidane.jpg", retina=False)
    d = decompose(inst, res.protos, 0, loaded.names)
    assert d.grid.rows == (3, 93) and d.grid.cols == (0, 160)
    assert d.unletterbox(d.sigmoid).shape == (90, 160)


def test_align_without_detections(loaded):
    """An image with no detections gives zero instances with well-formed shapes."""
    blank = np.full((240, 320, 3), 114, np.uint8)
    res = Runner(loaded, conf=0.99).run([blank]).images[0]
    for retina in (False, True):
        inst = align_instances(res.detections, res.protos, res.letterbox, retina)
        assert len(inst) == 0 and inst.coefs.shape == (0, loaded.nm)
