"""COCO detection JSON: ``images``, ``annotations`` (``bbox`` = x, y, w, h in pixels), ``categories``.

Records follow the ``images`` order; an image without annotations is "labelled, no objects".
``gt_id`` is the annotation ``id``; attributes are ``iscrowd`` and ``area``. A missing
``bbox`` falls back to the polygon ``segmentation``. Boxes are clipped to the image's real
size (read from its header, only for images that have annotations); the declared
``width``/``height`` is kept as ``ImageRecord.size``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yololens.errors import InputError
from yololens.sources.boxes import Box, LabelProblem, as_number, box_from_points
from yololens.sources.common import (Categories, is_scalar_id, load_json, scalar_attributes, unique_label_ids,
                                     wanted_box)
from yololens.sources.images import ImageDecodeError, ImageFinder, read_image_size
from yololens.sources.masks import coco_mask_spec, mask_problem
from yololens.sources.records import ImageRecord, LabelBox, Skip, Source

_ANNOTATION_ATTRIBUTES = ("iscrowd", "area")


def is_coco_json(data: object) -> bool:
    return isinstance(data, Mapping) and "images" in data and ("annotations" in data or "categories" in data)


@dataclass
class _Image:
    """One ``images`` entry that resolved to a file, with its annotations gathered so far."""

    path: Path
    name: str
    where: str
    declared: tuple[int, int] | None
    annotations: list[tuple[str, Mapping[str, Any]]] = field(default_factory=list)


def read_coco(
    labels: Path, finder: ImageFinder, categories: Iterable[str] | None = None, data: object = None
) -> Source:
    """Parse a COCO JSON file and resolve ``file_name``s with ``finder``.

    ``data``: the already-loaded JSON of ``labels`` (optional, avoids parsing it twice).
    """
    if data is None:
        data = load_json(labels)
    file = labels.name
    if not is_coco_json(data):
        raise InputError(f"{labels}: not COCO JSON (expected a dict with 'images' and 'annotations')")
    skips: list[Skip] = []
    cats = Categories(categories)
    id_to_name = _categories(data.get("categories"), file, cats, skips)
    images = _images(data["images"], file, finder, skips)
    _attach_annotations(data, file, images, skips)
    records: list[ImageRecord] = []
    for image in images.values():
        boxes = _image_boxes(image, id_to_name, cats, skips)
        if boxes is not None:
            records.append(ImageRecord(len(records), image.path, image.name, boxes, size=image.declared))
    return Source(records, skips, "coco", cats.names)


def _categories(raw: object, file: str, cats: Categories, skips: list[Skip]) -> dict[Any, str]:
    if not isinstance(raw, list):
        raise InputError(f"{file}: 'categories' is missing or not a list")
    id_to_name: dict[Any, str] = {}
    for index, cat in enumerate(raw):
        where = f"{file}[category #{index}]"
        if not isinstance(cat, Mapping) or not is_scalar_id(cat.get("id")) or not isinstance(cat.get("name"), str):
            skips.append(Skip(where, "category needs an integer/string 'id' and a 'name'"))
        elif cat["id"] in id_to_name:
            skips.append(Skip(where, f"duplicate category id {cat['id']}; the first one is kept"))
        else:
            id_to_name[cat["id"]] = cat["name"]
            cats.declare(cat["name"])
    return id_to_name


def _images(raw: object, file: str, finder: ImageFinder, skips: list[Skip]) -> dict[Any, _Image]:
    if not isinstance(raw, list):
        raise InputError(f"{file}: 'images' is not a list")
    images: dict[Any, _Image] = {}
    seen_ids: set[Any] = set()
    seen_names: set[str] = set()
    for index, entry in enumerate(raw):
        name = entry.get("file_name") if isinstance(entry, Mapping) else None
        where = f"{file}[image {name}]" if isinstance(name, str) else f"{file}[image #{index}]"
        image_id = entry.get("id") if isinstance(entry, Mapping) else None
        problem = _image_problem(name, image_id, seen_ids, seen_names)
        if problem:
            skips.append(Skip(where, problem))
            continue
        seen_ids.add(image_id)
        seen_names.add(name)  # type: ignore[arg-type]
        try:
            path, out_name = finder.claim(name)  # type: ignore[arg-type]
        except LookupError as exc:
            skips.append(Skip(where, str(exc)))
            continue
        images[image_id] = _Image(path, out_name, where, _declared_size(entry))
    return images


def _image_problem(name: object, image_id: object, seen_ids: set[Any], seen_names: set[str]) -> str | None:
    if not isinstance(name, str) or not name:
        return "image has no 'file_name'"
    if not is_scalar_id(image_id):
        return "image has no integer/string 'id'"
    if image_id in seen_ids:
        return f"duplicate image id {image_id}; the first one is kept"
    if name in seen_names:
        return "duplicate file_name; the first one is kept"
    return None


def _declared_size(entry: Mapping[str, Any]) -> tuple[int, int] | None:
    w, h = entry.get("width"), entry.get("height")
    ok = all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (w, h))
    return (w, h) if ok else None  # type: ignore[return-value]


def _attach_annotations(data: Mapping[str, Any], file: str, images: dict[Any, _Image], skips: list[Skip]) -> None:
    raw = data.get("annotations")
    if raw is None:
        skips.append(Skip(file, "no 'annotations' key; images treated as having no objects", "kept"))
        return
    if not isinstance(raw, list):
        raise InputError(f"{file}: 'annotations' is not a list")
    listed = {e.get("id") for e in data["images"] if isinstance(e, Mapping) and is_scalar_id(e.get("id"))}
    for index, ann in enumerate(raw):
        has_id = isinstance(ann, Mapping) and is_scalar_id(ann.get("id"))
        ann_label = f"annotation {ann['id']}" if has_id else f"annotation #{index}"
        if not isinstance(ann, Mapping):
            skips.append(Skip(f"{file}[{ann_label}]", "annotation is not an object"))
            continue
        image_id = ann.get("image_id")
        image = images.get(image_id) if is_scalar_id(image_id) else None
        if image is not None:
            image.annotations.append((f"{image.where[:-1]}, {ann_label}]", ann))
        elif not (is_scalar_id(image_id) and image_id in listed):  # a skipped image already has its Skip line
            skips.append(Skip(f"{file}[{ann_label}]", f"image_id {image_id!r} is not in 'images'"))


def _image_boxes(
    image: _Image, id_to_name: dict[Any, str], cats: Categories, skips: list[Skip]
) -> list[LabelBox] | None:
    if not image.annotations:
        return []
    try:
        size = read_image_size(image.path)
    except ImageDecodeError as exc:
        skips.append(Skip(image.where, f"cannot read the image size: {exc.reason}"))
        return None
    if image.declared and image.declared != size:
        declared = f"{image.declared[0]}x{image.declared[1]}"
        why = f"declared size {declared} differs from the image's {size[0]}x{size[1]}; boxes clipped to the image"
        skips.append(Skip(image.where, why, "kept"))
    boxes: list[LabelBox] = []
    for index, (where, ann) in enumerate(image.annotations):
        box = _annotation_box(ann, index, where, size, id_to_name, cats, skips)
        if box is not None:
            boxes.append(box)
    return unique_label_ids(boxes, image.where, skips)


def _annotation_box(
    ann: Mapping[str, Any],
    index: int,
    where: str,
    size: tuple[int, int],
    id_to_name: dict[Any, str],
    cats: Categories,
    skips: list[Skip],
) -> LabelBox | None:
    category_id = ann.get("category_id")
    category = id_to_name.get(category_id) if is_scalar_id(category_id) else None
    if category is None:
        skips.append(Skip(where, f"category_id {category_id!r} is not in 'categories'"))
        return None
    box = wanted_box(category, lambda: annotation_geometry(ann), size, where, cats, skips)
    if box is None:
        return None
    mask = coco_mask_spec(ann)
    if mask_problem(mask):
        skips.append(Skip(where, mask_problem(mask)))  # one bad label, one line: the rest goes on
        return None
    gt_id = str(ann["id"]) if is_scalar_id(ann.get("id")) else f"#{index}"
    attributes = scalar_attributes({k: ann[k] for k in _ANNOTATION_ATTRIBUTES if k in ann})
    return LabelBox(box, category, gt_id, attributes, mask=mask)


def annotation_geometry(ann: Mapping[str, Any]) -> Box:
    """``x1, y1, x2, y2`` from ``bbox`` (x, y, w, h), else from polygon ``segmentation``.

    Raises:
        LabelProblem: no usable bbox or polygon.
    """
    bbox = ann.get("bbox")
    if bbox is not None:
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise LabelProblem("'bbox' is not [x, y, width, height]")
        x, y, w, h = (as_number(v, "bbox value") for v in bbox)
        return (x, y, x + w, y + h)
    segmentation = ann.get("segmentation")
    if isinstance(segmentation, list) and segmentation and all(isinstance(p, list) for p in segmentation):
        flat = [as_number(v, "segmentation value") for polygon in segmentation for v in polygon]
        if len(flat) % 2:
            raise LabelProblem("'segmentation' polygon has an odd number of values")
        return box_from_points(zip(flat[0::2], flat[1::2]))
    raise LabelProblem("annotation has no 'bbox' (and no polygon 'segmentation')")
