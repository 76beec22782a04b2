"""YOLO datasets: ``data.yaml`` + ``labels/*.txt`` (``class cx cy w h``, normalised 0..1).

Label files are found with Ultralytics' rule (``img2label_paths``: the last ``/images/`` of the
image path becomes ``/labels/`` and the suffix ``.txt``), or under an explicit ``--labels``
folder mirroring the images folder. A missing or empty label file means "labelled, no
objects" (standard YOLO semantics). Lines with more than 5 columns and an odd count are
segment polygons (``class x1 y1 x2 y2 ...``): the box is their bounding box. Boxes are
converted to original-image pixels with the image size read from its header.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from yololens.errors import InputError
from yololens.model.ultra import datasets_dir
from yololens.sources.boxes import Box, LabelProblem, add_box, box_from_points
from yololens.sources.common import Categories, display_path, read_text_file
from yololens.sources.images import (
    ImageDecodeError,
    is_image_name,
    list_images,
    read_image_list,
    read_image_size,
)
from yololens.sources.records import ImageRecord, LabelBox, Skip, Source

Names = dict[int, str]


def label_path_for(image: Path) -> Path:
    """Ultralytics' ``img2label_paths`` for one image: ``.../images/x.jpg`` -> ``.../labels/x.txt``."""
    sa, sb = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    text = os.path.abspath(image)
    return Path(sb.join(text.rsplit(sa, 1)).rsplit(".", 1)[0] + ".txt")


def parse_names(raw: object, where: str) -> Names:
    """data.yaml ``names`` (a list, or a dict ``{id: name}``) as ``{class id: name}``."""
    if isinstance(raw, list):
        return {i: str(n) for i, n in enumerate(raw)}
    if isinstance(raw, Mapping):
        try:
            return {int(k): str(v) for k, v in raw.items()}
        except (TypeError, ValueError):
            raise InputError(f"{where}: 'names' keys must be class ids (integers)") from None
    raise InputError(f"{where}: 'names' must be a list or a dict of class id -> name")


def read_yolo_yaml(data_yaml: Path, split: str = "val", categories: Iterable[str] | None = None) -> Source:
    """Images of ``split`` (``train``/``val``/``test``) of a data.yaml dataset, with their labels.

    Image names are relative to the dataset root (``path``), e.g. ``images/val/0001.jpg``.
    """
    config = _load_yaml(data_yaml)
    values = _split_values(data_yaml, config, split)
    root = _dataset_root(data_yaml, config, values)
    names = _yaml_names(data_yaml, config)
    entries, skips = _split_images(data_yaml, root, values)
    kpt = _keypoint_columns(config.get("kpt_shape"))
    source = _read_labelled(entries, names, categories, label_path_for, root, kpt)
    source.skips[:0] = skips
    return source


def read_yolo_folder(
    images: Path, labels: Path | None = None, categories: Iterable[str] | None = None
) -> Source:
    """An images folder with YOLO txt labels in ``labels`` (same relative paths), or found by
    Ultralytics' ``/images/`` -> ``/labels/`` rule. Names come from ``labels/classes.txt`` if
    present, else the class ids are the category names.
    """
    paths, skips = list_images(images)
    entries = [(p, p.relative_to(images).as_posix()) for p in paths]
    names = _classes_txt(labels) if labels is not None else None
    locate: Callable[[Path], Path] = label_path_for
    if labels is not None:
        locate = lambda p: (labels / p.relative_to(images)).with_suffix(".txt")  # noqa: E731
    base = labels.parent if labels is not None else images.parent
    source = _read_labelled(entries, names, categories, locate, base, None)
    source.skips[:0] = skips
    return source


