"""A synthetic objects table with the exact ``OUT/objects.parquet`` schema, for tests, demos and benchmarks.

Embeddings are class-clustered where asked (``separable`` columns) and pure noise otherwise, so the right
answer of the stage report is known.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

DEFAULT_CLASSES = ("car", "person", "traffic sign", "traffic light", "truck", "bus")


def _emb_array(X: np.ndarray) -> pa.Array:
    X = np.ascontiguousarray(X, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), X.shape[1])


def clustered(n: int, dims: int, labels: np.ndarray, spread: float = 1.0, sep: float = 4.0, seed: int = 0,
              centre_seed: int | None = None, n_classes: int | None = None) -> np.ndarray:
    """``(n, dims)`` float32: one Gaussian blob per label (centres ``sep`` apart-ish, noise ``spread``).

    ``centre_seed``: draw the centres from their own seed (``n_classes`` of them), so chunks written with
    different ``seed`` share one set of blobs (:func:`write_large_table`)."""
    rng = np.random.default_rng(seed)
    k = int(n_classes or int(labels.max()) + 1)
    crng = rng if centre_seed is None else np.random.default_rng(centre_seed)
    centres = crng.normal(size=(k, dims)).astype(np.float32)
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
    image_names = [f"images/frame_{i:03d}.jpg" for i in range(n_images)]
    if write_images:
        from PIL import Image

        (out / "images").mkdir(exist_ok=True)
        yy, xx = np.mgrid[0:H, 0:W]
        for i, name in enumerate(image_names):
            img = np.stack([(xx * 255 // W + 40 * i) % 256, (yy * 255 // H) % 256, np.full_like(xx, (60 * i) % 256)], -1)
            Image.fromarray(img.astype(np.uint8)).save(out / name, quality=90)
    cols, cls, origin = _scalar_columns(rng, n, classes, class_weights, n_images, image_size)
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


def _scalar_columns(rng: np.random.Generator, n: int, classes: tuple[str, ...],
                    class_weights: tuple[float, ...] | None, n_images: int, image_size: tuple[int, int],
                    image_offset: int = 0, gt_share: float = 0.5) -> tuple[dict, np.ndarray, np.ndarray]:
    """Every non-embedding column of ``n`` rows (``image_offset``: number of the first image), and the rows'
    class indices and origins."""
    W, H = image_size
    p = None if class_weights is None else np.asarray(class_weights, float) / np.sum(class_weights)
    cls = rng.choice(len(classes), size=n, p=p)
    image_idx = np.sort(rng.integers(0, n_images, size=n)) + image_offset
    image_names = [f"images/frame_{i:03d}.jpg" for i in range(image_offset, image_offset + n_images)]
    origin = np.where(rng.random(n) < gt_share, "gt", "pred")
    # order as the real table: image order, then gt first, then object order
    order = np.lexsort((origin != "gt", image_idx))
    cls, image_idx, origin = cls[order], image_idx[order], origin[order]
    obj = np.zeros(n, dtype=np.int32)
    for i in range(image_offset, image_offset + n_images):
        m = image_idx == i
        obj[m] = np.arange(m.sum())
    bw = rng.uniform(4, W * 0.6, n).astype(np.float32)
    bh = rng.uniform(4, H * 0.6, n).astype(np.float32)
    x1 = rng.uniform(0, W - bw).astype(np.float32)
    y1 = rng.uniform(0, H - bh).astype(np.float32)
    images = np.asarray(image_names, dtype=object)[image_idx - image_offset]
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
    return cols, cls, origin


#: BDD100K's class mix (share of the ~1.8M boxes of its train+val detection labels, rounded).
BDD_CLASSES = ("car", "traffic sign", "traffic light", "person", "truck", "bus", "bike", "rider", "motor", "train")
BDD_WEIGHTS = (55.4, 18.6, 14.5, 7.2, 2.3, 0.9, 0.56, 0.36, 0.23, 0.01)


def write_large_table(
    out: str | os.PathLike,
    n: int = 1_800_000,
    *,
    dims: dict | None = None,
    sep: dict | None = None,
    classes: tuple[str, ...] = BDD_CLASSES,
    class_weights: tuple[float, ...] = BDD_WEIGHTS,
    objects_per_image: int = 18,
    chunk: int = 65_536,
    seed: int = 0,
    gt_share: float = 0.5,
) -> Path:
    """Write a large ``out/objects.parquet`` in the real schema chunk by chunk (memory: one chunk), no images.

    ``dims``: ``{column: C}`` (default four stages of 256, 64, 128 and 256); ``sep``: per column, the blob
    separation of :func:`clustered` (default 1.0-2.0: the classes overlap, as on real detector features, and
    the stages differ); classes follow ``class_weights`` (BDD-like imbalance); one row group per chunk;
    ``gt_share``: the share of ground-truth rows (the rest are predictions).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dims = dims or {"emb_L9": 256, "emb_L15": 64, "emb_L18": 128, "emb_L21": 256}
    sep = sep or dict(zip(dims, (1.0, 1.5, 2.0, 1.5)))
    path = out / "objects.parquet"
    writer = None
    try:
        for k, lo in enumerate(range(0, n, chunk)):
            m = min(chunk, n - lo)
            rng = np.random.default_rng([seed, k])
            n_img = max(1, m // objects_per_image)
            cols, cls, _ = _scalar_columns(rng, m, classes, class_weights, n_img, (1280, 720),
                                           image_offset=k * (chunk // objects_per_image + 1), gt_share=gt_share)
            for j, (col, C) in enumerate(dims.items()):
                X = clustered(m, C, cls, sep=float(sep.get(col, 1.5)), seed=seed * 1000 + k * 10 + j + 1,
                              centre_seed=seed + 17 + j, n_classes=len(classes))
                cols[col] = _emb_array(X)
            tbl = pa.table(cols)
            if writer is None:
                writer = pq.ParquetWriter(path, tbl.schema)
            writer.write_table(tbl)
    finally:
        if writer is not None:
            writer.close()
    return path


#: The layers (column, stride, alias) of a synthetic YOLOv8-like run.
SYNTHETIC_LAYERS = (("emb_L9", 32, "sppf"), ("emb_L15", 8, "p3"), ("emb_L18", 16, "p4"), ("emb_L21", 32, "p5"))


def make_model_runs(out_a: str | os.PathLike, out_b: str | os.PathLike, n_gt: int = 200, *,
                    classes: tuple[str, ...] = ("car", "person", "bus"), names_a: tuple[str, ...] | None = None,
                    names_b: tuple[str, ...] | None = None, dims: int = 16, n_images: int = 8,
                    noise_b: float = 0.5, shuffle_b: bool = True, seed: int = 0) -> tuple[Path, Path]:
    """Two run folders as two models would leave on one labelled source (``--boxes both``): the same ``n_gt`` gt
    objects (``image``, ``gt_id``, label class from ``classes``) with each run's own TP/FN status, each run's own
    predictions (TP rows carry the matched ``gt_id``; FP rows a class of that model's ``names_*``), embeddings
    ``emb_L9/15/18/21`` (B's = A's rotated plus ``noise_b`` noise, so they are alike but not equal), and a
    manifest with the same source and labels and the layers' strides and aliases. ``shuffle_b``: B's rows in
    another order (objects must be aligned by label, not by position)."""
    rng = np.random.default_rng(seed)
    names_a, names_b = names_a or classes, names_b or classes
    cls = rng.integers(0, len(classes), n_gt)
    image = np.sort(rng.integers(0, n_images, n_gt))
    gt_id = np.array([f"lab{i:05d}" for i in range(n_gt)], dtype=object)
    emb_a = {c: clustered(n_gt, dims, cls, seed=seed + j) for j, (c, _, _) in enumerate(SYNTHETIC_LAYERS)}
    paths = []
    for which, out, names in ((0, out_a, names_a), (1, out_b, names_b)):
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        tp = rng.random(n_gt) < (0.6 if which == 0 else 0.75)
        n_fp = n_gt // 5
        fp_image = rng.integers(0, n_images, n_fp)
        rows = {
            "image": [f"images/frame_{i:03d}.jpg" for i in np.r_[image, image[tp], fp_image]],
            "origin": ["gt"] * n_gt + ["pred"] * int(tp.sum() + n_fp),
            "class_name": [classes[c] for c in cls] + [classes[c] for c in cls[tp]]
            + list(rng.choice(np.asarray(names, dtype=object), n_fp)),
            "gt_id": list(gt_id) + list(gt_id[tp]) + [None] * n_fp,
            "status": list(np.where(tp, "TP", "FN")) + ["TP"] * int(tp.sum()) + ["FP"] * n_fp,
        }
        n = len(rows["image"])
        rows["object_id"] = [f"{im}#{k}" for k, im in enumerate(rows["image"])]
        cols = {k: pa.array(v, pa.string()) for k, v in rows.items()}
        q = np.linalg.qr(np.random.default_rng(seed + 7).normal(size=(dims, dims)))[0]
        for c, _, _ in SYNTHETIC_LAYERS:
            X = emb_a[c] if which == 0 else emb_a[c] @ q + noise_b * rng.normal(size=(n_gt, dims))
            X = np.r_[X, X[tp], rng.normal(size=(n_fp, dims))].astype(np.float32)
            cols[c] = _emb_array(X)
        table = pa.table(cols)
        if which == 1 and shuffle_b:
            table = table.take(pa.array(rng.permutation(n)))
        pq.write_table(table, out / "objects.parquet")
        manifest = {"job": "extract", "params": {"source": "synthetic/images", "labels": "synthetic/labels.json",
                                                  "boxes": "both"},
                    "model": {"source": f"synthetic-{'ab'[which]}.pt", "names": dict(enumerate(names))},
                    "layers": [{"layer": int(c[5:]), "column": c, "channels": dims, "stride": s, "aliases": [a]}
                               for c, s, a in SYNTHETIC_LAYERS]}
        (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
        paths.append(out)
    return paths[0], paths[1]
