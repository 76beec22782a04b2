"""Issue #6, part 5: property-based tests of box mapping, pooling, and the label parsers' remaining gaps.

The BDD/COCO-geometry/YOLO parsers are already fuzzed in tests/test_sources_properties.py; here only what it
lacks: a COCO file end to end, and arbitrary JSON documents given as ``--labels``.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from yololens.engine.pooling import clip_to_content, pool_boxes
from yololens.errors import InputError
from yololens.model.ultra import LetterboxInfo
from yololens.sources import open_source

pytestmark = pytest.mark.reliability

MAPPING = settings(max_examples=300, deadline=None)
POOLING = settings(max_examples=150, deadline=None)
FILES = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

STRIDE = 32


def letterbox_shape(h0: int, w0: int, imgsz: int, auto: bool) -> tuple[int, int]:
    """The network input shape Ultralytics' LetterBox gives an ``h0 x w0`` image (checked below on real images)."""
    r = min(imgsz / h0, imgsz / w0)
    nw, nh = max(round(w0 * r), 1), max(round(h0 * r), 1)
    dw, dh = imgsz - nw, imgsz - nh
    if auto:
        dw, dh = dw % STRIDE, dh % STRIDE
    return nh + dh, nw + dw


@pytest.mark.parametrize("h0,w0", [(1, 1), (1, 8000), (8000, 2), (1080, 810), (720, 1280), (37, 999)])
@pytest.mark.parametrize("auto", [True, False])
def test_letterbox_shape_helper_matches_ultralytics(h0, w0, auto):
    from ultralytics.data.augment import LetterBox

    image = np.zeros((h0, w0, 3), np.uint8)
    assert LetterBox(320, auto=auto, stride=STRIDE)(image=image).shape[:2] == letterbox_shape(h0, w0, 320, auto)


size = st.integers(1, 8000)
imgsz = st.integers(1, 40).map(lambda k: k * STRIDE)
unit = st.floats(0, 1, allow_nan=False)


@st.composite
def image_and_boxes(draw):
    h0, w0, s, auto = draw(size), draw(size), draw(imgsz), draw(st.booleans())
    n = draw(st.integers(1, 6))
    boxes = []
    for _ in range(n):
        xa, xb = sorted((draw(unit) * w0, draw(unit) * w0))
        ya, yb = sorted((draw(unit) * h0, draw(unit) * h0))
        boxes.append((xa, ya, xb, yb))
    return h0, w0, s, auto, np.array(boxes, dtype=np.float64)


@MAPPING
@given(image_and_boxes())
def test_box_mapping_round_trips(case):
    """original -> letterboxed -> original is the identity (1e-3 px) for boxes inside the image, and the
    letterboxed boxes stay inside the content region; both directions agree with Ultralytics' scale_boxes."""
    h0, w0, s, auto, boxes = case
    info = LetterboxInfo.compute(letterbox_shape(h0, w0, s, auto), (h0, w0))
    lb = info.to_letterbox(boxes)
    assert np.isfinite(lb).all()
    cx1, cy1, cx2, cy2 = info.content
    tol = 1e-6 * max(info.input_shape)
    assert (lb[:, [0, 2]] >= cx1 - tol).all() and (lb[:, [0, 2]] <= cx2 + tol).all(), (lb, info)
    assert (lb[:, [1, 3]] >= cy1 - tol).all() and (lb[:, [1, 3]] <= cy2 + tol).all(), (lb, info)
    back = info.to_original(lb)
    np.testing.assert_allclose(back, boxes, atol=1e-3, rtol=0)
    back_t = info.to_original(torch.from_numpy(lb))  # the tensor path (predictions) agrees
    np.testing.assert_allclose(back_t.numpy(), boxes, atol=1e-3, rtol=0)


@MAPPING
@given(size, size, imgsz, st.booleans(), st.lists(st.floats(-1e4, 1e4), min_size=4, max_size=4))
def test_to_original_always_lands_inside_the_image(h0, w0, s, auto, raw):
    """Any letterboxed box (even in the padding or off the input) maps to a box clipped to the image."""
    info = LetterboxInfo.compute(letterbox_shape(h0, w0, s, auto), (h0, w0))
    out = info.to_original(np.array([raw]))
    assert np.isfinite(out).all()
    assert (out[:, [0, 2]] >= 0).all() and (out[:, [0, 2]] <= w0).all()
    assert (out[:, [1, 3]] >= 0).all() and (out[:, [1, 3]] <= h0).all()


coordinate = st.one_of(st.floats(-2000, 2000, allow_nan=False), st.sampled_from([0.0, -0.0, 1e-9, 1e6, -1e6]))


