"""BDD100K / BDD10K labels in Scalabel JSON.

Accepted layouts: a list of frames, a dict with ``frames`` (Scalabel dataset), one frame per
file (a folder of per-frame JSONs). A frame is ``{"name", "attributes"?, "labels"?}``; a label is
``{"id", "category", "box2d": {x1, y1, x2, y2}?, "poly2d": [{"vertices", "closed"}]?, "attributes"?}``.
Boxes are in original-image pixels.

Video-frame sets (BDD100K tracking, MOTS) ship one JSON per video: a list of frames with
``videoName`` and ``frameIndex``, whose labels' ``id`` is the track id; ``--labels`` may be the
folder of those files. ``videoName``/``frameIndex`` go to the record, the id of a label in a
frame with ``videoName`` becomes its ``track_id``.

Decisions:
    * A label with neither ``box2d`` nor a closed ``poly2d`` (RLE masks of the segmentation
      sets, open lane polylines) is a normal non-box label: dropped without a Skip line.
      A ``box2d``/``poly2d`` that is present but malformed is a Skip.
    * A frame without a ``labels`` key (or ``"labels": null``) is kept as "labelled, no
      objects", with a Skip line of action ``kept`` so the user sees it.
    * Boxes are clipped to the image size, read from the image header only for frames that
      have labels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from yololens.errors import InputError
from yololens.sources.boxes import Box, LabelProblem, as_number, box_from_points
from yololens.sources.common import (Categories, is_scalar_id, load_json, scalar_attributes, unique_label_ids,
                                     wanted_box)
from yololens.sources.images import ImageDecodeError, ImageFinder, read_image_size
from yololens.sources.masks import bdd_mask_spec, mask_problem
from yololens.sources.records import ImageRecord, LabelBox, Skip, Source

#: The ten BDD100K detection categories, in the official order.
BDD_DETECTION_CATEGORIES = (
    "pedestrian",
    "rider",
    "car",
    "truck",
    "bus",
    "train",
    "motorcycle",
    "bicycle",
    "traffic light",
    "traffic sign",
)

SizeFn = Callable[[], tuple[int, int] | None]


def is_bdd_json(data: object) -> bool:
    """True for Scalabel frames: a list of dicts with ``name``, a dict with ``frames``, or one frame."""
    if isinstance(data, Mapping):
        return "frames" in data or ("name" in data and "images" not in data)
    return isinstance(data, list) and all(isinstance(f, Mapping) and "name" in f for f in data[:5])


def frames_of(data: object, file: str) -> list[Any]:
    """The frame list of a loaded Scalabel JSON (list, ``{"frames": [...]}``, or one frame)."""
    if isinstance(data, list):
        return data
    if isinstance(data, Mapping) and isinstance(data.get("frames"), list):
        return data["frames"]
    if isinstance(data, Mapping) and "name" in data:
        return [data]
    raise InputError(f"{file}: not BDD/Scalabel labels (expected a list of frames or a dict with 'frames')")


def load_bdd_frames(labels: Path, data: object = None, skips: list[Skip] | None = None) -> list[tuple[str, Any]]:
    """``(file label for Skip lines, frame)`` pairs from a JSON file or a folder of per-frame JSONs.

    ``data``: the already-loaded content of ``labels`` (a file), to avoid parsing it twice.
    ``skips``: in a folder, a malformed or unreadable file is skipped with a line here (as a bad image
    is) instead of ending the run; without it, or for a single file, it is fatal.
    """
    if data is not None:
        return [(labels.name, frame) for frame in frames_of(data, str(labels))]
    if labels.is_dir():
        files = sorted(labels.rglob("*.json"), key=lambda p: p.relative_to(labels).as_posix())
        if not files:
            raise InputError(f"{labels}: no .json label files found")
    else:
        files = [labels]
    pairs: list[tuple[str, Any]] = []
    for file in files:
        shown = file.relative_to(labels).as_posix() if labels.is_dir() else file.name
        try:
            frames = frames_of(load_json(file), str(file))
        except InputError as exc:
            if skips is None or not labels.is_dir():
                raise
            skips.append(Skip(shown, str(exc).removeprefix(f"{file}: ")))
            continue
        pairs.extend((shown, frame) for frame in frames)
    return pairs


def read_bdd(
    labels: Path, finder: ImageFinder, categories: Iterable[str] | None = None, data: object = None
) -> Source:
    """Parse BDD labels and resolve each frame's image with ``finder``; label-file order.

    ``data``: the already-loaded JSON of ``labels`` (optional).
    """
    cats = Categories(categories)
    records: list[ImageRecord] = []
    skips: list[Skip] = []
    first_seen: dict[str, str] = {}
    for position, (file, frame) in enumerate(load_bdd_frames(labels, data, skips)):
        where = _frame_where(file, frame, position)
        name = frame.get("name") if isinstance(frame, Mapping) else None
        if not isinstance(name, str) or not name:
            skips.append(Skip(where, "frame has no 'name'" if isinstance(frame, Mapping) else "frame is not an object"))
            continue
        if name in first_seen:
            skips.append(Skip(where, f"duplicate frame name; the first one (in {first_seen[name]}) is kept"))
            continue
        first_seen[name] = file
        try:
            path, out_name = finder.claim(name)
        except LookupError as exc:
            skips.append(Skip(where, str(exc)))
            continue
        size_fn = _lazy_size(path)
        boxes = parse_frame_labels(frame, where, size_fn, cats, skips)
        if boxes is None:
            continue
        video, frame_index = video_of(frame)
        records.append(
            ImageRecord(len(records), path, out_name, boxes, scalar_attributes(frame.get("attributes")),
                        video=video, frame_index=frame_index)
        )
    return Source(records, skips, "bdd", cats.names)


def video_of(frame: Mapping[str, Any]) -> tuple[str | None, int | None]:
    """``(videoName, frameIndex)`` of a frame; None for absent or malformed values (not worth a skip)."""
    video = frame.get("videoName")
    index = frame.get("frameIndex")
    video = str(video) if is_scalar_id(video) and str(video) else None
    if isinstance(index, float) and index.is_integer():
        index = int(index)
    return video, index if isinstance(index, int) and not isinstance(index, bool) else None


def parse_frame_labels(
    frame: Mapping[str, Any], where: str, size_fn: SizeFn, cats: Categories, skips: list[Skip]
) -> list[LabelBox] | None:
    """The frame's boxes (clipped to ``size_fn()``), or None when the whole frame must be skipped."""
    raw = frame.get("labels")
    if raw is None:
        why = "no 'labels' key" if "labels" not in frame else "'labels' is null"
        skips.append(Skip(where, f"{why}; treated as no objects", "kept"))
        return []
    if not isinstance(raw, list):
        skips.append(Skip(where, f"'labels' is not a list ({type(raw).__name__})"))
        return None
    if not raw:
        return []
    try:
        size = size_fn()
    except ImageDecodeError as exc:
        skips.append(Skip(where, f"cannot read the image size: {exc.reason}"))
        return None
    boxes: list[LabelBox] = []
    tracked = video_of(frame)[0] is not None  # in a video, a label's id is its track id
    for index, label in enumerate(raw):
        box = _parse_label(label, index, f"{where[:-1]}, label {index}]", size, cats, skips, tracked)
        if box is not None:
            boxes.append(box)
    return unique_label_ids(boxes, where, skips)


