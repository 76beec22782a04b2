"""Box validation and clipping shared by every label parser (BDD, COCO, YOLO).

All boxes are ``(x1, y1, x2, y2)`` in original-image pixels (after EXIF orientation).
A parser hands raw coordinates to :func:`add_box`; it either gets a clean box back or
``None``, and the problem is recorded as a :class:`Skip` with the label's location.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from yololens.sources.records import Skip

Box = tuple[float, float, float, float]

#: Sides shorter than this (pixels) count as zero-area: they vanish when stored as float32.
MIN_SIDE_PX = 1e-3
#: Excursions outside the image up to this many pixels are rounding noise: clipped without a Skip line.
CLIP_TOLERANCE_PX = 0.5


class LabelProblem(ValueError):
    """A label that cannot be used; ``str(exc)`` is the one-line reason shown to the user."""


def as_number(value: object, what: str) -> float:
    """``value`` as a float; JSON numbers only (``true``/``"12"``/``null`` are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LabelProblem(f"{what} is not a number ({_short(value)})")
    return _float(value)


def box_from_points(points: Iterable[Sequence[float]]) -> Box:
    """Bounding box of polygon vertices ``[(x, y), ...]`` (pixels).

    Raises LabelProblem for no points or non-finite vertices (``min`` would silently drop a NaN).
    """
    xs: list[float] = []
    ys: list[float] = []
    for point in points:
        x, y = point
        xs.append(x)
        ys.append(y)
    if not xs:
        raise LabelProblem("polygon has no vertices")
    if not all(math.isfinite(v) for v in xs + ys):
        raise LabelProblem("polygon has non-finite vertices (NaN/inf)")
    return (min(xs), min(ys), max(xs), max(ys))


def check_box(box: Sequence[float], size: tuple[int, int] | None) -> tuple[Box, str | None]:
    """Validate ``box`` and clip it to ``size = (width, height)`` (pixels).

    Returns:
        ``(box, note)``: the clean box, satisfying ``0 <= x1 < x2 <= w`` and ``0 <= y1 < y2 <= h``
        when ``size`` is given, and a one-line note when it had to be clipped noticeably.

    Raises:
        LabelProblem: non-finite, zero-area, negative, or entirely outside the image.
    """
    x1, y1, x2, y2 = (_float(v) for v in box)
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        raise LabelProblem(f"non-finite box coordinates {_fmt(box)}")
    if x2 < x1 or y2 < y1:
        raise LabelProblem(f"negative box {_fmt(box)} (x2 < x1 or y2 < y1)")
    if x2 - x1 < MIN_SIDE_PX or y2 - y1 < MIN_SIDE_PX:
        raise LabelProblem(f"zero-area box {_fmt(box)}")
    if size is None:
        return (x1, y1, x2, y2), None
    w, h = float(size[0]), float(size[1])
    clipped = (min(max(x1, 0.0), w), min(max(y1, 0.0), h), min(max(x2, 0.0), w), min(max(y2, 0.0), h))
    if clipped[2] - clipped[0] < MIN_SIDE_PX or clipped[3] - clipped[1] < MIN_SIDE_PX:
        raise LabelProblem(f"box {_fmt(box)} lies outside the {size[0]}x{size[1]} image")
    excursion = max(abs(a - b) for a, b in zip(clipped, (x1, y1, x2, y2)))
    note = f"box {_fmt(box)} extends outside the {size[0]}x{size[1]} image" if excursion > CLIP_TOLERANCE_PX else None
    return clipped, note


def add_box(box: Sequence[float], size: tuple[int, int] | None, where: str, skips: list[Skip]) -> Box | None:
    """:func:`check_box`, recording a problem as a Skip at ``where`` (``None`` = label dropped)."""
    try:
        clean, note = check_box(box, size)
    except LabelProblem as exc:
        skips.append(Skip(where, str(exc), "skipped"))
        return None
    if note:
        skips.append(Skip(where, note, "clipped"))
    return clean


def _float(value: float) -> float:
    try:
        return float(value)
    except OverflowError:  # an int too big for a float (JSON allows 400 digits): out of any image
        return math.inf if value > 0 else -math.inf


def _fmt(box: Sequence[float]) -> str:
    return "(" + ", ".join(f"{_float(v):.6g}" for v in box) + ")"


def _short(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
