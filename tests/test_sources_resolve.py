"""open_source: format detection, names, ordering, and fatal input errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from yololens.errors import InputError
from yololens.sources import FORMATS, open_source


def _write_image(path: Path, w: int = 8, h: int = 6) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.zeros((h, w, 3), np.uint8))
    return path


def test_formats():
    assert FORMATS == ("image", "folder", "list", "bdd", "coco", "yolo")


def test_single_image_name_is_its_canonical_key(assets, tmp_path, monkeypatch):
    source = open_source(str(Path(assets) / "bus.jpg"))
    assert source.format == "image"
    assert [(r.index, r.name, r.labels) for r in source.records] == [(0, "bus.jpg", None)]
    (tmp_path / "base").mkdir()
    shutil.copy(Path(assets) / "bus.jpg", tmp_path / "base" / "x.jpg")
    monkeypatch.chdir(tmp_path)
    spellings = ["base/x.jpg", "./base/x.jpg", str(tmp_path / "base" / "x.jpg"), "base//x.jpg"]
    assert {open_source(s).records[0].name for s in spellings} == {"x.jpg"}  # one key, however spelled
    assert not source.has_labels and source.class_names == []


def test_folder_names_relative_posix(tmp_path):
    for rel in ["b/2.jpg", "a.png", "b/1.jpg"]:
        _write_image(tmp_path / rel)
    (tmp_path / "readme.md").write_text("x")
    source = open_source(tmp_path)
    assert source.format == "folder"
    assert [(r.index, r.name) for r in source.records] == [(0, "a.png"), (1, "b/1.jpg"), (2, "b/2.jpg")]
    assert all(r.path == tmp_path / r.name for r in source.records)


def test_list_file(tmp_path):
    _write_image(tmp_path / "imgs" / "a.jpg")
    _write_image(tmp_path / "imgs" / "b.jpg")
    (tmp_path / "set.txt").write_text("imgs/b.jpg\n# skip me\n\nimgs/a.jpg\nimgs/nope.jpg\n")
    source = open_source(tmp_path / "set.txt")
    assert source.format == "list"
    assert [r.name for r in source.records] == ["imgs/b.jpg", "imgs/a.jpg"]
    [skip] = source.skips
    assert skip.reason == "file not found" and skip.action == "skipped"


def test_labels_against_a_list_source(tmp_path):
    _write_image(tmp_path / "imgs" / "a.jpg")
    (tmp_path / "set.txt").write_text("imgs/a.jpg\n")
    (tmp_path / "ann.json").write_text(json.dumps([{"name": "a.jpg", "labels": []}]))
    source = open_source(tmp_path / "set.txt", tmp_path / "ann.json")
    assert [(r.name, r.labels) for r in source.records] == [("imgs/a.jpg", [])]


def test_fmt_override_and_bad_format(tmp_path):
    _write_image(tmp_path / "a.jpg")
    (tmp_path / "ann.json").write_text(json.dumps([{"name": "a.jpg", "labels": []}]))
    assert open_source(tmp_path, tmp_path / "ann.json", source_format="bdd").format == "bdd"
    with pytest.raises(InputError, match="unknown format 'xml'"):
        open_source(tmp_path, source_format="xml")
    with pytest.raises(InputError, match="takes no labels"):
        open_source(tmp_path, tmp_path / "ann.json", source_format="folder")
    with pytest.raises(InputError, match="needs --labels"):
        open_source(tmp_path, source_format="coco")


@pytest.mark.reliability
def test_fatal_input_errors(tmp_path):
    with pytest.raises(InputError, match="source not found"):
        open_source(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(InputError) as info:
        open_source(tmp_path / "empty")
    assert str(info.value) == f"{tmp_path / 'empty'}: no images found (looked for .jpg, .jpeg, .png, .bmp, .webp, .tif, .tiff)"
    _write_image(tmp_path / "imgs" / "a.jpg")
    with pytest.raises(InputError, match="labels not found"):
        open_source(tmp_path / "imgs", tmp_path / "missing.json")
    (tmp_path / "weird.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(InputError, match="neither BDD/Scalabel"):
        open_source(tmp_path / "imgs", tmp_path / "weird.json")
    with pytest.raises(InputError, match="a label file; pass it as --labels"):
        open_source(tmp_path / "weird.json")
    (tmp_path / "clip.mp4").write_text("x")
    with pytest.raises(InputError, match="not an image, folder"):
        open_source(tmp_path / "clip.mp4")


@pytest.mark.reliability
def test_folder_of_only_bad_entries_is_empty(tmp_path):
    (tmp_path / "x.jpg").mkdir()
    with pytest.raises(InputError, match="no images found.*first problem: .*is a directory"):
        open_source(tmp_path)


@pytest.mark.reliability
def test_undecodable_images_are_still_listed(tmp_path):
    """Listing does not decode: bad files reach the engine, which turns ImageDecodeError into a Skip."""
    (tmp_path / "zero.jpg").write_bytes(b"")
    _write_image(tmp_path / "ok.jpg")
    assert [r.name for r in open_source(tmp_path).records] == ["ok.jpg", "zero.jpg"]
