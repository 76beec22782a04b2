"""Label-error suspects from neighbour disagreement: which ground-truth labels do their embedding neighbours doubt?

For every labelled object at one stage (an ``emb_*`` column):

* **Neighbours** are the ``k`` nearest objects by cosine similarity *outside the object's own group*
  (:func:`yololens.analysis.neighbours.neighbours_outside_groups`). The group is the ``video`` when the table
  has one, else the ``image``: objects of one image share its context (lighting, scale, a crowd of one class),
  and on video frames the same physical object recurs in every frame with the same label (and, when the label
  is wrong, the same wrong label), so its copies would vote for whatever it is labelled and hide the error.
  Excluded neighbours are skipped, not counted: the search goes further out until ``k`` are found.
* **p(class)**: the similarity-weighted label distribution of those neighbours, ``W_c = sum max(sim, 0)`` over
  neighbours of class ``c``, smoothed towards the class prior ``pi``: ``p = (W + a*pi) / (sum W + a)``.
* **Calibration** (why a rare class is not always suspect): a class with few objects cannot fill a
  neighbourhood of ``k``, and a class in a sparse region gathers neighbours of the dense classes around it, so
  its raw ``p(own class)`` is low even when every one of its labels is right. Each class ``c`` is therefore
  measured against its own typical agreement: ``t_c`` = the mean of ``p(c)`` over the objects labelled ``c``
  (confident learning's per-class threshold, Northcutt et al. 2021), and ``q(c) = min(1, p(c) / t_c)``. A
  rare class whose objects agree with each other as well as it can gets ``q = 1``; a flipped label is far below
  its class's norm. The cost: a class that is mostly mislabelled has a low norm and hides its errors.
* **score** ``= 1 - q(given label)`` (higher = more suspect), **suggested** = the other class with the highest
  ``q``, **margin** ``= q(given) - q(suggested)`` (negative: the neighbours prefer the suggestion).

A class with no object outside one group (a single object, or all of them in one image/video) has no norm
(``t_c = 0``): its objects cannot be judged against their class and get a NaN score (ranked last and counted in
the summary). Its ``q`` as a *suggestion* uses the median norm of the other classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from yololens.analysis.neighbours import EXACT_MAX, N_NEIGHBOURS, NeighbourSearch, neighbours_outside_groups
from yololens.errors import InputError

#: Prior smoothing ``a``: the weight of the class prior, in neighbours (a tenth of one full-similarity vote).
SMOOTHING = 0.1


@dataclass
class ClassScores:
    """Per object ``(N,)``: ``score`` (NaN: not scorable), ``suggested`` (class code), ``margin``, ``p_given`` (raw
    neighbour share of the given label); ``norm`` ``(n_classes,)`` is ``t_c`` (0: no norm)."""

    score: np.ndarray
    suggested: np.ndarray
    margin: np.ndarray
    p_given: np.ndarray
    norm: np.ndarray


class NeighbourSuspects:
    """Neighbour disagreement at one stage. ``fit(X, groups)`` finds the neighbours (label-independent, done once);
    ``score(labels)`` scores any labelling of the same objects (the true one, or one with injected flips).

    Args:
        k: neighbours per object.
        exact_max: exact search up to this many objects, Annoy above (:class:`NeighbourSearch`).
        smoothing: prior weight ``a`` (see the module docstring).
        seed: the approximate search's seed.
        n_jobs: threads of the approximate search (-1: all cores).
        copy: ``False`` lets :meth:`fit` scale a float32 ``X`` to unit rows in place (saves a copy at scale).
    """

    def __init__(self, k: int = N_NEIGHBOURS, *, exact_max: int = EXACT_MAX, smoothing: float = SMOOTHING,
                 seed: int = 0, n_jobs: int = -1, copy: bool = True) -> None:
        self.k = k
        self.exact_max = exact_max
        self.smoothing = smoothing
        self.seed = seed
        self.n_jobs = n_jobs
        self.copy = copy

    def _validate(self) -> None:
        if not isinstance(self.k, (int, np.integer)) or self.k < 1:
            raise InputError(f"--k must be a positive integer, not {self.k!r}")
        if not self.smoothing > 0:
            raise InputError(f"smoothing must be > 0, not {self.smoothing!r}")

    def fit(self, X: np.ndarray, groups: np.ndarray) -> NeighbourSuspects:
        """``X`` ``(N, C)`` embeddings, ``groups`` ``(N,)`` group codes (image or video); finds ``idx_``/``sim_``
        ``(N, k)`` (-1 / NaN padded)."""
        self._validate()
        owned = isinstance(X, np.ndarray) and X.dtype == np.float32 and not self.copy
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or len(X) != len(groups):
            raise InputError(f"embeddings {X.shape} and groups ({len(groups)},) do not line up")
        self.search_ = NeighbourSearch(len(X), self.exact_max)
        self.idx_, self.sim_ = neighbours_outside_groups(X, np.asarray(groups), self.k, exact_max=self.exact_max,
                                                         seed=self.seed, n_jobs=self.n_jobs, copy=not owned)
        return self

    def votes(self, labels: np.ndarray, n_classes: int) -> np.ndarray:
        """``(N, n_classes)`` float32: the similarity-weighted neighbour votes ``W`` for the labelling ``labels``."""
        n, k = self.idx_.shape
        have = self.idx_ >= 0
        w = np.where(have, np.maximum(np.nan_to_num(self.sim_), 0.0), 0.0).astype(np.float32)
        flat = np.repeat(np.arange(n, dtype=np.int64) * n_classes, k) + labels[np.maximum(self.idx_, 0)].ravel()
        return np.bincount(flat, weights=w.ravel(), minlength=n * n_classes).reshape(n, n_classes).astype(np.float32)

    def score(self, labels: np.ndarray, n_classes: int | None = None) -> ClassScores:
        """Score the labelling ``labels`` ``(N,)`` int codes ``0..n_classes-1`` (see the module docstring)."""
        labels = np.asarray(labels, dtype=np.int64)
        n_classes = int(n_classes or labels.max(initial=-1) + 1)
        n = len(labels)
        W = self.votes(labels, n_classes)
        prior = np.bincount(labels, minlength=n_classes).astype(np.float32) / max(n, 1)
        p = (W + self.smoothing * prior) / (W.sum(axis=1, keepdims=True) + self.smoothing)
        rows = np.arange(n)
        p_given = p[rows, labels]
        has_nb = (self.idx_ >= 0).any(axis=1)
        # t_c: mean own-class share over the class's objects that have neighbours; 0 (no norm) when not one of its
        # objects has a neighbour of its class (a single object, or a class confined to one image/video)
        sums = np.bincount(labels[has_nb], weights=p_given[has_nb], minlength=n_classes)
        counts = np.bincount(labels[has_nb], minlength=n_classes)
        agree = np.bincount(labels, weights=self.own_votes(labels) > 0, minlength=n_classes)
        norm = np.where(agree > 0, sums / np.maximum(counts, 1), 0.0)
        fallback = float(np.median(norm[norm > 0])) if (norm > 0).any() else 1.0
        q = np.minimum(1.0, p / np.where(norm > 0, norm, fallback)[None, :])
        q_given = q[rows, labels]
        other = q.copy()
        other[rows, labels] = -np.inf
        suggested = other.argmax(axis=1)
        score = 1.0 - q_given
        score[(norm[labels] <= 0) | ~has_nb] = np.nan
        margin = q_given - other[rows, suggested]
        return ClassScores(score.astype(np.float32), suggested.astype(np.int64), margin.astype(np.float32),
                           p_given.astype(np.float32), norm.astype(np.float32))

    def own_votes(self, labels: np.ndarray) -> np.ndarray:
        """``(N,)`` int: how many of each object's neighbours carry its own label."""
        have = self.idx_ >= 0
        return ((labels[np.maximum(self.idx_, 0)] == labels[:, None]) & have).sum(axis=1)


def class_codes(names) -> tuple[np.ndarray, list[str]]:
    """``(codes (N,) int64, classes)``: class names as codes into the sorted list of distinct names (hashed, then
    the few distinct names sorted: sorting 1.8M strings would take seconds and a fixed-width copy of them)."""
    codes, uniques = pd.factorize(pd.Series(names, dtype=object), sort=False, use_na_sentinel=False)
    text = np.asarray([str(u) for u in uniques], dtype=object)
    order = np.argsort(text.astype(str), kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank[codes], [str(t) for t in text[order]]


def ranks(score: np.ndarray) -> np.ndarray:
    """``(N,)`` int64 ranks, 1 = highest score; NaN last; ties in input order."""
    key = np.where(np.isnan(score), -np.inf, score)
    order = np.argsort(-key, kind="stable")
    out = np.empty(len(score), dtype=np.int64)
    out[order] = np.arange(1, len(score) + 1)
    return out
