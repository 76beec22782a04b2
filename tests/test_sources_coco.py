"""COCO JSON: the BDD sample's COCO export, a synthetic dataset and bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from yololens.sources import open_source


def _write_image(path: Path, w: int, h: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.zeros((h, w, 3), np.uint8))


def test_bdd_sample_coco_export(bdd_detect):
    coco = bdd_detect / "annotation_coco.json"
    source = open_source(bdd_detect / "images", coco)
    assert source.format == "coco"
    assert source.skips == []
    [record] = source.records
    # file_name "913b47b8-3cf1b886.jpg" resolves directly against --source
    assert record.name == "913b47b8-3cf1b886.jpg"
    assert record.size == (1280, 720)
    assert [(b.gt_id, b.category) for b in record.labels] == [(str(i), "car") for i in range(1, 5)]
    assert record.labels[0].box == (440.0, 317.0, 483.0, 349.0)  # bbox [440, 317, 43, 32] as x1 y1 x2 y2
    assert record.labels[0].attributes == {"iscrowd": 0, "area": 1166}
    assert source.class_names == ["pedestrian", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle"]


def test_bdd_sample_coco_from_the_parent_folder_uses_basename_lookup(bdd_detect):
    source = open_source(bdd_detect, bdd_detect / "annotation_coco.json")
    assert [r.name for r in source.records] == ["images/913b47b8-3cf1b886.jpg"]
    assert len(source.records[0].labels) == 4


@pytest.fixture
def coco_dir(tmp_path):
    _write_image(tmp_path / "images" / "val" / "a.jpg", 64, 48)
    _write_image(tmp_path / "images" / "val" / "b.png", 32, 32)
    _write_image(tmp_path / "images" / "val" / "c.jpg", 10, 10)
    data = {
        "images": [
            {"id": 7, "file_name": "val/b.png", "width": 32, "height": 32},
            {"id": 3, "file_name": "val/a.jpg", "width": 64, "height": 48},
            {"id": 9, "file_name": "val/c.jpg", "width": 10, "height": 10},
            {"id": 11, "file_name": "val/gone.jpg", "width": 10, "height": 10},
            {"id": 3, "file_name": "val/c.jpg"},
        ],
        "categories": [{"id": 1, "name": "person"}, {"id": 5, "name": "dog"}],
        "annotations": [
            {"id": 100, "image_id": 3, "category_id": 1, "bbox": [4, 5, 10, 20], "area": 200, "iscrowd": 0},
            {"id": 101, "image_id": 7, "category_id": 5, "bbox": [0, 0, 40, 8], "area": 320, "iscrowd": 1},
            {"id": 102, "image_id": 3, "category_id": 5, "bbox": [1, 1, 0, 5]},
            {"id": 103, "image_id": 99, "category_id": 1, "bbox": [1, 1, 5, 5]},
            {"id": 104, "image_id": 3, "category_id": 42, "bbox": [1, 1, 5, 5]},
            {"id": 105, "image_id": 3, "category_id": 1, "segmentation": [[10, 10, 20, 12, 15, 30]]},
            {"id": 106, "image_id": 3, "category_id": 1},
            {"id": 107, "image_id": 11, "category_id": 1, "bbox": [1, 1, 5, 5]},
        ],
    }
    (tmp_path / "instances.json").write_text(json.dumps(data))
    return tmp_path


def test_synthetic_coco_values(coco_dir):
    source = open_source(coco_dir / "images", coco_dir / "instances.json")
    assert source.format == "coco"
    assert [(r.index, r.name, r.size) for r in source.records] == [
        (0, "val/b.png", (32, 32)),
        (1, "val/a.jpg", (64, 48)),
        (2, "val/c.jpg", (10, 10)),  # listed image without annotations: labelled, no objects
    ]
    b, a, c = source.records
    assert [(x.gt_id, x.category, x.box, x.attributes) for x in b.labels] == [
        ("101", "dog", (0.0, 0.0, 32.0, 8.0), {"iscrowd": 1, "area": 320})
    ]
    assert [(x.gt_id, x.box) for x in a.labels] == [("100", (4.0, 5.0, 14.0, 25.0)), ("105", (10.0, 10.0, 20.0, 30.0))]
    assert c.labels == []
    assert source.class_names == ["person", "dog"]


@pytest.mark.reliability
def test_coco_bad_inputs(coco_dir):
    source = open_source(coco_dir / "images", coco_dir / "instances.json")
    skips = {s.file: s for s in source.skips}
    expect = {
        "instances.json[image val/b.png, annotation 101]": ("clipped", "outside the 32x32 image"),
        "instances.json[image val/a.jpg, annotation 102]": ("skipped", "zero-area box"),
        "instances.json[annotation 103]": ("skipped", "image_id 99 is not in 'images'"),
        "instances.json[image val/a.jpg, annotation 104]": ("skipped", "category_id 42 is not in 'categories'"),
        "instances.json[image val/a.jpg, annotation 106]": ("skipped", "no 'bbox'"),
        "instances.json[image val/gone.jpg]": ("skipped", "image not found"),
        "instances.json[image val/c.jpg]": ("skipped", "duplicate image id 3"),
    }
    assert set(skips) == set(expect)  # annotation 107 belongs to the skipped gone.jpg: no second line
    for file, (action, needle) in expect.items():
        assert skips[file].action == action, file
        assert needle in skips[file].reason, (file, skips[file].reason)


@pytest.mark.reliability
def test_coco_whitelist_and_declared_size_mismatch(coco_dir):
    data = json.loads((coco_dir / "instances.json").read_text())
    data["images"][1]["width"] = 48  # a.jpg really is 64x48
    (coco_dir / "instances.json").write_text(json.dumps(data))
    source = open_source(coco_dir / "images", coco_dir / "instances.json", categories=["dog"])
    b, a, _ = source.records
    assert [x.category for x in b.labels] == ["dog"] and a.labels == []
    assert source.class_names == ["dog"]
    skips = {s.file: s for s in source.skips}
    mismatch = skips["instances.json[image val/a.jpg]"]
    assert mismatch.action == "kept" and "declared size 48x48 differs from the image's 64x48" in mismatch.reason
    assert "not in the requested categories" in skips["instances.json[image val/a.jpg, annotation 100]"].reason


@pytest.mark.reliability
def test_coco_without_annotations_key(coco_dir):
    data = json.loads((coco_dir / "instances.json").read_text())
    del data["annotations"]
    (coco_dir / "instances.json").write_text(json.dumps(data))
    source = open_source(coco_dir / "images", coco_dir / "instances.json", source_format="coco")
    assert [r.labels for r in source.records] == [[], [], []]
    assert any(s.action == "kept" and "no 'annotations' key" in s.reason for s in source.skips)