def _parse_label(
    label: object, index: int, where: str, size: tuple[int, int] | None, cats: Categories, skips: list[Skip],
    tracked: bool = False,
) -> LabelBox | None:
    if not isinstance(label, Mapping):
        skips.append(Skip(where, "label is not an object"))
        return None
    category = label.get("category")
    if not isinstance(category, str) or not category:
        skips.append(Skip(where, "label has no 'category'"))
        return None
    # label_geometry gives None for mask-only or polyline labels: not object boxes, and no skip line
    box = wanted_box(category, lambda: label_geometry(label), size, where, cats, skips)
    if box is None:
        return None
    mask = bdd_mask_spec(label)
    if mask_problem(mask):
        skips.append(Skip(where, mask_problem(mask)))  # one bad label, one line: the rest goes on
        return None
    cats.seen(category)
    has_id = is_scalar_id(label.get("id"))
    gt_id = str(label["id"]) if has_id else f"#{index}"
    track_id = str(label["id"]) if (tracked and has_id) else None
    return LabelBox(box, category, gt_id, scalar_attributes(label.get("attributes")), track_id, mask)


def label_geometry(label: Mapping[str, Any]) -> Box | None:
    """Raw box from ``box2d``, else from closed ``poly2d`` vertices; None for non-box labels.

    Raises:
        LabelProblem: a present but malformed ``box2d``/``poly2d``.
    """
    box2d = label.get("box2d")
    if box2d is not None:
        if not isinstance(box2d, Mapping):
            raise LabelProblem("'box2d' is not an object")
        missing = [k for k in ("x1", "y1", "x2", "y2") if k not in box2d]
        if missing:
            raise LabelProblem(f"'box2d' lacks {', '.join(missing)}")
        return tuple(as_number(box2d[k], f"box2d.{k}") for k in ("x1", "y1", "x2", "y2"))  # type: ignore[return-value]
    poly2d = label.get("poly2d")
    if poly2d is None:
        return None
    polygons = _closed_polygons(poly2d)
    if not polygons:
        return None
    return box_from_points(_vertices(polygons))


def _closed_polygons(poly2d: object) -> list[Mapping[str, Any]]:
    if not isinstance(poly2d, list) or not all(isinstance(p, Mapping) for p in poly2d):
        raise LabelProblem("'poly2d' is not a list of polygons")
    return [p for p in poly2d if p.get("closed", True) is not False]  # open polylines are lanes


def _vertices(polygons: Sequence[Mapping[str, Any]]) -> list[tuple[float, float]]:
    points: list[tuple[float, float]] = []
    for polygon in polygons:
        vertices = polygon.get("vertices")
        if not isinstance(vertices, list):
            raise LabelProblem("'poly2d' polygon has no 'vertices' list")
        for vertex in vertices:
            if not isinstance(vertex, (list, tuple)) or len(vertex) != 2:
                raise LabelProblem("'poly2d' vertex is not an [x, y] pair")
            points.append((as_number(vertex[0], "poly2d x"), as_number(vertex[1], "poly2d y")))
    return points


def _frame_where(file: str, frame: object, position: int) -> str:
    name = frame.get("name") if isinstance(frame, Mapping) else None
    return f"{file}[frame {name}]" if isinstance(name, str) and name else f"{file}[frame #{position}]"


def _lazy_size(path: Path) -> SizeFn:
    return lambda: read_image_size(path)
