"""Instance masks of ground-truth labels (for ``extract --pool mask``).

A label's mask is kept as a small spec and rasterised only when needed, in original-image pixels:

* ``{"polygons": [[x0, y0, x1, y1, ...], ...]}``: BDD closed ``poly2d``, COCO polygon ``segmentation``;
  filled with OpenCV (``cv2.fillPoly``, the union of the polygons).
* ``{"rle": {"counts": ..., "size": [h, w]}}``: BDD100K MOTS / instance-segmentation ``rle``, COCO RLE
  ``segmentation``; decoded with pycocotools (optional: ``pip install pycocotools``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


class MaskUnavailable(Exception):
    """A label mask that cannot be rasterised here (the reason is the message)."""


def polygons_spec(polygons: Sequence[Sequence[tuple[float, float]]]) -> dict | None:
    """``[[(x, y), ...], ...]`` -> a polygons spec (None when no polygon has 3 vertices)."""
    flat = [[float(v) for xy in poly for v in xy] for poly in polygons if len(poly) >= 3]
    return {"polygons": flat} if flat else None


def bdd_mask_spec(label: Mapping[str, Any]) -> dict | None:
    """The mask of a Scalabel label: ``rle`` first, else its closed ``poly2d`` polygons; None without one."""
    rle = label.get("rle")
    if isinstance(rle, Mapping) and "counts" in rle and "size" in rle:
        return {"rle": {"counts": rle["counts"], "size": rle["size"]}}
    poly2d = label.get("poly2d")
    if not isinstance(poly2d, list):
        return None
    polygons = []
    for p in poly2d:
        if isinstance(p, Mapping) and p.get("closed", True) is not False and isinstance(p.get("vertices"), list):
            try:
                polygons.append([(float(x), float(y)) for x, y in p["vertices"]])
            except (TypeError, ValueError):
                return None  # malformed geometry was already reported by the box parser
    return polygons_spec(polygons)


def coco_mask_spec(ann: Mapping[str, Any]) -> dict | None:
    """The mask of a COCO annotation's ``segmentation`` (polygons or RLE); None without one."""
    seg = ann.get("segmentation")
    if isinstance(seg, Mapping) and "counts" in seg and "size" in seg:
        return {"rle": {"counts": seg["counts"], "size": seg["size"]}}
    if isinstance(seg, list) and seg and all(isinstance(p, list) for p in seg):
        try:
            return polygons_spec([list(zip(p[0::2], p[1::2])) for p in seg])
        except (TypeError, ValueError):
            return None
    return None


def _string_counts(text: str) -> list[int]:
    """The run lengths of a compressed COCO RLE string (pycocotools' ``rleFrString``, with its bounds checked:
    pycocotools trusts them and writes past the mask on a bad string)."""
    counts: list[int] = []
    p = 0
    while p < len(text):
        x, k, more = 0, 0, True
        while more:
            if p >= len(text) or k > 6:
                raise ValueError("a truncated run length")
            c = ord(text[p]) - 48
            if not 0 <= c < 64:
                raise ValueError(f"character {text[p]!r} is not RLE")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p, k = p + 1, k + 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def mask_problem(spec: Mapping[str, Any] | None, shape: tuple[int, int] | None = None) -> str | None:
    """Why ``spec`` is not a well-formed mask (None when it is); with ``shape`` = ``(h, w)``, also of that image.

    RLE: ``size`` is ``[h, w]`` (a list, or its JSON text), ``counts`` a list of run lengths or a compressed
    string whose runs are >= 0 and add up to ``h * w``. Polygons: every vertex finite.
    """
    if spec is None:
        return None
    if "polygons" in spec:
        if not all(np.isfinite(np.asarray(p, dtype=np.float64)).all() for p in spec["polygons"]):
            return "mask polygon has a NaN or infinite vertex"
        return None
    rle = spec.get("rle")
    size = rle.get("size") if isinstance(rle, Mapping) else None
    if isinstance(size, str):
        try:
            size = json.loads(size)
        except ValueError:
            pass
    if not (isinstance(size, (list, tuple)) and len(size) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in size)):
        return f"RLE 'size' is not [height, width]: {str(size)[:40]}"
    h, w = size
    counts = rle.get("counts")
    try:
        if isinstance(counts, str):
            runs = _string_counts(counts)
        elif isinstance(counts, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in counts):
            runs = counts
        else:
            return "RLE 'counts' is neither a list of run lengths nor a compressed string"
    except ValueError as exc:
        return f"RLE 'counts' is not a valid compressed string: {exc}"
    if any(v < 0 for v in runs) or sum(runs) != h * w:
        return f"RLE 'counts' cover {sum(runs)} pixels, not the {h * w} of its size {h}x{w}"
    if shape is not None and [h, w] != list(shape):
        return f"RLE size {[h, w]} is not the image size {list(shape)}"
    return None


def rasterize(spec: Mapping[str, Any], shape: tuple[int, int]) -> np.ndarray:
    """``(h, w)`` float32 0/1 mask of ``spec`` in original pixels (``shape`` = the image's ``(h, w)``).

    Raises:
        MaskUnavailable: a malformed spec (:func:`mask_problem`: checked before pycocotools, which trusts sizes
            and run lengths), an RLE whose size is not the image's, an RLE without pycocotools.
    """
    h, w = shape
    problem = mask_problem(spec, (h, w))
    if problem:
        raise MaskUnavailable(problem)
    if "polygons" in spec:
        import cv2

        canvas = np.zeros((h, w), dtype=np.uint8)
        # cv2 fills integer vertices; 4 fractional bits keep sub-pixel vertex positions
        polys = [np.round(np.asarray(p, dtype=np.float64).reshape(-1, 2) * 16).astype(np.int32) for p in spec["polygons"]]
        cv2.fillPoly(canvas, polys, 1, lineType=cv2.LINE_8, shift=4)
        return canvas.astype(np.float32)
    rle = dict(spec["rle"])
    try:
        from pycocotools import mask as mask_utils
    except ImportError:
        raise MaskUnavailable("RLE masks need pycocotools (pip install pycocotools)") from None
    rle["size"] = [h, w]
    if isinstance(rle["counts"], list):  # uncompressed RLE
        rle = mask_utils.frPyObjects(rle, h, w)
    elif isinstance(rle["counts"], str):
        rle["counts"] = rle["counts"].encode()
    return np.asarray(mask_utils.decode(rle), dtype=np.float32)
