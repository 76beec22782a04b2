"""BDD / Scalabel JSON: the real sample, and a bad-input corpus built in tmp_path."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from yololens.errors import InputError
from yololens.sources import BDD_DETECTION_CATEGORIES, open_source
from yololens.sources.bdd import read_bdd
from yololens.sources.images import ImageFinder


def _write_image(path: Path, w: int = 200, h: int = 100) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.zeros((h, w, 3), np.uint8))


def _label(i: int, category: str = "car", box=(10, 10, 50, 40), **extra) -> dict:
    x1, y1, x2, y2 = box
    return {"id": str(i), "category": category, "box2d": {"x1": x1, "y1": y1, "x2": x2, "y2": y2}, **extra}


# --------------------------------------------------------------------------------- the sample


def test_bdd_sample_frame_boxes_and_attributes(bdd_detect):
    labels_file = bdd_detect / "labels" / "annotation.json"
    source = open_source(bdd_detect / "images", labels_file)
    assert source.format == "bdd"
    assert source.skips == []
    assert len(source) == 1 and source.has_labels
    record = source.records[0]
    assert record.index == 0
    assert record.name == "913b47b8-3cf1b886.jpg"
    assert record.path == bdd_detect / "images" / "913b47b8-3cf1b886.jpg"
    assert record.attributes == {"weather": "clear", "timeofday": "dawn/dusk", "scene": "city street"}
    assert Counter(b.category for b in record.labels) == {"car": 4, "traffic light": 5, "traffic sign": 1}
    assert source.class_names == ["traffic light", "traffic sign", "car"]  # first appearance

    frame = json.loads(labels_file.read_text())[0]
    assert [b.gt_id for b in record.labels] == [lab["id"] for lab in frame["labels"]]
    for box, lab in zip(record.labels, frame["labels"]):
        b = lab["box2d"]
        assert box.box == (b["x1"], b["y1"], b["x2"], b["y2"])  # inside 1280x720: unchanged
        assert box.attributes == lab["attributes"]
    first = record.labels[0]
    assert first.gt_id == "1032908" and first.category == "traffic light"
    assert first.attributes == {"occluded": False, "truncated": False, "trafficLightColor": "R"}
    assert first.attributes["occluded"] is False  # booleans stay booleans
    assert [b.attributes["occluded"] for b in record.labels if b.category == "car"] == [False, True, True, False]


def test_bdd_sample_with_whitelist(bdd_detect):
    source = open_source(bdd_detect / "images", bdd_detect / "labels" / "annotation.json", categories=["car"])
    assert [b.category for b in source.records[0].labels] == ["car"] * 4
    assert source.class_names == ["car"]
    assert len(source.skips) == 6
    assert all(s.action == "skipped" and "not in the requested categories" in s.reason for s in source.skips)
    assert source.skips[0].file == "annotation.json[frame 913b47b8-3cf1b886.jpg, label 0]"


def test_bdd_categories_constant():
    assert BDD_DETECTION_CATEGORIES == (
        "pedestrian", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle", "traffic light", "traffic sign",
    )


# --------------------------------------------------------------------------- layouts and rules


def test_dict_with_frames_and_poly2d_only_labels(tmp_path):
    _write_image(tmp_path / "img" / "a.jpg")
    poly = [{"vertices": [[20, 30], [60, 25], [40, 70]], "closed": True}]
    lane = [{"vertices": [[0, 90], [199, 80]], "closed": False}]
    frames = {"frames": [{"name": "a.jpg", "labels": [
        {"id": "p", "category": "car", "poly2d": poly},
        {"id": "lane", "category": "lane", "poly2d": lane},  # open polyline: not an object box
        {"id": "mask", "category": "road", "rle": {"counts": "abc", "size": [100, 200]}},  # mask only
    ]}]}
    (tmp_path / "ann.json").write_text(json.dumps(frames))
    source = open_source(tmp_path / "img", tmp_path / "ann.json")
    assert source.skips == []
    [box] = source.records[0].labels
    assert (box.gt_id, box.category, box.box) == ("p", "car", (20.0, 25.0, 60.0, 70.0))


def test_folder_of_per_frame_jsons_and_basename_lookup(tmp_path):
    _write_image(tmp_path / "img" / "val" / "a.jpg")
    _write_image(tmp_path / "img" / "val" / "b.jpg")
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "b.json").write_text(json.dumps({"name": "b.jpg", "labels": [_label(1)]}))
    (tmp_path / "labels" / "a.json").write_text(json.dumps({"name": "a.jpg", "labels": []}))
    source = open_source(tmp_path / "img", tmp_path / "labels")
    assert source.format == "bdd"
    assert [(r.index, r.name, len(r.labels)) for r in source.records] == [(0, "val/a.jpg", 0), (1, "val/b.jpg", 1)]
    assert source.skips == []


# --------------------------------------------------------------------------- bad-input corpus


@pytest.fixture
def corpus(tmp_path):
    """Images f0..f5.jpg (200x100) and a BDD file with one problem per frame."""
    for i in range(6):
        _write_image(tmp_path / "img" / f"f{i}.jpg")
    frames = [
        {"name": "f0.jpg", "attributes": {"weather": "rainy", "lanes": [1, 2]}, "labels": [
            _label(0, box=(10, 10, 50, 40)),                       # good
            _label(1, box=(30, 30, 30, 60)),                       # zero area
            _label(2, box=(60, 10, 20, 40)),                       # negative (x2 < x1)
            _label(3, box=(150, 50, 260, 130)),                    # out of bounds -> clipped
            {"id": "4", "category": "car", "box2d": {"x1": 1, "y1": 2, "x2": 3}},  # malformed box2d
            {"id": "5", "category": "bus", "box2d": {"x1": 1, "y1": 2, "x2": True, "y2": 9}},  # bool coordinate
            _label(6, box=(300, 200, 400, 300)),                   # entirely outside
        ]},
        {"name": "f1.jpg"},                                                      # no labels key
        {"name": "missing.jpg", "labels": [_label(0)]},                          # image does not exist
        {"name": "f0.jpg", "labels": [_label(9)]},                               # duplicate name
        {"name": "f3.jpg", "labels": [_label(0, "car"), _label(1, "unicorn")]},  # unknown category (whitelist)
        {"labels": []},                                                          # no name
        {"name": "f5.jpg", "labels": {"oops": 1}},                               # labels not a list
    ]
    (tmp_path / "annotation.json").write_text(json.dumps(frames))
    return tmp_path


def _skips_by_file(source):
    return {s.file: s for s in source.skips}


@pytest.mark.reliability
def test_bad_bdd_corpus(corpus):
    source = open_source(corpus / "img", corpus / "annotation.json", categories=list(BDD_DETECTION_CATEGORIES))
    names = [r.name for r in source.records]
    assert names == ["f0.jpg", "f1.jpg", "f3.jpg"]  # label-file order, only frames that resolve
    f0, f1, f3 = source.records

    assert f0.attributes == {"weather": "rainy"}  # lists dropped: JSON scalars only
    assert [(b.gt_id, b.box) for b in f0.labels] == [("0", (10.0, 10.0, 50.0, 40.0)), ("3", (150.0, 50.0, 200.0, 100.0))]
    assert f1.labels == []
    assert [b.category for b in f3.labels] == ["car"]

    skips = _skips_by_file(source)
    expect = {
        "annotation.json[frame f0.jpg, label 1]": ("skipped", "zero-area"),
        "annotation.json[frame f0.jpg, label 2]": ("skipped", "negative box"),
        "annotation.json[frame f0.jpg, label 3]": ("clipped", "outside the 200x100 image"),
        "annotation.json[frame f0.jpg, label 4]": ("skipped", "'box2d' lacks y2"),
        "annotation.json[frame f0.jpg, label 5]": ("skipped", "box2d.x2 is not a number (True)"),
        "annotation.json[frame f0.jpg, label 6]": ("skipped", "lies outside the 200x100 image"),
        "annotation.json[frame f1.jpg]": ("kept", "no 'labels' key; treated as no objects"),
        "annotation.json[frame missing.jpg]": ("skipped", "image not found under"),
        "annotation.json[frame f0.jpg]": ("skipped", "duplicate frame name"),
        "annotation.json[frame f3.jpg, label 1]": ("skipped", "category 'unicorn' is not in the requested categories"),
        "annotation.json[frame #5]": ("skipped", "frame has no 'name'"),
        "annotation.json[frame f5.jpg]": ("skipped", "'labels' is not a list"),
    }
    assert set(skips) == set(expect)
    for file, (action, needle) in expect.items():
        assert skips[file].action == action, file
        assert needle in skips[file].reason, (file, skips[file].reason)
        assert "\n" not in str(skips[file])
    assert str(skips["annotation.json[frame f1.jpg]"]) == (
        "annotation.json[frame f1.jpg]: no 'labels' key; treated as no objects (kept)"
    )
    assert source.class_names == list(BDD_DETECTION_CATEGORIES)


@pytest.mark.reliability
def test_unknown_category_kept_without_whitelist(corpus):
    source = open_source(corpus / "img", corpus / "annotation.json")
    f3 = source.records[2]
    assert [b.category for b in f3.labels] == ["car", "unicorn"]
    assert source.class_names == ["car", "unicorn"]


@pytest.mark.reliability
@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_coordinates_skip_the_label(tmp_path, bad):
    _write_image(tmp_path / "img" / "a.jpg")
    text = '[{"name": "a.jpg", "labels": [%s, %s]}]' % (
        json.dumps(_label(0)),
        json.dumps(_label(1)).replace('"x2": 50', f'"x2": {bad}'),
    )
    (tmp_path / "ann.json").write_text(text)
    source = open_source(tmp_path / "img", tmp_path / "ann.json")
    assert [b.gt_id for b in source.records[0].labels] == ["0"]
    [skip] = source.skips
    assert skip.file == "ann.json[frame a.jpg, label 1]" and skip.action == "skipped"
    assert "non-finite" in skip.reason


@pytest.mark.reliability
def test_malformed_json_is_fatal_and_names_line_and_column(tmp_path):
    _write_image(tmp_path / "img" / "a.jpg")
    (tmp_path / "ann.json").write_text('[\n  {"name": "a.jpg",\n   "labels": [}\n]')
    with pytest.raises(InputError) as info:
        open_source(tmp_path / "img", tmp_path / "ann.json")
    message = str(info.value)
    assert str(tmp_path / "ann.json") in message
    assert "malformed JSON at line 3, column 15" in message


@pytest.mark.reliability
def test_no_frame_resolves_is_an_input_error(tmp_path):
    _write_image(tmp_path / "img" / "a.jpg")
    (tmp_path / "ann.json").write_text(json.dumps([{"name": "zzz.jpg", "labels": []}]))
    with pytest.raises(InputError, match="no labelled frame matches an image.*image not found"):
        open_source(tmp_path / "img", tmp_path / "ann.json")


@pytest.mark.reliability
def test_undecodable_image_with_labels_skips_the_frame(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "bad.jpg").write_bytes(b"")
    _write_image(tmp_path / "img" / "ok.jpg")
    (tmp_path / "ann.json").write_text(json.dumps([
        {"name": "bad.jpg", "labels": [_label(0)]},
        {"name": "ok.jpg", "labels": [_label(0)]},
    ]))
    source = read_bdd(tmp_path / "ann.json", ImageFinder.for_folder(tmp_path / "img"))
    assert [r.name for r in source.records] == ["ok.jpg"]
    [skip] = source.skips
    assert skip.file == "ann.json[frame bad.jpg]"
    assert skip.reason == "cannot read the image size: empty file (0 bytes)"


@pytest.mark.reliability
def test_two_frame_names_for_one_image(tmp_path):
    _write_image(tmp_path / "img" / "val" / "a.jpg")
    (tmp_path / "ann.json").write_text(json.dumps([
        {"name": "a.jpg", "labels": []},
        {"name": "./val/a.jpg", "labels": []},
    ]))
    source = open_source(tmp_path / "img", tmp_path / "ann.json")
    assert [r.name for r in source.records] == ["val/a.jpg"]
    [skip] = source.skips
    assert skip.file == "ann.json[frame ./val/a.jpg]" and skip.action == "skipped"
    assert skip.reason == "resolves to val/a.jpg, already used by an earlier entry"
