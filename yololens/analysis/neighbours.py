"""Nearest neighbours of objects in embedding space (the explorer's "10 nearest", computed when the HTML is
written: the 2-D map distorts distances, the embedding does not).

Up to :data:`EXACT_MAX` objects the search is exact (scikit-learn, brute-force cosine). Above it, brute force
grows as N² (150k objects x 256 dims: minutes on two cores), so the search is approximate: Annoy's angular
metric (the cosine distance, the index openTSNE ships and uses for its own affinities) with a fixed seed,
single-threaded so the same vectors give the same neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

N_NEIGHBOURS = 10
EXACT_MAX = 20_000
ANNOY_TREES = 50  # openTSNE's (and FIt-SNE's) default
BLOCK = 65_536  # rows per block of the group filtering


class ApproxIndex(StrEnum):
    """The approximate search above ``exact_max``: Annoy (one query per row; the explorer's) or pynndescent's
    all-rows neighbour graph (parallel; what a whole-table kNN such as ``suspects`` needs at millions of rows)."""

    ANNOY = "annoy"
    NNDESCENT = "nndescent"


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
    idx = NeighbourIndex(X, exact_max=exact_max, seed=seed).nearest(np.arange(n), m)
    for i in range(n):  # drop the point itself (usually first, not always with duplicate vectors)
        row = [j for j in idx[i] if j != i][:k]
        out[i, : len(row)] = row
    return out


class NeighbourIndex:
    """A cosine search over the rows of ``X`` ``(N, C)``: exact (scikit-learn brute force) up to ``exact_max``
    rows, else an Annoy index (:data:`ANNOY_TREES` trees, seeded, single-threaded) or, with ``approx``
    ``nndescent``, pynndescent's neighbour graph of ``graph_k`` neighbours per row (seeded; ``n_jobs`` threads, so
    not bit-reproducible above one thread). Built once, queried often."""

    def __init__(self, X: np.ndarray, *, exact_max: int = EXACT_MAX, seed: int = 0,
                 approx: ApproxIndex = ApproxIndex.ANNOY, graph_k: int = 2 * N_NEIGHBOURS + 1, n_jobs: int = -1) -> None:
        self.X = np.ascontiguousarray(X, dtype=np.float32)
        self.search = NeighbourSearch(len(self.X), exact_max)
        self.approx = ApproxIndex(approx)
        self._graph = None
        if self.search.exact:
            from sklearn.neighbors import NearestNeighbors

            self._nn = NearestNeighbors(metric="cosine", algorithm="brute").fit(self.X)
        elif self.approx == ApproxIndex.NNDESCENT:
            from pynndescent import NNDescent

            self._nn = NNDescent(self.X, metric="cosine", n_neighbors=min(graph_k, len(self.X) - 1), random_state=seed,
                                 n_jobs=n_jobs, low_memory=True)
            self._graph = self._nn.neighbor_graph[0]
        else:
            from openTSNE.dependencies.annoy import AnnoyIndex

            self._nn = AnnoyIndex(self.X.shape[1], "angular")
            self._nn.set_seed(int(seed))
            for i, row in enumerate(self.X):
                self._nn.add_item(i, row)
            self._nn.build(ANNOY_TREES, n_jobs=1)

    def nearest(self, rows: np.ndarray, m: int) -> np.ndarray:
        """``(len(rows), m)`` int64: the rows nearest each row of ``rows`` (itself usually first), ``-1`` padded."""
        rows = np.asarray(rows, dtype=np.int64)
        m = min(int(m), len(self.X))
        idx = np.full((len(rows), m), -1, dtype=np.int64)
        if self.search.exact:
            for lo in range(0, len(rows), 2048):  # blocks keep the distance matrix small
                part = rows[lo: lo + 2048]
                idx[lo: lo + len(part)] = self._nn.kneighbors(self.X[part], m, return_distance=False)
            return idx
        if self._graph is not None:  # the graph when it is wide enough, else pynndescent's own query
            if m <= self._graph.shape[1]:
                return self._graph[rows, :m].astype(np.int64)
            found = self._nn.query(self.X[rows], k=m)[0]
            idx[:, : found.shape[1]] = found
            return idx
        for r, i in enumerate(rows):
            found = self._nn.get_nns_by_item(int(i), m)
            idx[r, : len(found)] = found
        return idx


def neighbours_outside_groups(X: np.ndarray, groups: np.ndarray, k: int = N_NEIGHBOURS, *,
                              exact_max: int = EXACT_MAX, seed: int = 0, approx: ApproxIndex = ApproxIndex.NNDESCENT,
                              n_jobs: int = -1, copy: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest rows of each row of ``X`` ``(N, C)`` among the rows of *other* groups (``groups`` ``(N,)``
    codes: an image, a video): ``(idx (N, k) int32 -1 padded, sim (N, k) float32 cosine similarity, NaN padded)``.

    Rows of one's own group are skipped, not counted: the search asks for ``2k + 1`` candidates, then asks again
    with four times as many for the rows still short of ``k`` (a long video fills its own neighbourhood), until
    every row has ``k`` or the candidates are all rows. Above ``exact_max`` rows the first round is pynndescent's
    neighbour graph (``approx``, default): one parallel pass over all rows instead of one Annoy query per row.
    ``copy=False``: ``X`` (float32) is scaled to unit rows in place, saving a copy at millions of rows.
    """
    X = np.asarray(X, dtype=np.float32)
    groups = np.asarray(groups)
    n = len(X)
    idx = np.full((n, k), -1, dtype=np.int32)
    sim = np.full((n, k), np.nan, dtype=np.float32)
    if n < 2 or k < 1:
        return idx, sim
    Xn = X.copy() if copy else X
    for lo in range(0, n, BLOCK):  # unit rows, block by block (no (N, C) temporary)
        Xn[lo: lo + BLOCK] /= np.maximum(np.linalg.norm(Xn[lo: lo + BLOCK], axis=1, keepdims=True), 1e-12)
    index = NeighbourIndex(Xn, exact_max=exact_max, seed=seed, approx=approx, graph_k=2 * k + 1, n_jobs=n_jobs)
    todo, m = np.arange(n), min(n, 2 * k + 1)
    while len(todo):
        for lo in range(0, len(todo), BLOCK):  # blocks keep the (rows, m) candidate arrays small at millions of rows
            rows = todo[lo: lo + BLOCK]
            cand = index.nearest(rows, m)
            ok = (cand >= 0) & (groups[np.maximum(cand, 0)] != groups[rows][:, None])
            first = np.argsort(~ok, axis=1, kind="stable")[:, :k]  # the first k candidates of another group
            got = np.take_along_axis(cand, first, 1)
            got[~np.take_along_axis(ok, first, 1)] = -1
            idx[rows, : got.shape[1]] = got
        short = (idx[todo] < 0).any(axis=1)
        if m >= n:
            break
        todo, m = todo[short], min(n, 4 * m)
    for lo in range(0, n, BLOCK // 8):  # chunks: the (rows, k, C) gather stays small
        nb = idx[lo: lo + BLOCK // 8]
        s = np.einsum("ic,ikc->ik", Xn[lo: lo + len(nb)], Xn[np.maximum(nb, 0)])
        sim[lo: lo + len(nb)] = np.where(nb >= 0, s, np.nan)
    return idx, sim
