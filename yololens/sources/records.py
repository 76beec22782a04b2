"""Typed records passed from sources to the engine.

Coordinates are always in pixels of the *original* image (after EXIF orientation),
``x1, y1, x2, y2`` with x to the right and y down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class LabelBox:
    """One ground-truth object from a label file.

    Attributes:
        box: ``(x1, y1, x2, y2)`` in original-image pixels, already clipped to the image
            when the image size is known.
        category: class name as written in the label file (e.g. ``"car"``).
        gt_id: the label file's own id for the object (BDD ``id``, COCO annotation ``id``,
            or ``"<stem>:<line>"`` for YOLO txt), as a string.
        attributes: per-object attributes (BDD ``occluded``, ``truncated``,
            ``trafficLightColor``, COCO ``iscrowd`` ...), JSON-scalar values only.
        track_id: the object's track across the frames of a video (BDD tracking/MOTS label
            ``id`` in frames that carry ``videoName``); ``None`` outside videos.
        mask: the instance mask as a spec (see :mod:`yololens.sources.masks`: polygons or RLE, in
            original pixels), when the label carries one.
    """

    box: tuple[float, float, float, float]
    category: str
    gt_id: str
    attributes: dict[str, Any] = field(default_factory=dict)
    track_id: str | None = None
    mask: dict | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class ImageRecord:
    """One image to process, with its ground truth if the source has labels.

    Attributes:
        index: position in the source's deterministic order (0-based). Resume and
            output ordering use it.
        path: the file to decode.
        name: the image as written in outputs (the path as given by the user, or the
            label file's frame name resolved against ``--source``).
        labels: ground-truth boxes; ``None`` when the source has no labels (an empty
            list means "labelled, no objects").
        attributes: per-frame attributes (BDD ``weather``, ``scene``, ``timeofday``).
        size: ``(width, height)`` declared by the label file, if any.
        video: the video the frame belongs to (BDD ``videoName``), if any.
        frame_index: the frame's position in its video (BDD ``frameIndex``), if any.
    """

    index: int
    path: Path
    name: str
    labels: list[LabelBox] | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    size: tuple[int, int] | None = None
    video: str | None = None
    frame_index: int | None = None


def _printable(text: str) -> str:
    """``text`` with control characters (newline, tab, ESC ...) written as escapes: ``a\\nb``."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in str(text))


@dataclass(frozen=True)
class Skip:
    """An input that was skipped, clipped or refused, with a one-line reason."""

    file: str
    reason: str
    action: str = "skipped"  # skipped | clipped | refused

    def __str__(self) -> str:  # one line, whatever a file name holds (a newline would split it)
        return f"{_printable(self.file)}: {_printable(self.reason)} ({self.action})"


@dataclass
class Source:
    """The resolved input: images in a fixed order plus everything skipped while reading it.

    Attributes:
        records: images to process, ordered by ``index``.
        skips: bad inputs found while listing images and parsing labels.
        format: the detected or chosen format (``image``, ``folder``, ``list``, ``bdd``,
            ``coco``, ``yolo``).
        class_names: category names the label file defines (empty when unlabelled).
        given: ``(source, labels)`` as the user gave them (paths as text), so a run that was
            handed an opened Source still records paths, never this object's repr.
    """

    records: list[ImageRecord]
    skips: list[Skip] = field(default_factory=list)
    format: str = "folder"
    class_names: list[str] = field(default_factory=list)
    given: tuple[str | None, str | None] = (None, None)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def has_labels(self) -> bool:
        return any(r.labels is not None for r in self.records)

    @property
    def has_video(self) -> bool:
        """True when some frame knows its video or frame index (video-frame datasets)."""
        return any(r.video is not None or r.frame_index is not None for r in self.records)

    @property
    def has_tracks(self) -> bool:
        """True when some label carries a track id."""
        return any(lab.track_id is not None for r in self.records for lab in (r.labels or ()))
