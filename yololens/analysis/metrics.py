"""Separability metrics computed in the original embedding space, with bootstrap confidence intervals.

What the confidence intervals cover (stated in the stage report too):

* k-NN and linear-probe accuracy: each object gets exactly one out-of-fold prediction from stratified
  k-fold cross-validation; the 95% CI is a percentile bootstrap over objects of those per-object
  correct/incorrect outcomes. It reflects which objects were tested, not the variation from refitting on other
  training sets (the fold-to-fold standard deviation is reported beside it).
* silhouette (cosine): percentile bootstrap over objects of the per-object silhouette values (each value is
  computed once, on the full sample).
* Davies-Bouldin: class-stratified bootstrap over objects, the index recomputed on every resample. The index
  is biased under resampling (duplicated objects shrink the within-class spread), so when the percentile
  interval does not contain the point value no interval is reported (NaN) rather than a misleading one.

Grouped evaluation (``groups``: ``(N,)`` int codes, e.g. one per image or video): folds never split a group
(``StratifiedGroupKFold``) and every bootstrap resamples whole groups (a cluster bootstrap), because objects
of one group (the same car in consecutive frames) are not independent.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

ALPHA = 0.05


@dataclass
class Estimate:
    """A point estimate with a 95% interval (``lo``, ``hi``) and an optional spread (``std``)."""

    value: float
    lo: float
    hi: float
    std: float = float("nan")

    @classmethod
    def of(cls, row, metric: str) -> "Estimate":
        """A stage-table row's ``<metric>``, ``<metric>_lo``, ``<metric>_hi`` (NaN where absent): the one
        reader of those columns (a NaN interval means none is reported, see Davies-Bouldin above)."""
        def cell(key: str) -> float:
            try:
                return float(row.get(key))
            except (TypeError, ValueError):  # absent (None) or a missing marker (pd.NA)
                return float("nan")

        return cls(cell(metric), cell(f"{metric}_lo"), cell(f"{metric}_hi"))

    @classmethod
    def columns(cls, df, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(value, lo, hi)`` ``(n_stages,)`` float arrays of a stage table ``df`` (NaN where absent)."""
        def col(key: str) -> np.ndarray:
            return df[key].astype(float).to_numpy() if key in df else np.full(len(df), np.nan)

        return col(metric), col(f"{metric}_lo"), col(f"{metric}_hi")

    @property
    def has_interval(self) -> bool:
        return bool(np.isfinite(self.lo) and np.isfinite(self.hi))

    def overlaps(self, other: "Estimate") -> bool:
        return not (self.lo > other.hi or other.lo > self.hi)

    def fmt(self, digits: int = 3) -> str:
        return f"{self.value:.{digits}f} [{self.lo:.{digits}f}, {self.hi:.{digits}f}]"


NAN_ESTIMATE = Estimate(float("nan"), float("nan"), float("nan"))


def l2_normalize(X: np.ndarray) -> np.ndarray:
    """Rows of ``X`` ``(N, C)`` scaled to unit length (zero rows stay zero)."""
    X = np.asarray(X, dtype=np.float32)
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)


def _folds(y: np.ndarray, n_folds: int, seed: int, groups: np.ndarray | None = None):
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    if groups is None:
        return StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
    if len(np.unique(groups)) < n_folds:
        raise ValueError(f"{len(np.unique(groups))} groups cannot fill {n_folds} grouped folds")
    return StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y, groups)


def knn_cv_predictions(X: np.ndarray, y: np.ndarray, k: int = 10, n_folds: int = 5, seed: int = 0,
                       groups: np.ndarray | None = None):
    """Out-of-fold k-NN (cosine) predictions. ``X`` ``(N, C)``, ``y`` ``(N,)`` int codes.

    Returns ``(pred (N,), fold (N,))``. Every class needs at least ``n_folds`` objects; with ``groups``
    ``(N,)`` no group is split across folds (at least ``n_folds`` groups).
    """
    from sklearn.neighbors import KNeighborsClassifier

    Xn = l2_normalize(X)  # Euclidean order on unit vectors == cosine order
    pred = np.empty(len(y), dtype=y.dtype)
    fold = np.empty(len(y), dtype=np.int32)
    for f, (tr, te) in enumerate(_folds(y, n_folds, seed, groups)):
        clf = KNeighborsClassifier(n_neighbors=min(k, len(tr)), algorithm="brute", metric="euclidean")
        clf.fit(Xn[tr], y[tr])
        pred[te] = clf.predict(Xn[te])
        fold[te] = f
    return pred, fold


