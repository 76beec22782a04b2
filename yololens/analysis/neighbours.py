"""Nearest neighbours of objects in embedding space (the explorer's "10 nearest", computed when the HTML is
written: the 2-D map distorts distances, the embedding does not)."""

from __future__ import annotations

import numpy as np

N_NEIGHBOURS = 10


def nearest_neighbours(X: np.ndarray, k: int = N_NEIGHBOURS) -> np.ndarray:
    """``(N, k)`` int32: the ``k`` nearest other rows of ``X`` ``(N, C)`` by cosine distance, ``-1`` padded."""
    from sklearn.neighbors import NearestNeighbors

    n = len(X)
    out = np.full((n, k), -1, dtype=np.int32)
    if n < 2:
        return out
    m = min(k + 1, n)
    idx = NearestNeighbors(n_neighbors=m, metric="cosine", algorithm="brute").fit(X).kneighbors(
        X, return_distance=False)
    for i in range(n):  # drop the point itself (usually first, not always with duplicate vectors)
        row = [j for j in idx[i] if j != i][:k]
        out[i, : len(row)] = row
    return out
