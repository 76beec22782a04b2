"""Linear CKA with the unbiased HSIC estimator, accumulated over minibatches of objects.

Linear CKA (Kornblith et al. 2019) of two representations ``X (n, p)`` and ``Y (n, q)`` of the same objects is
``HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))`` with ``K = X X^T`` and ``L = Y Y^T``. Following Nguyen, Raghu and
Kornblith (2021, "Do wide and deep networks learn the same things?", eq. 3) each minibatch of ``b`` objects gives
the unbiased estimator (Song et al. 2012)

    HSIC_1(K, L) = [tr(K~ L~) + (1' K~ 1)(1' L~ 1) / ((b-1)(b-2)) - 2/(b-2) 1' K~ L~ 1] / (b (b-3))

where ``K~``, ``L~`` are the Gram matrices with their diagonals set to 0; minibatch CKA is the ratio of the
batch averages: ``mean_i HSIC_1(K_i, L_i) / sqrt(mean_i HSIC_1(K_i, K_i) mean_i HSIC_1(L_i, L_i))``. Memory is
that of one batch's Gram matrices, whatever the number of objects; on one batch the value is the full-batch
unbiased CKA. The estimator needs no centring (it is invariant to adding a constant to the features), and CKA
is invariant to orthogonal transforms and isotropic scaling of either representation.

Here all ``V`` representations ("views", e.g. every embedding column) are accumulated at once: one batch gives
the ``(V, V)`` matrix of HSIC_1 between every pair (``tr(K~_i K~_j)`` for all pairs is one matrix product of
the flattened Gram matrices).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Smallest batch the estimator is defined on (it divides by b - 3).
MIN_BATCH = 4


def unbiased_hsic_matrix(views: Sequence[np.ndarray]) -> np.ndarray:
    """``(V, V)`` float64: HSIC_1 of the linear-kernel Gram matrices of every pair of ``views`` (each ``(b, C_v)``
    for the same ``b >= 4`` objects, in the same order).

    Each Gram matrix is computed in its view's precision (float32 embeddings: float32, about twice as fast;
    float64 stays float64) and everything after it in float64."""
    b = int(views[0].shape[0])
    if b < MIN_BATCH:
        raise ValueError(f"the unbiased HSIC estimator needs at least {MIN_BATCH} objects, not {b}")
    grams = np.empty((len(views), b * b), dtype=np.float64)
    for i, X in enumerate(views):
        if X.shape[0] != b:
            raise ValueError("every view must hold the same objects")
        X = np.asarray(X) if np.asarray(X).dtype in (np.float32, np.float64) else np.asarray(X, dtype=np.float64)
        K = X @ X.T
        np.fill_diagonal(K, 0.0)
        grams[i] = K.ravel()
    trace = grams @ grams.T  # tr(K~_i K~_j) = sum of the elementwise product (both symmetric)
    rows = grams.reshape(len(views), b, b).sum(axis=2)  # K~_i 1, (V, b)
    sums = rows.sum(axis=1)  # 1' K~_i 1
    cross = rows @ rows.T  # 1' K~_i K~_j 1
    return (trace + np.outer(sums, sums) / ((b - 1) * (b - 2)) - 2.0 / (b - 2) * cross) / (b * (b - 3))


def cka_from_hsic(hsic: np.ndarray) -> np.ndarray:
    """``(V, V)`` CKA from an HSIC matrix: ``H_ij / sqrt(H_ii H_jj)`` (NaN where a view's own HSIC is not
    positive, e.g. a constant view)."""
    d = np.diag(hsic).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.sqrt(np.where(d > 0, d, np.nan))
        out = hsic / np.outer(scale, scale)
    np.fill_diagonal(out, np.where(d > 0, 1.0, np.nan))
    return out


class MinibatchCKA:
    """Accumulates minibatch CKA between ``V`` views: :meth:`add` one batch (a ``(b, C_v)`` array per view, same
    objects), then :meth:`value` (``(V, V)``) and :meth:`interval` (a bootstrap over the batches).

    Batches are weighted by their size (equal batches: the plain average of Nguyen et al.).
    """

    def __init__(self) -> None:
        self.hsic_: list[np.ndarray] = []
        self.sizes_: list[int] = []

    @property
    def n_objects(self) -> int:
        return int(sum(self.sizes_))

    @property
    def n_batches(self) -> int:
        return len(self.sizes_)

    def add(self, views: Sequence[np.ndarray]) -> None:
        self.hsic_.append(unbiased_hsic_matrix(views))
        self.sizes_.append(int(views[0].shape[0]))

    def _mean(self, weights: np.ndarray) -> np.ndarray:
        return np.tensordot(weights / weights.sum(), np.stack(self.hsic_), axes=1)

    def value(self) -> np.ndarray:
        """``(V, V)`` minibatch CKA (symmetric, diagonal 1)."""
        if not self.hsic_:
            raise ValueError("no batch was added")
        return cka_from_hsic(self._mean(np.asarray(self.sizes_, dtype=np.float64)))

    def interval(self, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[np.ndarray, np.ndarray] | None:
        """Percentile bootstrap ``(lo, hi)`` of every cell, resampling whole batches (the batches are the
        independent units here); ``None`` with fewer than 2 batches."""
        if self.n_batches < 2 or n_boot < 1:
            return None
        rng = np.random.default_rng(seed)
        sizes = np.asarray(self.sizes_, dtype=np.float64)
        draws = []
        for _ in range(int(n_boot)):
            counts = np.bincount(rng.integers(0, self.n_batches, self.n_batches), minlength=self.n_batches)
            draws.append(cka_from_hsic(self._mean(counts * sizes)))
        draws = np.stack(draws)
        alpha = (1 - level) / 2
        return np.nanquantile(draws, alpha, axis=0), np.nanquantile(draws, 1 - alpha, axis=0)