def _read_labelled(
    entries: Sequence[tuple[Path, str]],
    names: Names | None,
    categories: Iterable[str] | None,
    locate: Callable[[Path], Path],
    base: Path,
    kpt: int | None,
) -> Source:
    cats = Categories(categories)
    for i in sorted(names or {}):
        cats.declare(names[i])  # type: ignore[index]
    records: list[ImageRecord] = []
    skips: list[Skip] = []
    for path, name in entries:
        label_file = locate(path)
        boxes = _image_labels(path, label_file, display_path(label_file, base), names, cats, kpt, skips)
        if boxes is not None:
            records.append(ImageRecord(len(records), path, name, boxes))
    return Source(records, skips, "yolo", cats.names)


def _image_labels(
    image: Path, label_file: Path, where: str, names: Names | None, cats: Categories, kpt: int | None, skips: list[Skip]
) -> list[LabelBox] | None:
    """Boxes of one image; ``[]`` without a label file; None when the image must be skipped."""
    if not label_file.exists():
        return []
    try:
        lines = read_text_file(label_file, "YOLO label file").splitlines()
    except InputError as exc:
        skips.append(Skip(where, f"{str(exc).removeprefix(f'{label_file}: ')}; image skipped"))
        return None
    if not any(line.strip() for line in lines):
        return []
    try:
        size = read_image_size(image)
    except ImageDecodeError as exc:
        skips.append(Skip(where, f"cannot read the image size of {image.name}: {exc.reason}"))
        return None
    return parse_yolo_lines(lines, size, names, where, label_file.stem, cats, skips, kpt)


def parse_yolo_lines(
    lines: Sequence[str],
    size: tuple[int, int],
    names: Names | None,
    where: str,
    stem: str,
    cats: Categories,
    skips: list[Skip],
    kpt: int | None = None,
) -> list[LabelBox]:
    """Parse YOLO txt lines into boxes in pixels of a ``size = (w, h)`` image.

    ``gt_id`` is ``"<stem>:<line>"`` (1-based). ``kpt`` is the keypoint column count of pose
    datasets (``5 + kpt`` columns per line). Bad lines become Skips and are left out.
    """
    boxes: list[LabelBox] = []
    for number, line in enumerate(lines, 1):
        parts = line.split()
        if not parts:
            continue
        line_where = f"{where}[line {number}]"
        try:
            class_id, raw_box = _parse_line(parts, size, kpt)
            category = _category(class_id, names)
        except LabelProblem as exc:
            skips.append(Skip(line_where, str(exc)))
            continue
        if not cats.allowed(category):
            skips.append(Skip(line_where, f"category '{category}' is not in the requested categories"))
            continue
        box = add_box(raw_box, size, line_where, skips)
        if box is not None:
            cats.seen(category)
            boxes.append(LabelBox(box, category, f"{stem}:{number}"))
    return boxes


