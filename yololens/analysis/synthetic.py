"""A synthetic objects table with the exact ``OUT/objects.parquet`` schema, for tests, demos and benchmarks.

Embeddings are class-clustered where asked (``separable`` columns) and pure noise otherwise, so the right
answer of the stage report is known.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

DEFAULT_CLASSES = ("car", "person", "traffic sign", "traffic light", "truck", "bus")


def _emb_array(X: np.ndarray) -> pa.Array:
    X = np.ascontiguousarray(X, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), X.shape[1])


def clustered(n: int, dims: int, labels: np.ndarray, spread: float = 1.0, sep: float = 4.0, seed: int = 0) -> np.ndarray:
    """``(n, dims)`` float32: one Gaussian blob per label (centres ``sep`` apart-ish, noise ``spread``)."""
    rng = np.random.default_rng(seed)
    k = int(labels.max()) + 1
    centres = rng.normal(size=(k, dims)).astype(np.float32)
    centres *= sep / np.sqrt(2.0)
    return (centres[labels] + rng.normal(scale=spread, size=(n, dims))).astype(np.float32)


def make_objects_table(
    out: str | os.PathLike,
    n: int = 300,
    *,
    dims: dict | None = None,
    separable: tuple[str, ...] = ("emb_L15",),
    classes: tuple[str, ...] = DEFAULT_CLASSES,
    class_weights: tuple[float, ...] | None = None,
    n_images: int = 6,
    image_size: tuple[int, int] = (160, 120),
    write_images: bool = True,
    coef: bool = False,
    seed: int = 0,
) -> Path:
    """Write ``out/objects.parquet`` (+ small JPEG images under ``out/images``) and return its path.

    ``dims``: ``{column: C}`` (default ``{"emb_L9": 16, "emb_L15": 32}``); columns in ``separable`` are
    class-clustered, the others noise. ``coef``: add ``emb_coef`` (32 dims) on pred rows only (null on gt).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    dims = dims or {"emb_L9": 16, "emb_L15": 32}
    W, H = image_size
    p = None if class_weights is None else np.asarray(class_weights, float) / np.sum(class_weights)
    cls = rng.choice(len(classes), size=n, p=p)
    image_idx = np.sort(rng.integers(0, n_images, size=n))
    image_names = [f"images/frame_{i:03d}.jpg" for i in range(n_images)]
    if write_images:
        from PIL import Image

        (out / "images").mkdir(exist_ok=True)
        yy, xx = np.mgrid[0:H, 0:W]
        for i, name in enumerate(image_names):
            img = np.stack([(xx * 255 // W + 40 * i) % 256, (yy * 255 // H) % 256, np.full_like(xx, (60 * i) % 256)], -1)
            Image.fromarray(img.astype(np.uint8)).save(out / name, quality=90)
    origin = np.where(rng.random(n) < 0.5, "gt", "pred")
    # order as the real table: image order, then gt first, then object order
    order = np.lexsort((origin != "gt", image_idx))
    cls, image_idx, origin = cls[order], image_idx[order], origin[order]
    obj = np.zeros(n, dtype=np.int32)
    for i in range(n_images):
        m = image_idx == i
        obj[m] = np.arange(m.sum())
    bw = rng.uniform(4, W * 0.6, n).astype(np.float32)
    bh = rng.uniform(4, H * 0.6, n).astype(np.float32)
    x1 = rng.uniform(0, W - bw).astype(np.float32)
    y1 = rng.uniform(0, H - bh).astype(np.float32)
    images = np.asarray(image_names, dtype=object)[image_idx]
    status = np.where(origin == "gt", np.where(rng.random(n) < 0.8, "TP", "FN"), np.where(rng.random(n) < 0.7, "TP", "FP"))
    score = np.where(origin == "pred", rng.uniform(0.25, 1.0, n), np.nan).astype(np.float32)
    cols = {
        "image": pa.array(images, pa.string()),
        "image_index": pa.array(image_idx.astype(np.int64)),
        "image_w": pa.array(np.full(n, W, np.int32)),
        "image_h": pa.array(np.full(n, H, np.int32)),
        "object": pa.array(obj),
        "object_id": pa.array([f"{im}#{o}" for im, o in zip(images, obj)], pa.string()),
        "origin": pa.array(origin.astype(object), pa.string()),
        "x1": pa.array(x1),
        "y1": pa.array(y1),
        "x2": pa.array(x1 + bw),
        "y2": pa.array(y1 + bh),
        "class_id": pa.array(cls.astype(np.int32)),
        "class_name": pa.array(np.asarray(classes, dtype=object)[cls], pa.string()),
        "score": pa.array(score, pa.float32(), from_pandas=True),
        "gt_id": pa.array([None] * n, pa.string()),
        "match_iou": pa.array([None] * n, pa.float32()),
        "status": pa.array(status.astype(object), pa.string()),
        "box_area": pa.array(bw * bh * np.where(rng.random(n) < 0.3, 40.0, 1.0).astype(np.float32)),
        "attr_weather": pa.array(rng.choice(["clear", "rainy", "snowy", "overcast"], size=n).astype(object), pa.string()),
        "attr_timeofday": pa.array(rng.choice(["daytime", "night"], size=n).astype(object), pa.string()),
        "attr_occluded": pa.array(rng.random(n) < 0.3),
    }
    for j, (col, C) in enumerate(dims.items()):
        if col in separable:
            X = clustered(n, C, cls, seed=seed + 17 + j)
        else:
            X = rng.normal(size=(n, C)).astype(np.float32)
        cols[col] = _emb_array(X)
    if coef:
        Xc = clustered(n, 32, cls, seed=seed + 99)
        valid = origin == "pred"
        values = pa.array(Xc.reshape(-1))
        cols["emb_coef"] = pa.FixedSizeListArray.from_arrays(values, 32, mask=pa.array(~valid))
    path = out / "objects.parquet"
    pq.write_table(pa.table(cols), path)
    return path
