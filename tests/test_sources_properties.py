"""Property-based tests of the label parsers: junk in, only clean boxes or InputError out."""

from __future__ import annotations

import json
import math
import struct
import tempfile
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from yololens.errors import InputError
from yololens.sources import open_source
from yololens.sources.bdd import parse_frame_labels
from yololens.sources.boxes import LabelProblem, check_box
from yololens.sources.coco import annotation_geometry
from yololens.sources.common import Categories
from yololens.sources.records import Skip
from yololens.sources.yolo_dataset import parse_yolo_lines

pytestmark = pytest.mark.reliability

FAST = settings(max_examples=200, deadline=None)
FILES = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

coordinate = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-5000, 5000),
    st.integers(-(10**6), 10**6),
    st.sampled_from([0, 1, -1, 1e308, -1e308, 1e-300, 10**400]),
)
json_junk = st.one_of(coordinate, st.booleans(), st.none(), st.text(max_size=3))
image_size = st.tuples(st.integers(1, 9000), st.integers(1, 9000))


def assert_inside(box: tuple[float, ...], size: tuple[int, int]) -> None:
    x1, y1, x2, y2 = box
    w, h = size
    assert all(isinstance(v, float) and math.isfinite(v) for v in box)
    assert 0 <= x1 < x2 <= w, (box, size)
    assert 0 <= y1 < y2 <= h, (box, size)


@FAST
@given(st.tuples(coordinate, coordinate, coordinate, coordinate), image_size)
def test_check_box_clean_or_problem(raw, size):
    try:
        box, note = check_box(raw, size)
    except LabelProblem as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert_inside(box, size)
    assert note is None or "outside" in note


bdd_box = st.fixed_dictionaries({"x1": json_junk, "y1": json_junk, "x2": json_junk, "y2": json_junk})
bdd_label = st.one_of(
    st.fixed_dictionaries(
        {"id": st.text(max_size=4), "category": st.sampled_from(["car", "bus", ""]), "box2d": bdd_box},
        optional={"attributes": st.dictionaries(st.text(max_size=3), json_junk | st.lists(st.integers()))},
    ),
    st.fixed_dictionaries(
        {
            "category": st.just("car"),
            "poly2d": st.lists(
                st.fixed_dictionaries(
                    {"vertices": st.lists(st.lists(json_junk, min_size=1, max_size=3), max_size=5)},
                    optional={"closed": st.booleans()},
                ),
                max_size=2,
            ),
        }
    ),
    json_junk,
)


@FAST
@given(st.lists(bdd_label, max_size=8), image_size, st.booleans())
def test_bdd_frame_labels(labels, size, whitelist):
    skips: list[Skip] = []
    cats = Categories(["car"] if whitelist else None)
    boxes = parse_frame_labels({"name": "x.jpg", "labels": labels}, "a.json[frame x.jpg]", lambda: size, cats, skips)
    assert boxes is not None
    for label in boxes:
        assert_inside(label.box, size)
        assert all(not isinstance(v, (list, dict)) for v in label.attributes.values())
    assert all(s.action in ("skipped", "clipped") and s.file.startswith("a.json[frame x.jpg, label ") for s in skips)
    assert len(boxes) + sum(s.action == "skipped" for s in skips) <= len(labels)


@FAST
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "bbox": st.one_of(st.lists(json_junk, min_size=3, max_size=5), json_junk),
            "segmentation": st.lists(st.lists(json_junk, max_size=7), max_size=2) | json_junk,
        },
    ),
    image_size,
)
def test_coco_geometry(ann, size):
    try:
        box, _ = check_box(annotation_geometry(ann), size)
    except LabelProblem:
        return
    assert_inside(box, size)


token = st.one_of(
    st.sampled_from(["0", "1", "2", "7", "-1", "1.5", "nan", "inf", "-inf", "1e308", "-1e308", "x", "0.5", "1.2"]),
    st.floats(-2, 3).map(repr),
)


@FAST
@given(st.lists(st.lists(token, max_size=9).map(" ".join), max_size=8), image_size, st.booleans())
def test_yolo_lines(lines, size, with_names):
    skips: list[Skip] = []
    names = {0: "a", 1: "b", 2: "c"} if with_names else None
    boxes = parse_yolo_lines(lines, size, names, "l/x.txt", "x", Categories(), skips)
    for label in boxes:
        assert_inside(label.box, size)
        assert label.gt_id.startswith("x:")
    assert all(s.action in ("skipped", "clipped") for s in skips)


def _header_png(path: Path, w: int, h: int) -> None:
    """A PNG header of the wanted size: the parsers only read sizes, never pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


@FILES
@given(st.lists(st.lists(bdd_label, max_size=4) | st.none(), min_size=1, max_size=4), image_size)
def test_bdd_end_to_end(frame_labels, size):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "img").mkdir()
        frames = []
        for i, labels in enumerate(frame_labels):
            _header_png(root / "img" / f"{i}.png", *size)
            frames.append({"name": f"{i}.png"} | ({} if labels is None else {"labels": labels}))
        (root / "ann.json").write_text(json.dumps(frames))
        try:
            source = open_source(root / "img", root / "ann.json")
        except InputError:
            return
        for record in source.records:
            for label in record.labels or []:
                assert_inside(label.box, size)


@FILES
@given(st.lists(st.lists(token, max_size=7).map(" ".join), max_size=5), image_size)
def test_yolo_end_to_end(lines, size):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "images").mkdir()
        (root / "labels").mkdir()
        _header_png(root / "images" / "a.png", *size)
        (root / "labels" / "a.txt").write_text("\n".join(lines))
        (root / "data.yaml").write_text(f"path: {root}\nval: images\nnames: [a, b, c]\n")
        try:
            source = open_source(root / "data.yaml")
        except InputError:
            return
        for label in source.records[0].labels or []:
            assert_inside(label.box, size)
