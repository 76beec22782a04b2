"""Validation of the suspects ranking with injected label noise (``suspects --inject-noise 0.1 --seed 0``).

A share of the gt labels is flipped in memory (never on disk), once per :class:`~yololens.types.NoiseKind`, the
same objects for both kinds:

* ``uniform``: the new label is drawn uniformly among the other classes;
* ``confusable``: the new label is the class closest to the true one, by the cosine similarity of the class-mean
  embeddings averaged over the scored stages (a truck labelled car, not a truck labelled traffic light).

Every stage then ranks the objects by its score and the ranking is compared with the truth (which labels were
flipped): precision@k and recall@k with ``k`` = the number flipped (they are equal at that ``k``: both are
hits / flipped), and average precision (scikit-learn's). Intervals are a percentile cluster bootstrap over the
groups the stage report uses (video, else image; :mod:`yololens.analysis.grouping`): whole groups are resampled
(as case weights) and the metrics recomputed. Baselines ranked the same way: ``random`` (a seeded random order:
precision@k is the noise share on average) and ``detector`` (one minus the detector's confidence in the given
label, :func:`yololens.analysis.suspect_detector.detector_confidence`; only on runs with predictions).
Ties are broken by a seeded random order, the same for every ranking.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from yololens.analysis.metrics import ALPHA
from yololens.errors import InputError
from yololens.types import NoiseKind

N_BOOT = 500
RANDOM, DETECTOR = "random", "detector"


def class_similarity(stages: list[tuple[np.ndarray, np.ndarray]], n_classes: int) -> np.ndarray:
    """``(n_classes, n_classes)`` mean over stages of the cosine similarity of the class-mean (unit) embeddings;
    ``stages``: ``(X (N, C), labels (N,))`` per stage. A class absent at a stage does not count there."""
    total = np.zeros((n_classes, n_classes))
    weight = np.zeros((n_classes, n_classes))
    for X, y in stages:
        Xn = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        means = np.zeros((n_classes, X.shape[1]))
        np.add.at(means, y, Xn)
        present = np.bincount(y, minlength=n_classes) > 0
        means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
        both = present[:, None] & present[None, :]
        total += np.where(both, means @ means.T, 0.0)
        weight += both
    return np.where(weight > 0, total / np.maximum(weight, 1), -np.inf)


def inject_noise(labels: np.ndarray, share: float, n_classes: int, similarity: np.ndarray | None,
                 seed: int = 0) -> tuple[np.ndarray, dict[NoiseKind, np.ndarray]]:
    """Flip ``round(share * N)`` of ``labels`` ``(N,)``: returns ``(flipped (N,) bool, {kind: noisy labels})``."""
    if not 0 < share < 1:
        raise InputError(f"--inject-noise must be a share between 0 and 1, not {share!r}")
    if n_classes < 2:
        raise InputError("--inject-noise needs at least 2 classes to flip between")
    rng = np.random.default_rng(seed)
    n = len(labels)
    n_flip = max(1, int(round(share * n)))
    flipped = np.zeros(n, dtype=bool)
    flipped[rng.choice(n, size=min(n_flip, n), replace=False)] = True
    uniform = labels.copy()
    shift = rng.integers(1, n_classes, size=int(flipped.sum()))  # never the true class
    uniform[flipped] = (labels[flipped] + shift) % n_classes
    out = {NoiseKind.UNIFORM: uniform}
    if similarity is not None:
        sim = similarity.astype(np.float64).copy()
        np.fill_diagonal(sim, -np.inf)
        confusable = labels.copy()
        confusable[flipped] = sim.argmax(axis=1)[labels[flipped]]
        out[NoiseKind.CONFUSABLE] = confusable
    return flipped, out


def _metrics(order: np.ndarray, truth: np.ndarray, weight: np.ndarray) -> tuple[float, float]:
    """``(precision@k, average precision)`` of the ranking ``order`` (indices, best first) with case ``weight``;
    ``k`` = the weighted number of true suspects (the boundary case counts in part)."""
    from sklearn.metrics import average_precision_score

    t, w = truth[order], weight[order]
    k = float((w * t).sum())
    if k <= 0:
        return float("nan"), float("nan")
    cum = np.cumsum(w)
    take = np.clip(k - (cum - w), 0, w)  # the part of each case inside the top k
    prec = float((take * t).sum() / k)
    keep = w > 0
    # scores decreasing along the order: the rank itself is the score sklearn sees (no ties left)
    ap = float(average_precision_score(t[keep], -np.arange(len(order))[keep], sample_weight=w[keep]))
    return prec, ap


def evaluate_rankings(rankings: dict[str, np.ndarray], truth: np.ndarray, groups: np.ndarray, *,
                      n_boot: int = N_BOOT, seed: int = 0, alpha: float = ALPHA) -> pd.DataFrame:
    """One row per ranking: ``ranking, n, flipped, k, precision_at_k(_lo, _hi), recall_at_k(...), ap(...)``.

    ``rankings``: name -> scores ``(N,)`` (higher = more suspect; NaN ranks last); ``truth`` ``(N,)`` bool;
    ``groups`` ``(N,)``: the bootstrap's clusters."""
    rng = np.random.default_rng(seed)
    tie = rng.permutation(len(truth))
    _, codes = np.unique(groups, return_inverse=True)
    n_groups = codes.max(initial=-1) + 1
    draws = [np.bincount(rng.integers(0, n_groups, n_groups), minlength=n_groups)[codes].astype(np.float64)
             for _ in range(n_boot)]
    truth = truth.astype(bool)
    rows = []
    for name, score in rankings.items():
        key = np.where(np.isnan(score), -np.inf, score)
        order = np.lexsort((tie, -key))  # by score, ties by the shared random order
        prec, ap = _metrics(order, truth, np.ones(len(truth)))
        boot = np.array([_metrics(order, truth, w) for w in draws]) if n_boot else np.full((1, 2), np.nan)
        lo, hi = np.nanquantile(boot, [alpha / 2, 1 - alpha / 2], axis=0) if np.isfinite(boot).any() else (
            np.full(2, np.nan), np.full(2, np.nan))
        rows.append({"ranking": name, "n": len(truth), "flipped": int(truth.sum()), "k": int(truth.sum()),
                     "precision_at_k": prec, "precision_at_k_lo": lo[0], "precision_at_k_hi": hi[0],
                     "recall_at_k": prec, "recall_at_k_lo": lo[0], "recall_at_k_hi": hi[0],
                     "ap": ap, "ap_lo": lo[1], "ap_hi": hi[1]})
    return pd.DataFrame(rows)