@st.composite
def pooling_case(draw):
    stride = draw(st.sampled_from([1, 2, 4, 8, 16, 32, 64]))
    h_cells, w_cells = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    channels = draw(st.integers(1, 9))
    batch = draw(st.integers(1, 3))
    per_image = []
    for _ in range(batch):
        n = draw(st.integers(0, 5))
        boxes = []
        for _ in range(n):
            kind = draw(st.sampled_from(["any", "zero", "point", "outside", "inverted"]))
            x1, y1, x2, y2 = (draw(coordinate) for _ in range(4))
            if kind == "zero":
                x2, y2 = x1, y2  # zero width
            elif kind == "point":
                x2, y2 = x1, y1
            elif kind == "outside":
                x1, x2 = x1 + 1e4, x2 + 1e4
            elif kind == "any":
                x1, x2 = sorted((x1, x2))
                y1, y2 = sorted((y1, y2))
            boxes.append((x1, y1, x2, y2))
        per_image.append(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    content = sorted(draw(st.floats(0, w_cells * stride)) for _ in range(2))
    content_y = sorted(draw(st.floats(0, h_cells * stride)) for _ in range(2))
    return stride, (h_cells, w_cells), channels, per_image, (content[0], content_y[0], content[1], content_y[1])


@POOLING
@given(pooling_case(), st.integers(1, 7), st.booleans())
def test_pool_boxes_never_raises_and_is_finite(case, output_size, clip):
    stride, (h_cells, w_cells), channels, boxes, content = case
    features = torch.randn(len(boxes), channels, h_cells, w_cells, generator=torch.Generator().manual_seed(0))
    input_shape = (h_cells * stride, w_cells * stride)
    if clip:
        boxes = [clip_to_content(b, content) for b in boxes]
    pooled = pool_boxes(features, boxes, input_shape, output_size=output_size)
    n = sum(len(b) for b in boxes)
    assert pooled.shape == (n, channels) and pooled.dtype == torch.float32
    assert torch.isfinite(pooled).all()
    # a pooled value is an average of bilinear samples: never beyond the feature map's range
    if n:
        lo, hi = features.min().item(), features.max().item()
        assert pooled.min().item() >= min(lo, 0.0) - 1e-4 and pooled.max().item() <= max(hi, 0.0) + 1e-4


@POOLING
@given(pooling_case())
def test_pool_boxes_is_per_box(case):
    """Each box's embedding depends only on its own box and image, not on the other boxes of the batch."""
    stride, (h_cells, w_cells), channels, boxes, _ = case
    assume(sum(len(b) for b in boxes) >= 2)
    features = torch.randn(len(boxes), channels, h_cells, w_cells, generator=torch.Generator().manual_seed(1))
    input_shape = (h_cells * stride, w_cells * stride)
    together = pool_boxes(features, boxes, input_shape)
    alone = []
    for i, b in enumerate(boxes):
        for box in b:
            alone.append(pool_boxes(features[i:i + 1], [box[None]], input_shape))
    torch.testing.assert_close(together, torch.cat(alone), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------ label files


json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-3, 10**20), st.floats(allow_nan=True),
                        st.text(max_size=6))
json_doc = st.recursive(json_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.sampled_from(["name", "labels", "frames", "images", "annotations", "categories", "id",
                                     "image_id", "category_id", "bbox", "file_name", "box2d", "category", "x"]),
                    inner, max_size=5),
), max_leaves=25)


def _image(path: Path, w: int = 40, h: int = 30) -> None:
    import cv2

    cv2.imwrite(str(path), np.zeros((h, w, 3), np.uint8))


@FILES
@given(json_doc)
def test_any_json_document_as_labels_is_a_source_or_one_line_error(doc):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "img").mkdir()
        _image(root / "img" / "a.jpg")
        (root / "labels.json").write_text(json.dumps(doc))
        try:
            source = open_source(root / "img", root / "labels.json")
        except InputError as exc:
            assert str(exc) and "\n" not in str(exc)
            return
        for record in source.records:
            assert record.path.is_file()
            for label in record.labels or []:
                x1, y1, x2, y2 = label.box
                assert all(math.isfinite(v) for v in label.box) and 0 <= x1 < x2 <= 40 and 0 <= y1 < y2 <= 30
        assert all("\n" not in str(s) for s in source.skips)


coco_value = st.one_of(json_scalar, st.lists(st.one_of(st.integers(-50, 100), st.floats(-50, 100)), max_size=5))


@FILES
@given(
    st.lists(st.fixed_dictionaries({"id": st.one_of(st.integers(0, 3), json_scalar)},
                                    optional={"file_name": st.sampled_from(["a.jpg", "b.jpg", "../a.jpg", "", "c.png"]),
                                              "width": coco_value, "height": coco_value}), max_size=4),
    st.lists(st.fixed_dictionaries({"image_id": st.one_of(st.integers(0, 4), json_scalar),
                                    "category_id": st.one_of(st.integers(0, 2), json_scalar)},
                                   optional={"id": coco_value, "bbox": coco_value, "segmentation": coco_value,
                                             "iscrowd": coco_value}), max_size=6),
)
def test_coco_end_to_end(images, annotations):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "img").mkdir()
        _image(root / "img" / "a.jpg")
        _image(root / "img" / "b.jpg", 25, 50)
        doc = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "car"}]}
        (root / "coco.json").write_text(json.dumps(doc))
        try:
            source = open_source(root / "img", root / "coco.json")
        except InputError as exc:
            assert str(exc) and "\n" not in str(exc)
            return
        sizes = {"a.jpg": (40, 30), "b.jpg": (25, 50)}
        assert len({r.name for r in source.records}) == len(source.records)
        for record in source.records:
            w, h = sizes[record.path.name]
            for label in record.labels or []:
                x1, y1, x2, y2 = label.box
                assert label.category == "car" and 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
