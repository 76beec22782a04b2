"""Projection at millions of points: fit on a class-stratified sample, place the rest in chunks.

Above ``Projector.large_n`` points (default 200 000) :func:`project_large` fits t-SNE / UMAP / PCA on a
class-stratified sample of ``fit_sample`` points and places every other point with the fitted model's own
``transform`` (openTSNE ``TSNEEmbedding.transform``: each new point is optimised against the fixed reference
embedding only; UMAP ``transform``; PCA ``transform``), ``place_chunk`` points at a time. The vectors of the
placed points are streamed from the table and reduced (L2 + the fitted PCA) chunk by chunk, so memory holds
the fit sample's vectors, ``N x pca_dims`` reduced floats and one chunk, never ``N x C``.

Also here: :class:`KLConvergence`, the openTSNE callback that ends the normal phase once the KL divergence
stops falling.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from yololens.analysis import table as T

if TYPE_CHECKING:
    from yololens.analysis.projection import Projector

#: openTSNE ``transform`` settings for placed points (its own defaults, 250 iterations, spend most of the time
#: on a few stragglers; 100 leave trustworthiness unchanged on the benchmark data).
PLACE_ITER = 100
#: How often (iterations) the KL divergence is evaluated for :class:`KLConvergence`.
KL_EVERY = 25


@dataclass
class KLConvergence:
    """openTSNE callback: stop the normal (non-exaggerated) phase once the KL divergence falls by less than
    ``tol`` (relative) between two checks ``KL_EVERY`` iterations apart.

    The early-exaggeration phase always runs to its count (it sets the global layout). ``log`` holds
    ``(phase, iteration, kl)`` for every check; ``stopped_at`` the normal-phase iteration it stopped at.
    """

    tol: float
    phase: int = 0
    last: float | None = None
    stopped_at: int | None = None
    log: list = field(default_factory=list)

    def optimization_about_to_start(self) -> None:
        self.phase += 1
        self.last = None

    def __call__(self, iteration: int, error: float, embedding) -> bool:
        self.log.append((self.phase, int(iteration), float(error)))
        if self.phase < 2:
            return False
        stop = self.last is not None and (self.last - error) < self.tol * abs(self.last)
        self.last = float(error)
        if stop:
            self.stopped_at = int(iteration)
        return bool(stop)


def split_fit(labels: np.ndarray | None, n: int, fit_sample: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(fit, place)`` (sorted int64, disjoint, covering ``range(n)``): a ``labels``-stratified
    sample of ``fit_sample`` points to fit on, and the rest to place."""
    labels = np.zeros(n, dtype=object) if labels is None else labels
    fit = T.stratified_sample(labels, fit_sample, seed=seed)
    keep = np.ones(n, dtype=bool)
    keep[fit] = False
    return fit, np.flatnonzero(keep).astype(np.int64)


def place(projector: Projector, Xr: np.ndarray) -> np.ndarray:
    """``(M, C')`` reduced vectors (:meth:`Projector.reduce`) -> ``(M, 2)`` float32 coordinates from the fitted
    model, ``projector.place_chunk`` rows at a time."""
    out = np.empty((len(Xr), 2), dtype=np.float32)
    step = max(int(projector.place_chunk), 1)
    for lo in range(0, len(Xr), step):
        block = Xr[lo : lo + step]
        if projector.method == "tsne":
            Y = projector.model_.transform(block, n_iter=PLACE_ITER)
        else:
            Y = projector.model_.transform(block)
        out[lo : lo + len(block)] = np.asarray(Y, dtype=np.float32)
    return out


@dataclass
class LargeResult:
    """Coordinates ``(N, 2)`` of :func:`project_large` and ``placed`` ``(N,)`` bool (True: placed, not fitted)."""

    coords: np.ndarray
    placed: np.ndarray
    info: dict


def project_large(projector: Projector, out: str | os.PathLike, column: str, rows: np.ndarray,
                  labels: np.ndarray | None) -> LargeResult:
    """Large-N projection of table rows ``rows`` of ``column``: fit a stratified sample, place the rest.

    ``labels``: ``(len(rows),)`` class of each row for the stratified fit sample (None: uniform).
    """
    fit_n = projector.fit_size()
    fit, rest = split_fit(labels, len(rows), fit_n, projector.seed)
    Y_fit = projector.fit_transform(T.read_embeddings(out, column, rows[fit]))
    fit_timings = dict(projector.timings_)
    Xr = T.read_embeddings(out, column, rows[rest], transform=projector.reduce)
    t0 = time.perf_counter()
    Y_rest = place(projector, Xr)
    coords = np.empty((len(rows), 2), dtype=np.float32)
    coords[fit] = Y_fit
    coords[rest] = Y_rest
    placed = np.ones(len(rows), dtype=bool)
    placed[fit] = False
    projector.timings_ = {**fit_timings, "place_s": time.perf_counter() - t0}
    info = {"mode": "large-n", "fitted": int(len(fit)), "placed": int(len(rest)), "threshold": projector.large_n,
            "place_chunk": projector.place_chunk, "place_iter": PLACE_ITER if projector.method == "tsne" else None}
    return LargeResult(coords, placed, info)