def _parse_line(parts: Sequence[str], size: tuple[int, int], kpt: int | None) -> tuple[int, Box]:
    count = len(parts)
    box_line = count == 5 or (kpt is not None and count == 5 + kpt)
    if not box_line and (count < 7 or count % 2 == 0):
        raise LabelProblem(f"{count} columns; expected 5 (class cx cy w h) or class + polygon x y pairs")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise LabelProblem(f"non-numeric value in {' '.join(parts)[:60]!r}") from None
    class_id = values[0]
    if not (math.isfinite(class_id) and class_id >= 0 and class_id == int(class_id)):
        raise LabelProblem(f"class id {parts[0]!r} is not a non-negative integer")
    w, h = size
    if box_line:
        cx, cy, bw, bh = values[1:5]
        return int(class_id), ((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h)
    xs, ys = values[1::2], values[2::2]
    return int(class_id), box_from_points((x * w, y * h) for x, y in zip(xs, ys))


def _category(class_id: int, names: Names | None) -> str:
    if names is None:
        return str(class_id)
    if class_id not in names:
        known = f"0..{max(names)}" if names else "none"
        raise LabelProblem(f"class {class_id} is not in the dataset names ({known})")
    return names[class_id]


# ------------------------------------------------------------------------------------ data.yaml


def _load_yaml(data_yaml: Path) -> Mapping[str, Any]:
    try:
        config = yaml.safe_load(read_text_file(data_yaml, "data.yaml"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InputError(f"{data_yaml}: malformed YAML{at}") from None

    if not isinstance(config, Mapping):
        raise InputError(f"{data_yaml}: not a dataset YAML (expected keys path/train/val/names)")
    return config


def _dataset_root(data_yaml: Path, config: Mapping[str, Any], split_values: Sequence[str]) -> Path:
    """The dataset root. ``path`` is read as Ultralytics does (absolute; else from the working
    folder, then its datasets folder), with the yaml's folder as one more candidate; the first
    candidate that holds the split's entries wins. No ``path``: the yaml's folder.
    """
    raw = config.get("path")
    if not raw:
        return data_yaml.parent
    path = Path(str(raw))
    candidates = [path] if path.is_absolute() else [path, data_yaml.parent / path, datasets_dir() / path]
    existing = [c for c in candidates if c.is_dir()]
    if not existing:
        raise InputError(f"{data_yaml}: dataset 'path: {raw}' not found (tried {', '.join(map(str, candidates))})")
    for candidate in existing:
        if all(_split_path(candidate, value).exists() for value in split_values):
            return candidate
    return existing[0]


def _split_path(root: Path, value: str) -> Path:
    path = root / value
    if not path.exists() and value.startswith("../"):
        path = root / value[3:]  # Ultralytics' fallback for "../" paths
    return path


def _yaml_names(data_yaml: Path, config: Mapping[str, Any]) -> Names:
    if "names" in config:
        return parse_names(config["names"], str(data_yaml))
    if isinstance(config.get("nc"), int):
        return {i: str(i) for i in range(config["nc"])}
    raise InputError(f"{data_yaml}: no 'names' (class names) in the dataset YAML")


def _keypoint_columns(kpt_shape: object) -> int | None:
    if isinstance(kpt_shape, list) and len(kpt_shape) == 2 and all(isinstance(v, int) for v in kpt_shape):
        return kpt_shape[0] * kpt_shape[1]
    return None


def _split_values(data_yaml: Path, config: Mapping[str, Any], split: str) -> list[str]:
    raw = config.get(split)
    if not raw:
        available = [k for k in ("train", "val", "test") if config.get(k)]
        raise InputError(f"{data_yaml}: no '{split}' split (available: {', '.join(available) or 'none'})")
    return [str(v) for v in (raw if isinstance(raw, list) else [raw])]


def _split_images(
    data_yaml: Path, root: Path, split_values: Sequence[str]
) -> tuple[list[tuple[Path, str]], list[Skip]]:
    entries: list[tuple[Path, str]] = []
    skips: list[Skip] = []
    for value in split_values:
        found, problems = _split_entry(data_yaml, root, value)
        entries.extend(found)
        skips.extend(problems)
    unique: dict[str, tuple[Path, str]] = {}
    for path, name in entries:
        unique.setdefault(os.path.normpath(path), (path, name))  # an image in two entries is read once
    return list(unique.values()), skips


def _split_entry(data_yaml: Path, root: Path, value: str) -> tuple[list[tuple[Path, str]], list[Skip]]:
    path = _split_path(root, value)
    if path.is_dir():
        paths, skips = list_images(path)
        return [(p, display_path(p, root)) for p in paths], skips
    if path.is_file() and path.suffix.lower() == ".txt":
        entries, skips = read_image_list(path)
        return [(p, display_path(p, root)) for p, _ in entries], skips
    if path.is_file() and is_image_name(path.name):
        return [(path, display_path(path, root))], []
    raise InputError(f"{data_yaml}: split entry '{value}' not found ({path})")


def _classes_txt(labels: Path) -> Names | None:
    file = labels / "classes.txt"
    if not file.is_file():
        return None
    text = read_text_file(file, "class names file (UTF-8, one class name a line)")
    return dict(enumerate(line.strip() for line in text.splitlines() if line.strip()))
