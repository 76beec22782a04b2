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


def rasterize(spec: Mapping[str, Any], shape: tuple[int, int]) -> np.ndarray:
    """``(h, w)`` float32 0/1 mask of ``spec`` in original pixels (``shape`` = the image's ``(h, w)``).

    Raises:
        MaskUnavailable: an RLE without pycocotools, or an RLE whose size is not the image's.
    """
    h, w = shape
    if "polygons" in spec:
        import cv2

        canvas = np.zeros((h, w), dtype=np.uint8)
        # cv2 fills integer vertices; 4 fractional bits keep sub-pixel vertex positions
        polys = [np.round(np.asarray(p, dtype=np.float64).reshape(-1, 2) * 16).astype(np.int32) for p in spec["polygons"]]
        cv2.fillPoly(canvas, polys, 1, lineType=cv2.LINE_8, shift=4)
        return canvas.astype(np.float32)
    rle = dict(spec["rle"])
    size = json.loads(rle["size"]) if isinstance(rle["size"], str) else list(rle["size"])
    if [int(v) for v in size] != [h, w]:
        raise MaskUnavailable(f"RLE size {size} is not the image size [{h}, {w}]")
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
