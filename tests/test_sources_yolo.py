"""YOLO datasets (data.yaml + labels/*.txt) built in tmp_path."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from ultralytics.data.utils import img2label_paths

from yololens.errors import InputError
from yololens.sources import open_source
from yololens.sources.yolo_dataset import label_path_for


def _write_image(path: Path, w: int, h: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.zeros((h, w, 3), np.uint8))


def _write_label(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def dataset(tmp_path):
    """coco8-style layout: images/{train,val}, labels/{train,val}, data.yaml with a names dict."""
    root = tmp_path / "ds"
    _write_image(root / "images" / "val" / "a.jpg", 200, 100)
    _write_image(root / "images" / "val" / "b.png", 100, 100)
    _write_image(root / "images" / "val" / "c.jpg", 50, 40)  # no label file
    _write_image(root / "images" / "train" / "t.jpg", 20, 20)
    _write_label(root / "labels" / "val" / "a.txt", "0 0.5 0.5 0.2 0.4\n2 0.25 0.25 0.1 0.1\n")
    _write_label(root / "labels" / "val" / "b.txt", "1 0.1 0.2 0.5 0.2 0.3 0.6\n\n")  # polygon
    _write_label(root / "labels" / "train" / "t.txt", "0 0.5 0.5 1 1\n")
    config = {"path": str(root), "train": "images/train", "val": "images/val", "names": {0: "person", 1: "car", 2: "dog"}}
    (root / "data.yaml").write_text(yaml.safe_dump(config))
    return root


def test_label_path_rule_matches_ultralytics(tmp_path):
    for image in [tmp_path / "ds" / "images" / "val" / "a.jpg", tmp_path / "images" / "x" / "images" / "y.v2.png"]:
        assert str(label_path_for(image)) == img2label_paths([str(image)])[0]


def test_yaml_val_split_values(dataset):
    source = open_source(dataset / "data.yaml")
    assert source.format == "yolo"
    assert source.class_names == ["person", "car", "dog"]
    assert [(r.index, r.name) for r in source.records] == [
        (0, "images/val/a.jpg"),
        (1, "images/val/b.png"),
        (2, "images/val/c.jpg"),
    ]
    a, b, c = source.records
    assert [(x.category, x.gt_id) for x in a.labels] == [("person", "a:1"), ("dog", "a:2")]
    assert a.labels[0].box == pytest.approx((80.0, 30.0, 120.0, 70.0))  # 200x100 image
    assert a.labels[1].box == pytest.approx((40.0, 20.0, 60.0, 30.0))
    assert [(x.category, x.gt_id) for x in b.labels] == [("car", "b:1")]
    assert b.labels[0].box == pytest.approx((10.0, 20.0, 50.0, 60.0))  # polygon bounding box, 100x100
    assert c.labels == []  # no label file: labelled, zero objects
    assert source.skips == []


def test_yaml_train_split_and_relative_path(dataset):
    config = yaml.safe_load((dataset / "data.yaml").read_text())
    config["path"] = "."  # the working folder lacks images/train, so the yaml's folder is used
    config["names"] = ["person", "car", "dog"]  # names as a list
    (dataset / "data.yaml").write_text(yaml.safe_dump(config))
    source = open_source(dataset / "data.yaml", split="train")
    [record] = source.records
    assert record.name == "images/train/t.jpg"
    assert record.labels[0].box == (0.0, 0.0, 20.0, 20.0)


def test_images_folder_with_labels_folder_and_classes_txt(tmp_path):
    _write_image(tmp_path / "pics" / "sub" / "x.jpg", 100, 50)
    _write_label(tmp_path / "lbl" / "sub" / "x.txt", "1 0.5 0.5 0.5 0.5\n")
    (tmp_path / "lbl" / "classes.txt").write_text("cat\ndog\n")
    source = open_source(tmp_path / "pics", tmp_path / "lbl")
    assert source.format == "yolo"
    [record] = source.records
    assert record.name == "sub/x.jpg"
    assert [(x.category, x.box) for x in record.labels] == [("dog", (25.0, 12.5, 75.0, 37.5))]
    assert source.class_names == ["cat", "dog"]


def test_images_folder_without_names_uses_class_ids(tmp_path):
    _write_image(tmp_path / "pics" / "x.jpg", 10, 10)
    _write_label(tmp_path / "lbl" / "x.txt", "7 0.5 0.5 0.5 0.5\n")
    source = open_source(tmp_path / "pics", tmp_path / "lbl")
    assert [x.category for x in source.records[0].labels] == ["7"]
    assert source.class_names == ["7"]


def test_images_folder_forced_yolo_uses_the_ultralytics_rule(dataset):
    source = open_source(dataset / "images" / "val", source_format="yolo")
    assert [(r.name, [x.category for x in r.labels]) for r in source.records] == [
        ("a.jpg", ["0", "2"]),
        ("b.png", ["1"]),
        ("c.jpg", []),
    ]


def test_yaml_with_category_whitelist(dataset):
    source = open_source(dataset / "data.yaml", categories=["dog"])
    assert [x.category for x in source.records[0].labels] == ["dog"]
    assert source.class_names == ["dog"]
    assert [s.file for s in source.skips] == ["labels/val/a.txt[line 1]", "labels/val/b.txt[line 1]"]


@pytest.mark.reliability
def test_yolo_bad_lines(dataset):
    _write_label(
        dataset / "labels" / "val" / "a.txt",
        "\n".join([
            "0 0.5 0.5 0.2 0.4",        # 1 good
            "0 0.5 0.5 0.2",            # 2 four columns
            "1 0.9 0.5 0.4 0.4",        # 3 x beyond 1 -> clipped to the image
            "2 1.5 1.5 0.2 0.2",        # 4 entirely outside -> skipped
            "9 0.5 0.5 0.1 0.1",        # 5 class not in names
            "0 0.5 nan 0.1 0.1",        # 6 NaN
            "x 0.5 0.5 0.1 0.1",        # 7 non-numeric
            "1.5 0.5 0.5 0.1 0.1",      # 8 non-integer class
            "0 0.5 0.5 -0.2 0.1",       # 9 negative width
            "0 0.1 0.1 0.2 0.2 0.3",    # 10 six columns
        ]) + "\n",
    )
    source = open_source(dataset / "data.yaml")
    a = source.records[0]
    assert [(x.gt_id, x.category) for x in a.labels] == [("a:1", "person"), ("a:3", "car")]
    assert a.labels[1].box == (140.0, 30.0, 200.0, 70.0)  # x2 = 1.1*200 clipped to 200
    assert all(type(v) is float for v in a.labels[1].box)
    skips = {s.file: s for s in source.skips}
    expect = {
        2: ("skipped", "4 columns"),
        3: ("clipped", "outside the 200x100 image"),
        4: ("skipped", "lies outside the 200x100 image"),
        5: ("skipped", "class 9 is not in the dataset names (0..2)"),
        6: ("skipped", "non-finite"),
        7: ("skipped", "non-numeric"),
        8: ("skipped", "class id '1.5' is not a non-negative integer"),
        9: ("skipped", "negative box"),
        10: ("skipped", "6 columns"),
    }
    assert set(skips) == {f"labels/val/a.txt[line {n}]" for n in expect}
    for line, (action, needle) in expect.items():
        skip = skips[f"labels/val/a.txt[line {line}]"]
        assert skip.action == action and needle in skip.reason, (line, skip)
    # the other images still come through
    assert [r.name for r in source.records] == ["images/val/a.jpg", "images/val/b.png", "images/val/c.jpg"]


@pytest.mark.reliability
def test_yolo_label_for_undecodable_image_skips_it(dataset):
    (dataset / "images" / "val" / "a.jpg").write_bytes(b"")
    source = open_source(dataset / "data.yaml")
    assert [r.name for r in source.records] == ["images/val/b.png", "images/val/c.jpg"]
    [skip] = source.skips
    assert skip.file == "labels/val/a.txt" and "empty file (0 bytes)" in skip.reason


@pytest.mark.reliability
def test_yolo_yaml_errors(dataset):
    with pytest.raises(InputError, match="no 'test' split .available: train, val"):
        open_source(dataset / "data.yaml", split="test")
    (dataset / "bad.yaml").write_text("names: [a, b\nval: x\n")
    with pytest.raises(InputError, match="malformed YAML at line"):
        open_source(dataset / "bad.yaml")
    (dataset / "nonames.yaml").write_text(f"path: {dataset}\nval: images/val\n")
    with pytest.raises(InputError, match="no 'names'"):
        open_source(dataset / "nonames.yaml")
