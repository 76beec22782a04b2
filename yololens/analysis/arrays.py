"""Pure array helpers for the objects table: embedding columns to ``(N, C)`` arrays, finite-row masks, and the
class-stratified sample every analysis command draws, and the rows a query keeps. No file access (see :mod:`yololens.analysis.table`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from yololens.errors import InputError


def embeddings_to_numpy(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A ``fixed_size_list<float>[C]`` column with no nulls -> ``(N, C)`` float32 array (no Python lists)."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if not pa.types.is_fixed_size_list(arr.type):
        if pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
            lengths = np.asarray(pc.list_value_length(arr))
            if len(lengths) and not (lengths == lengths[0]).all():
                raise InputError("embedding lists have different lengths")
            width = int(lengths[0]) if len(lengths) else 0
        else:
            raise InputError(f"not an embedding column: type {arr.type}")
    else:
        width = arr.type.list_size
    if arr.null_count:
        raise InputError("embedding column has nulls: filter them first")
    flat = np.asarray(arr.flatten())
    return flat.reshape(-1, width).astype(np.float32, copy=False)


def finite_rows(col: pa.ChunkedArray | pa.Array, chunk: int = 65536) -> np.ndarray:
    """``(N,)`` bool: rows whose vector has only finite values (null rows count as finite: they are filtered
    elsewhere). Works in chunks, so a large column is never copied whole."""
    chunks = col.chunks if isinstance(col, pa.ChunkedArray) else [col]
    out = []
    for arr in chunks:
        if not pa.types.is_fixed_size_list(arr.type):
            out.append(np.ones(len(arr), dtype=bool))
            continue
        width = arr.type.list_size
        values = np.asarray(arr.values, dtype=np.float32)  # the child buffer: null rows hold zeros or junk
        start = arr.offset * width
        for lo in range(0, len(arr), chunk):
            n = min(chunk, len(arr) - lo)
            block = values[start + lo * width : start + (lo + n) * width].reshape(n, width)
            out.append(np.isfinite(block).all(axis=1))
    result = np.concatenate(out) if out else np.zeros(0, dtype=bool)
    if col.null_count:
        result |= ~np.asarray(pc.is_valid(col))
    return result


def stratified_sample(
    labels: Sequence | np.ndarray, n: int | None, seed: int = 0, min_per_class: int = 1
) -> np.ndarray:
    """Sorted row indices of a class-stratified sample of about ``n`` rows, deterministic given ``seed``.

    Every class keeps at least ``min(count, min_per_class)`` rows (so no class disappears); the rest of the
    budget is shared in proportion to class sizes (largest remainders). ``n=None`` or ``n >= len(labels)``
    returns every row. ``labels``: ``(N,)``; returns int64 ``(M,)``.
    """
    labels = pd.Series(np.asarray(labels, dtype=object)).fillna("(none)").astype(str).to_numpy()
    N = len(labels)
    if n is None or n >= N:
        return np.arange(N, dtype=np.int64)
    if n <= 0:
        raise InputError(f"--sample must be positive, not {n}")
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    floor = np.minimum(counts, max(1, int(min_per_class)))
    budget = max(n - int(floor.sum()), 0)
    extra_cap = counts - floor
    share = budget * extra_cap / max(int(extra_cap.sum()), 1)
    extra = np.floor(share).astype(np.int64)
    left = budget - int(extra.sum())
    if left > 0:
        order = np.lexsort((classes, -(share - extra)))  # largest remainder first, ties by class name
        for k in order:
            if left == 0:
                break
            if extra[k] < extra_cap[k]:
                extra[k] += 1
                left -= 1
    take = floor + np.minimum(extra, extra_cap)
    rng = np.random.default_rng(seed)
    picked = []
    for k in range(len(classes)):
        idx = np.flatnonzero(inverse == k)
        picked.append(idx if take[k] >= len(idx) else rng.choice(idx, size=int(take[k]), replace=False))
    return np.sort(np.concatenate(picked)).astype(np.int64)
