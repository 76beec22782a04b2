"""``--source`` / ``--labels`` / ``--format`` -> a :class:`Source`.

Unlabelled formats iterate over images: ``image`` (one file), ``folder`` (recursive), ``list`` (a .txt of
paths). Image names are canonical keys (:func:`~yololens.sources.listing.canonical_key`): relative to the
folder, the image's own folder, or the list's folder, however the path was spelled.
Labelled formats iterate over the label file's frames that resolve to an image (``bdd``,
``coco``, label-file order) or over the dataset's images (``yolo``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from yololens.errors import InputError
from yololens.sources.bdd import is_bdd_json, read_bdd
from yololens.sources.coco import is_coco_json, read_coco
from yololens.sources.common import load_json
from yololens.sources.images import (IMAGE_SUFFIXES, ImageFinder, canonical_key, is_image_name, list_images,
                                     read_image_list)
from yololens.sources.records import ImageRecord, Skip, Source
from yololens.sources.yolo_dataset import read_yolo_folder, read_yolo_yaml

FORMATS = ("image", "folder", "list", "bdd", "coco", "yolo")
_UNLABELLED = ("image", "folder", "list")
_YAML_SUFFIXES = (".yaml", ".yml")


def open_source(
    source: str | Path,
    labels: str | Path | None = None,
    source_format: str | None = None,
    categories: Iterable[str] | None = None,
    split: str = "val",
    exclude: Iterable[str | Path] = (),
) -> Source:
    """Resolve the user's input into images (and ground truth) in a fixed order.

    Args:
        source: an image, a folder of images, a .txt list of images, or a YOLO data.yaml.
        labels: BDD/COCO JSON file, folder of per-frame BDD JSONs, or folder of YOLO txt.
        source_format: force one of :data:`FORMATS` instead of detecting it.
        categories: keep only labels of these categories (default: all).
        split: data.yaml split to read.
        exclude: output folders: images (and listing problems) under them are never inputs, so a
            ``--out`` inside ``--source`` never feeds a rerun its own crops or figures.

    Raises:
        InputError: missing paths, unknown/contradictory format, malformed label file, no images.
    """
    given = str(source)
    src = Path(source)
    lab = Path(labels) if labels is not None else None
    if not src.exists():
        raise InputError(f"{given}: source not found")
    if lab is not None and not lab.exists():
        raise InputError(f"{labels}: labels not found")
    _source_outside_outputs(src, exclude)
    data = load_json(lab) if lab is not None and not lab.is_dir() and lab.suffix.lower() == ".json" else None
    chosen = source_format or detect_format(src, lab, data)
    if chosen not in FORMATS:
        raise InputError(f"unknown format '{chosen}' (choose from {', '.join(FORMATS)})")
    if chosen in _UNLABELLED and lab is not None:
        raise InputError(f"format '{chosen}' takes no labels; got --labels {labels}")
    cats = list(categories) if categories else None
    source_obj = _without(_open(chosen, src, given, lab, cats, split, data), src, exclude)
    source_obj.given = (given, None if labels is None else str(labels))
    if not source_obj.records:
        raise InputError(_empty_message(given, lab, source_obj))
    return source_obj


def detect_format(source: Path, labels: Path | None, data: object = None) -> str:
    """The format implied by the paths (see :func:`open_source`); ``data``: the loaded label JSON."""
    if source.is_file() and source.suffix.lower() in _YAML_SUFFIXES:
        return "yolo"
    if labels is not None:
        return _sniff_labels(labels, data)
    if source.is_dir():
        return "folder"
    if source.suffix.lower() == ".txt":
        return "list"
    if is_image_name(source.name):
        return "image"
    if source.suffix.lower() == ".json":
        raise InputError(f"{source}: a label file; pass it as --labels, with --source <images folder>")
    suffixes = ", ".join(IMAGE_SUFFIXES)
    raise InputError(f"{source}: not an image, folder, .txt list or data.yaml (image suffixes: {suffixes})")


def _sniff_labels(labels: Path, data: object) -> str:
    if labels.is_dir():
        if any(labels.rglob("*.txt")):
            return "yolo"
        if any(labels.rglob("*.json")):
            return "bdd"
        raise InputError(f"{labels}: no .txt (YOLO) or .json (BDD) label files inside")
    if labels.suffix.lower() != ".json":
        raise InputError(f"{labels}: labels must be a .json file or a folder of YOLO .txt / BDD .json files")
    if data is None:
        data = load_json(labels)
    if is_coco_json(data):
        return "coco"
    if is_bdd_json(data):
        return "bdd"
    raise InputError(f"{labels}: neither BDD/Scalabel (frames with 'name'/'labels') nor COCO ('images'/'annotations')")


def _open(
    fmt: str, src: Path, given: str, lab: Path | None, cats: list[str] | None, split: str, data: object
) -> Source:
    if fmt == "yolo":
        return _open_yolo(src, lab, cats, split)
    if fmt in ("bdd", "coco"):
        if lab is None:
            raise InputError(f"format '{fmt}' needs --labels (the {fmt.upper()} JSON)")
        reader = read_bdd if fmt == "bdd" else read_coco
        return reader(lab, _finder(src), cats, data)
    entries, skips = _unlabelled_entries(fmt, src, given)
    records = [ImageRecord(i, path, name) for i, (path, name) in enumerate(entries)]
    return Source(records, skips, fmt)


def _open_yolo(src: Path, lab: Path | None, cats: list[str] | None, split: str) -> Source:
    if src.is_file() and src.suffix.lower() in _YAML_SUFFIXES:
        if lab is not None:
            raise InputError(f"{src}: a data.yaml already says where the labels are; drop --labels")
        return read_yolo_yaml(src, split, cats)
    if not src.is_dir():
        raise InputError(f"{src}: YOLO format needs a data.yaml or an images folder")
    if lab is not None and not lab.is_dir():
        raise InputError(f"{lab}: YOLO labels must be a folder of .txt files")
    return read_yolo_folder(src, lab, cats)


def _unlabelled_entries(fmt: str, src: Path, given: str) -> tuple[list[tuple[Path, str]], list[Skip]]:
    if fmt == "folder":
        if not src.is_dir():
            raise InputError(f"{given}: not a folder")
        paths, skips = list_images(src)
        return [(p, p.relative_to(src).as_posix()) for p in paths], skips
    if fmt == "list":
        return read_image_list(src)
    if src.is_dir():
        raise InputError(f"{given}: is a folder, not an image")
    return [(src, canonical_key(src, src.parent))], []


def _finder(src: Path) -> ImageFinder:
    """Where label-file names are looked up: the source folder, or the given image(s)."""
    if src.is_dir():
        return ImageFinder.for_folder(src)
    if src.suffix.lower() == ".txt":
        return ImageFinder.for_entries(read_image_list(src)[0])
    return ImageFinder.for_entries([(src, canonical_key(src, src.parent))])


def _source_outside_outputs(src: Path, exclude: Iterable[str | Path]) -> None:
    """Refuse a ``--source`` that is an output folder or lies inside one: a run would read its own outputs (crops,
    maps) back as inputs and a rerun would find them "added". An output folder inside the source is fine (it is
    left out of the listing), and so is a single image or list file inside the output folder."""
    if not src.is_dir():
        return
    given = os.path.realpath(src)
    for out in exclude:
        root = os.path.realpath(out)
        if given == root or given.startswith(root + os.sep):
            where = "is" if given == root else "is inside"
            raise InputError(f"{src}: --source {where} --out {out}; outputs would be read back as inputs "
                             "(choose another --out)")


def _without(source: Source, src: Path, exclude: Iterable[str | Path]) -> Source:
    """``source`` minus the images and skips under the ``exclude`` folders, renumbered in order.

    A folder that holds ``src`` itself (``--out`` above ``--source``) excludes nothing."""
    given = os.path.realpath(src) + os.sep
    roots = [r for r in (os.path.realpath(p) + os.sep for p in exclude if os.path.isdir(p)) if not given.startswith(r)]
    if not roots:
        return source

    def inside(path: str | Path) -> bool:
        return any(os.path.realpath(path).startswith(root) for root in roots)

    kept = [r for r in source.records if not inside(r.path)]
    if len(kept) == len(source.records):
        return source
    records = [replace(r, index=i) for i, r in enumerate(kept)]
    skips = [s for s in source.skips if not inside(s.file)]
    return Source(records, skips, source.format, source.class_names)


def _empty_message(given: str, labels: Path | None, source: Source) -> str:
    first = f"; first problem: {source.skips[0]}" if source.skips else ""
    if labels is not None and source.format in ("bdd", "coco"):
        return f"{labels}: no labelled frame matches an image under {given}{first}"
    return f"{given}: no images found (looked for {', '.join(IMAGE_SUFFIXES)}){first}"


def as_source(source, labels: str | Path | None = None, source_format: str | None = None,
              exclude: str | Path | None = None) -> Source:
    """The one source opener of every job: a :class:`Source` as given; a list of image paths in that order,
    each named as passed (``str(path)``, like the ``image`` column of the objects table); anything else
    through :func:`open_source`, leaving out images under the output folder ``exclude``."""
    if isinstance(source, Source):
        return source
    if source is None:
        raise InputError("no --source given")
    if isinstance(source, (list, tuple)):
        return Source([ImageRecord(i, Path(p), str(p)) for i, p in enumerate(source)], format="list")
    return open_source(source, labels=labels, source_format=source_format, exclude=[exclude] if exclude else ())