def probe_cv_predictions(X: np.ndarray, y: np.ndarray, n_folds: int = 5, seed: int = 0, max_iter: int = 300,
                         groups: np.ndarray | None = None):
    """Out-of-fold linear-probe predictions: standardised features + multinomial logistic regression.

    ``X`` ``(N, C)``, ``y`` ``(N,)``, ``groups`` as in :func:`knn_cv_predictions`; returns ``(pred (N,), fold (N,))``.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pred = np.empty(len(y), dtype=y.dtype)
    fold = np.empty(len(y), dtype=np.int32)
    for f, (tr, te) in enumerate(_folds(y, n_folds, seed, groups)):
        fold[te] = f
        if len(np.unique(y[tr])) < 2:  # a grouped fold can train on one class only: that class is the answer
            pred[te] = y[tr][0]
            continue
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter, C=1.0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X[tr], y[tr])
        pred[te] = clf.predict(X[te])
    return pred, fold


def bootstrap_mean(values: np.ndarray, n_boot: int = 1000, seed: int = 0, alpha: float = ALPHA,
                   groups: np.ndarray | None = None) -> tuple[float, float]:
    """Percentile bootstrap interval of ``values.mean()`` (``values`` ``(N,)``).

    Resamples objects, or with ``groups`` ``(N,)`` whole groups (each resample's mean is over the objects of
    the drawn groups).
    """
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return float("nan"), float("nan")
    if groups is None:
        sums, counts = values, np.ones(len(values))
    else:
        _, codes = np.unique(groups, return_inverse=True)
        sums, counts = np.bincount(codes, weights=values), np.bincount(codes).astype(np.float64)
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    for b in range(0, n_boot, 100):  # chunks keep memory flat for big N
        m = min(100, n_boot - b)
        idx = rng.integers(0, len(sums), size=(m, len(sums)))
        means[b : b + m] = sums[idx].sum(axis=1) / counts[idx].sum(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def accuracy_estimate(pred: np.ndarray, y: np.ndarray, fold: np.ndarray, n_boot: int = 1000, seed: int = 0,
                      groups: np.ndarray | None = None) -> Estimate:
    """Accuracy of out-of-fold predictions with a bootstrap 95% CI (over ``groups`` if given) and the fold std."""
    correct = (pred == y).astype(np.float64)
    lo, hi = bootstrap_mean(correct, n_boot, seed, groups=groups)
    per_fold = [correct[fold == f].mean() for f in np.unique(fold)]
    return Estimate(float(correct.mean()), lo, hi, float(np.std(per_fold)))


def knn_accuracy(X, y, k: int = 10, n_folds: int = 5, seed: int = 0, n_boot: int = 1000,
                 groups: np.ndarray | None = None) -> Estimate:
    """k-NN (cosine, ``k``) accuracy, stratified (group) ``n_folds``-fold CV, with a bootstrap CI."""
    pred, fold = knn_cv_predictions(X, y, k, n_folds, seed, groups)
    return accuracy_estimate(pred, y, fold, n_boot, seed, groups)


def probe_accuracy(X, y, n_folds: int = 5, seed: int = 0, n_boot: int = 1000,
                   groups: np.ndarray | None = None) -> Estimate:
    """Linear-probe accuracy, stratified (group) ``n_folds``-fold CV, with a bootstrap CI."""
    pred, fold = probe_cv_predictions(X, y, n_folds, seed, groups=groups)
    return accuracy_estimate(pred, y, fold, n_boot, seed, groups)


def silhouette(X: np.ndarray, y: np.ndarray, n_boot: int = 1000, seed: int = 0,
               groups: np.ndarray | None = None) -> Estimate:
    """Mean cosine silhouette of the classes ``y`` in ``X`` ``(N, C)``, CI by bootstrapping per-object values
    (whole ``groups`` when given)."""
    from sklearn.metrics import silhouette_samples

    if len(np.unique(y)) < 2:
        return NAN_ESTIMATE
    s = silhouette_samples(l2_normalize(X), y, metric="cosine")
    lo, hi = bootstrap_mean(s, n_boot, seed, groups=groups)
    return Estimate(float(s.mean()), lo, hi)


def davies_bouldin_fast(X: np.ndarray, y: np.ndarray) -> float:
    """Davies-Bouldin index (Euclidean, as ``sklearn.metrics.davies_bouldin_score``); ``y`` int codes.

    NaN (undefined) where two classes share a centroid: sklearn gives 0 there (the best possible value) for
    embeddings that cannot tell the classes apart at all."""
    classes, yc = np.unique(y, return_inverse=True)
    K = len(classes)
    if K < 2:
        return float("nan")
    X = np.asarray(X, dtype=np.float64)
    counts = np.bincount(yc, minlength=K).astype(np.float64)
    cent = np.zeros((K, X.shape[1]))
    np.add.at(cent, yc, X)
    cent /= counts[:, None]
    intra = np.bincount(yc, weights=np.linalg.norm(X - cent[yc], axis=1), minlength=K) / counts
    d = np.linalg.norm(cent[:, None, :] - cent[None, :, :], axis=2)
    off = d[~np.eye(K, dtype=bool)]
    if (off <= 1e-12 * max(float(np.abs(cent).max()), 1.0)).any():
        return float("nan")  # two classes share a centroid (e.g. identical embeddings): undefined, never "best"
    if np.allclose(intra, 0):
        return 0.0
    d[d == 0] = np.inf  # as sklearn: the diagonal (and coincident centroids) never win the max
    return float(np.mean(np.max((intra[:, None] + intra[None, :]) / d, axis=1)))


def davies_bouldin(X: np.ndarray, y: np.ndarray, n_boot: int = 200, seed: int = 0,
                   groups: np.ndarray | None = None) -> Estimate:
    """Davies-Bouldin index (lower = better separated) with a bootstrap CI: class-stratified over objects, or
    over whole ``groups`` when given. The CI is NaN when it does not contain the point value (see module doc)."""
    if len(np.unique(y)) < 2:
        return NAN_ESTIMATE
    value = davies_bouldin_fast(X, y)
    if np.isnan(value):
        return NAN_ESTIMATE
    rng = np.random.default_rng(seed)
    if groups is None:
        strata = [np.flatnonzero(y == c) for c in np.unique(y)]
    else:
        strata = [np.flatnonzero(groups == g) for g in np.unique(groups)]
    boots = np.empty(n_boot)
    for b in range(n_boot):
        if groups is None:
            idx = np.concatenate([rng.choice(g, size=len(g), replace=True) for g in strata])
        else:
            idx = np.concatenate([strata[i] for i in rng.integers(0, len(strata), size=len(strata))])
        boots[b] = davies_bouldin_fast(X[idx], y[idx])
    lo, hi = np.nanquantile(boots, [ALPHA / 2, 1 - ALPHA / 2])
    if not lo <= value <= hi:  # the resampling bias moved the whole interval beside the estimate
        return Estimate(value, float("nan"), float("nan"))
    return Estimate(value, float(lo), float(hi))


def chance_accuracy(y: np.ndarray) -> float:
    """Accuracy of always predicting the most frequent class."""
    _, counts = np.unique(y, return_counts=True)
    return float(counts.max() / counts.sum()) if len(counts) else float("nan")


def trustworthiness(X: np.ndarray, Y: np.ndarray, n_neighbors: int = 10, sample: int | None = 2000, seed: int = 0,
                    normalize: bool = False) -> float:
    """sklearn trustworthiness of the map ``X`` ``(N, C)`` -> ``Y`` ``(N, 2)`` on a capped random sample.

    Euclidean in both spaces, as t-SNE/UMAP/PCA see the data; ``normalize``: L2-normalise ``X`` first (for
    projections made with ``normalize=True``, i.e. cosine neighbourhoods).
    """
    from sklearn.manifold import trustworthiness as _tw

    X = np.asarray(X, dtype=np.float32)
    Y = np.asarray(Y, dtype=np.float32)
    if sample is not None and len(X) > sample:
        idx = np.sort(np.random.default_rng(seed).choice(len(X), size=sample, replace=False))
        X, Y = X[idx], Y[idx]
    k = min(n_neighbors, (len(X) - 1) // 2)
    if k < 1:
        return float("nan")
    return float(_tw(l2_normalize(X) if normalize else X, Y, n_neighbors=k))
