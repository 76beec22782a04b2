"""Nearest neighbours of objects in embedding space (the explorer's "10 nearest", computed when the HTML is
written: the 2-D map distorts distances, the embedding does not).

Up to :data:`EXACT_MAX` objects the search is exact (scikit-learn, brute-force cosine). Above it, brute force
grows as N² (150k objects x 256 dims: minutes on two cores), so the search is approximate: Annoy's angular
metric (the cosine distance, the index openTSNE ships and uses for its own affinities) with a fixed seed,
single-threaded so the same vectors give the same neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_NEIGHBOURS = 10
EXACT_MAX = 20_000
ANNOY_TREES = 50  # openTSNE's (and FIt-SNE's) default


@dataclass(frozen=True)
class NeighbourSearch:
    """How :func:`nearest_neighbours` searches ``n`` rows: exact below ``exact_max``, else Annoy."""

    n: int
    exact_max: int = EXACT_MAX

    @property
    def exact(self) -> bool:
        return self.n <= self.exact_max

    def describe(self) -> str:
        """One phrase for the page: which search found the neighbours."""
        if self.exact:
            return "exact, cosine"
        return f"cosine, approximate: Annoy with {ANNOY_TREES} trees, as openTSNE searches"


def nearest_neighbours(X: np.ndarray, k: int = N_NEIGHBOURS, *, exact_max: int = EXACT_MAX,
                       seed: int = 0) -> np.ndarray:
    """``(N, k)`` int32: the ``k`` nearest other rows of ``X`` ``(N, C)`` by cosine distance, ``-1`` padded.

    Exact up to ``exact_max`` rows, approximate (Annoy, seeded by ``seed``) above; see :class:`NeighbourSearch`.
    """
    n = len(X)
    out = np.full((n, k), -1, dtype=np.int32)
    if n < 2:
        return out
    m = min(k + 1, n)
    idx = _exact(X, m) if NeighbourSearch(n, exact_max).exact else _annoy(X, m, seed)
    for i in range(n):  # drop the point itself (usually first, not always with duplicate vectors)
        row = [j for j in idx[i] if j != i][:k]
        out[i, : len(row)] = row
    return out


def _exact(X: np.ndarray, m: int) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors

    return NearestNeighbors(n_neighbors=m, metric="cosine", algorithm="brute").fit(X).kneighbors(
        X, return_distance=False)


def _annoy(X: np.ndarray, m: int, seed: int) -> np.ndarray:
    """``(N, m)`` rows nearest each row (itself usually first), ``-1`` where Annoy found fewer."""
    from openTSNE.dependencies.annoy import AnnoyIndex

    X = np.ascontiguousarray(X, dtype=np.float32)
    index = AnnoyIndex(X.shape[1], "angular")
    index.set_seed(int(seed))
    for i, row in enumerate(X):
        index.add_item(i, row)
    index.build(ANNOY_TREES, n_jobs=1)
    idx = np.full((len(X), m), -1, dtype=np.int64)
    for i in range(len(X)):
        found = index.get_nns_by_item(i, m)
        idx[i, : len(found)] = found
    return idx