def best_line(table: pd.DataFrame, noise: str = NoiseKind.UNIFORM) -> str:
    """The answer line: which stage finds mislabels best (precision@k with its interval) against the baselines."""
    part = table[table["noise"] == noise] if "noise" in table else table
    if part.empty:
        return "no evaluation rows"
    stages = part[~part["ranking"].isin([RANDOM, DETECTOR])]
    if stages.empty or stages["precision_at_k"].isna().all():
        return "no stage could be evaluated"
    best = stages.loc[stages["precision_at_k"].idxmax()]

    def fmt(r) -> str:
        return f"{r['precision_at_k']:.2f} [{r['precision_at_k_lo']:.2f}, {r['precision_at_k_hi']:.2f}]"

    base = ", ".join(f"{r['ranking']} {fmt(r)}" for _, r in part[part["ranking"].isin([RANDOM, DETECTOR])].iterrows())
    return (f"{best['ranking']} finds injected {noise} label flips best: precision@{int(best['k'])} {fmt(best)} "
            f"({int(best['flipped'])} of {int(best['n'])} labels flipped; baselines: {base})")


def stage_angle(run) -> pd.DataFrame | None:
    """The third angle on "which stage?" for the stage report: per stage (and baseline), precision@k and average
    precision on injected uniform flips with their intervals, from the run's ``suspects_eval.csv`` (None without
    one). Columns: ``ranking, precision_at_k(_lo, _hi), ap(_lo, _hi)``."""
    from yololens.analysis.run import run_folder

    path = run_folder(run) / "suspects_eval.csv"
    if not path.is_file():
        return None
    try:
        t = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"{path}: not a suspects evaluation ({type(exc).__name__})") from None
    t = t[t["noise"] == NoiseKind.UNIFORM] if "noise" in t else t
    cols = ["ranking", "precision_at_k", "precision_at_k_lo", "precision_at_k_hi", "ap", "ap_lo", "ap_hi"]
    return t[[c for c in cols if c in t.columns]].reset_index(drop=True)


def angle_markdown(angle: pd.DataFrame) -> list[str]:
    """Markdown lines of :func:`stage_angle` for ``stages.md``."""
    lines = ["## Which stage finds mislabelled objects? (yololens suspects --inject-noise)", "",
             "| ranking | precision@k [95%] | AP [95%] |", "|---|---|---|"]
    for _, r in angle.iterrows():
        lines.append(f"| {r['ranking']} | {r['precision_at_k']:.3f} [{r['precision_at_k_lo']:.3f}, "
                     f"{r['precision_at_k_hi']:.3f}] | {r['ap']:.3f} [{r['ap_lo']:.3f}, {r['ap_hi']:.3f}] |")
    return lines
