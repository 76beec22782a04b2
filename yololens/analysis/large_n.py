"""Projection at millions of points: fit on a class-stratified sample, place the rest in chunks.

Above ``Projector.large_n`` (:mod:`yololens.analysis.projection`) points (default 200 000) :func:`project_large` fits t-SNE / UMAP / PCA on a
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
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from yololens.analysis import table as T
from yololens.types import Method


class SampleFitter(Protocol):
    """The callbacks fit-a-sample-place-the-rest makes into the projection that called it.

    :class:`yololens.analysis.projection.Projector` passes itself: its :meth:`fit_transform` fits the sample
    (below ``large_n`` points, so it does not come back here) and its :meth:`reduce` prepares the placed
    points. Control goes back into ``projection.py`` through these methods only; typed structurally, so this
    module imports nothing from there.
    """

    method: Method
    seed: int
    large_n: int
    place_chunk: int
    model_: object
    timings_: dict
    fit_info_: dict

    def fit_size(self) -> int: ...
    def fit_transform(self, X: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray: ...
    def reduce(self, X: np.ndarray) -> np.ndarray: ...

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


class TSNEProgress:
    """openTSNE callback: a tqdm bar over both phases' iterations (updated every ``KL_EVERY``); :meth:`close`
    sets it to the iterations really run (the KL stop may end the normal phase early)."""

    def __init__(self, total: int, n_points: int, stage: str = "") -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, desc=f"t-SNE {stage + ', ' if stage else ''}{n_points:,} points", unit="it",
                        mininterval=0.1)

    def __call__(self, iteration, error, embedding) -> bool:
        self.bar.update(min(KL_EVERY, self.bar.total - self.bar.n))
        return False  # never stops the optimisation

    def close(self, ran: int) -> None:
        self.bar.total = ran
        self.bar.update(ran - self.bar.n)
        self.bar.close()


def tsne_fit_info(callbacks: list, model, n_iter: int) -> dict:
    """What a t-SNE fit did: normal-phase iterations run, the last KL and the KL checks (phase 2)."""
    stop = next((c for c in callbacks if isinstance(c, KLConvergence)), None)
    if stop is None:
        return {"n_iter_run": int(n_iter), "kl": round(float(model.kl_divergence), 4), "kl_checks": []}
    return {"n_iter_run": int(stop.stopped_at or n_iter),
            "kl": round(float(stop.log[-1][2] if stop.log else model.kl_divergence), 4),
            "kl_checks": [[it, round(kl, 4)] for ph, it, kl in stop.log if ph == 2]}


def split_fit(labels: np.ndarray | None, n: int, fit_sample: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(fit, place)`` (sorted int64, disjoint, covering ``range(n)``): a ``labels``-stratified
    sample of ``fit_sample`` points to fit on, and the rest to place."""
    labels = np.zeros(n, dtype=object) if labels is None else labels
    fit = T.stratified_sample(labels, fit_sample, seed=seed)
    keep = np.ones(n, dtype=bool)
    keep[fit] = False
    return fit, np.flatnonzero(keep).astype(np.int64)


def place(projector: SampleFitter, Xr: np.ndarray) -> np.ndarray:
    """``(M, C')`` reduced vectors (``Projector.reduce``) -> ``(M, 2)`` float32 coordinates from the fitted
    model, ``projector.place_chunk`` rows at a time."""
    out = np.empty((len(Xr), 2), dtype=np.float32)
    step = max(int(projector.place_chunk), 1)
    for lo in range(0, len(Xr), step):
        block = Xr[lo : lo + step]
        if projector.method is Method.TSNE:
            Y = projector.model_.transform(block, n_iter=PLACE_ITER)
        else:
            Y = projector.model_.transform(block)
        out[lo : lo + len(block)] = np.asarray(Y, dtype=np.float32)
    return out


def _info(projector: SampleFitter, n_fit: int, n_placed: int) -> dict:
    note = (f"fitted on a class-stratified sample of {n_fit:,} objects; the other {n_placed:,} were placed "
            "with the fitted model's transform")
    return {**projector.fit_info_, "mode": "large-n", "fitted": n_fit, "placed": n_placed,
            "threshold": projector.large_n, "place_chunk": projector.place_chunk,
            "place_iter": PLACE_ITER if projector.method is Method.TSNE else None, "note": note}


def fit_place(projector: SampleFitter, X: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
    """In memory: ``X`` ``(N, C)`` -> ``(N, 2)``, fitting a ``labels``-stratified sample and placing the rest."""
    fit, rest = split_fit(labels, len(X), projector.fit_size(), projector.seed)
    Y = np.empty((len(X), 2), dtype=np.float32)
    Y[fit] = projector.fit_transform(X[fit])
    t0 = time.perf_counter()
    Y[rest] = place(projector, projector.reduce(X[rest]))
    projector.timings_ = {**projector.timings_, "place_s": time.perf_counter() - t0}
    projector.fit_info_ = _info(projector, len(fit), len(rest))
    return Y


def project_large(projector: SampleFitter, out: str | os.PathLike, column: str, rows: np.ndarray,
                  label: str) -> tuple[np.ndarray, np.ndarray]:
    """Large-N projection of table rows ``rows`` of ``column``: fit a ``label``-stratified sample (uniform when
    the table has no such column), place the rest. Returns coordinates ``(N, 2)`` and ``placed`` ``(N,)``
    bool (True: placed, not fitted); ``projector.fit_info_`` records the split."""
    path = T.objects_path(out)
    labels = None
    if label in pq.read_schema(path).names:
        labels = np.asarray(pq.read_table(path, columns=[label])[label].take(pa.array(rows)).to_pandas(), dtype=object)
    fit, rest = split_fit(labels, len(rows), projector.fit_size(), projector.seed)
    coords = np.empty((len(rows), 2), dtype=np.float32)
    coords[fit] = projector.fit_transform(T.read_embeddings(out, column, rows[fit]))
    t0 = time.perf_counter()
    # the placed points' vectors are reduced chunk by chunk as they stream in: N x C is never held
    coords[rest] = place(projector, T.read_embeddings(out, column, rows[rest], transform=projector.reduce))
    projector.timings_ = {**projector.timings_, "place_s": time.perf_counter() - t0}
    projector.fit_info_ = _info(projector, len(fit), len(rest))
    placed = np.ones(len(rows), dtype=bool)
    placed[fit] = False
    return coords, placed
