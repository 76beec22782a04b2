"""``extract --pool mask`` with RLE label masks (BDD100K MOTS / instance seg ``rle``, COCO RLE ``segmentation``).

The same region given as a polygon and as an RLE (compressed and uncompressed) must pool to the same embedding:
the RLE path decodes with pycocotools, the polygon path fills with OpenCV, and both feed one pooling.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from yololens.jobs.extract import extract

pytestmark = pytest.mark.shared
mask_utils = pytest.importorskip("pycocotools.mask", reason="pycocotools not installed (pip install 'yololens[masks]')")

RECT = [[128, 40], [383, 40], [383, 295], [128, 295]]  # original pixels, inclusive vertices


def _rect_mask(h: int, w: int) -> np.ndarray:
    m = np.zeros((h, w), dtype=np.uint8, order="F")
    m[40:296, 128:384] = 1
    return m


def _uncompressed(mask: np.ndarray) -> dict:
    """COCO's uncompressed RLE (column-major run lengths starting with zeros)."""
    flat = mask.flatten(order="F")
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat[0] == 1:
        counts = [0] + counts
    return {"counts": counts, "size": list(mask.shape)}


def test_rle_masks_pool_like_the_same_polygon(bdd_detect, seg_weights, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    image = next((bdd_detect / "images").iterdir())
    shutil.copy(image, images / image.name)
    h, w = 720, 1280
    mask = _rect_mask(h, w)
    compressed = mask_utils.encode(mask)
    box = {"x1": 128, "y1": 40, "x2": 384, "y2": 296}
    labels = [
        {"id": "poly", "category": "car", "box2d": box, "poly2d": [{"vertices": RECT, "closed": True}]},
        {"id": "rle", "category": "car", "box2d": box,
         "rle": {"counts": compressed["counts"].decode(), "size": f"[{h}, {w}]"}},  # BDD writes size as text
        {"id": "raw", "category": "car", "box2d": box, "rle": _uncompressed(mask)},
        {"id": "wrong", "category": "car", "box2d": box,  # a well-formed RLE of a 360x640 image (#19: not
         "rle": _uncompressed(_rect_mask(360, 640))},      # counts that disagree with their own size)
    ]
    path = tmp_path / "labels.json"
    path.write_text(json.dumps([{"name": image.name, "labels": labels}]))
    t = extract(str(seg_weights), str(images), str(path), out=tmp_path / "o", boxes="gt", pool="mask",
                layers=[9, 15], progress=False).to_pandas().set_index("gt_id")
    for layer in (9, 15):
        col = f"emb_L{layer}_mask"
        poly = np.asarray(t.loc["poly", col])
        for gt_id in ("rle", "raw"):
            assert np.abs(np.asarray(t.loc[gt_id, col]) - poly).max() <= 1e-6 * np.abs(poly).max(), (gt_id, layer)
    assert t[["mask_fallback"]].loc[["poly", "rle", "raw"]].isna().all().all()
    # an RLE made for another image size is not guessed at: the box is used and the column says why
    assert t.loc["wrong", "mask_fallback"].startswith("no mask: RLE size [360, 640] is not the image size")
