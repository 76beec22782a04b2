"""Neighbour-disagreement suspects: what is excluded, the per-class calibration, and the scores' values."""

from __future__ import annotations

import numpy as np
import pytest

from yololens.analysis.suspects import NeighbourSuspects, class_codes, ranks


def blobs(counts, dims=16, spread=0.35, seed=0):
    """Unit-ish Gaussian blobs, one per class, ``counts[c]`` objects each; returns ``(X, labels)``."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(counts), dims))
    labels = np.repeat(np.arange(len(counts)), counts)
    X = centres[labels] + spread * rng.normal(size=(len(labels), dims))
    return X.astype(np.float32), labels


def test_a_flipped_label_is_the_top_suspect_and_its_true_class_is_suggested():
    X, y = blobs([60, 60, 60])
    given = y.copy()
    given[5] = 2  # a class-0 object labelled 2
    s = NeighbourSuspects(k=10).fit(X, np.arange(len(y))).score(given)
    assert ranks(s.score)[5] == 1
    assert s.suggested[5] == 0 and s.margin[5] < 0
    assert s.score[5] == pytest.approx(1.0, abs=0.02)
    # an independent computation of p(given) for one clean object: weighted share of its 10 nearest
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    sims = Xn @ Xn[10]
    sims[10] = -np.inf
    nb = np.argsort(-sims)[:10]
    w = np.maximum(sims[nb], 0)
    prior = np.bincount(given, minlength=3)[given[10]] / len(given)
    p = (w[given[nb] == given[10]].sum() + 0.1 * prior) / (w.sum() + 0.1)
    assert s.p_given[10] == pytest.approx(p, rel=1e-4)


def test_a_rare_but_consistent_class_is_not_flagged_but_would_be_uncalibrated():
    # 3 "trains" close to each other and near the cars: each has at most 2 train neighbours among k=10
    rng = np.random.default_rng(3)
    X, y = blobs([300, 300], dims=8, spread=0.6)
    trains = (X[y == 0].mean(0) + np.array([1.2] + [0.0] * 7) + 0.05 * rng.normal(size=(3, 8))).astype(np.float32)
    X, y = np.vstack([X, trains]), np.concatenate([y, [2, 2, 2]])
    given = y.copy()
    given[[0, 1, 300, 301]] = [1, 1, 0, 0]  # four real flips among the common classes
    s = NeighbourSuspects(k=10).fit(X, np.arange(len(y))).score(given)
    raw = 1 - s.p_given
    train = np.arange(600, 603)
    assert raw[train].min() > np.sort(raw[:600])[-10]  # uncalibrated, the trains are among the top suspects
    assert s.score[train].max() < 0.35  # calibrated they are not
    top4 = set(np.argsort(-np.nan_to_num(s.score, nan=-1))[:4])
    assert top4 == {0, 1, 300, 301}


def test_video_exclusion_finds_a_wrong_label_repeated_in_every_frame():
    # one physical object (class 0) seen in 6 frames of one video, labelled 1 in all of them
    X, y = blobs([80, 80], seed=5)
    rng = np.random.default_rng(1)
    copies = (X[0] + 0.01 * rng.normal(size=(6, X.shape[1]))).astype(np.float32)
    X = np.vstack([X, copies])
    given = np.concatenate([y, np.ones(6, int)])
    video = np.concatenate([np.arange(160) + 1, np.zeros(6, int)])  # the copies share video 0
    frame = np.arange(len(given))  # each frame its own image
    by_video = NeighbourSuspects(k=5).fit(X, video).score(given)
    by_image = NeighbourSuspects(k=5).fit(X, frame).score(given)
    assert np.nanmin(by_video.score[160:]) > 0.9  # the copies cannot vouch for each other
    assert np.nanmax(by_image.score[160:]) < 0.5  # they would, with only the image excluded
    assert (by_video.suggested[160:] == 0).all()


def test_a_class_of_one_object_or_confined_to_one_group_is_unscored_not_flagged():
    X, y = blobs([40, 40, 1, 3], seed=2)
    groups = np.arange(len(y))
    groups[y == 3] = 999  # the class of 3 lives in one image
    s = NeighbourSuspects(k=5).fit(X, groups).score(y)
    assert np.isnan(s.score[y == 2]).all() and np.isnan(s.score[y == 3]).all()
    assert np.isfinite(s.score[y < 2]).all()
    assert s.norm[2] == 0 and s.norm[3] == 0 and s.norm[0] > 0.5
    assert ranks(s.score)[y == 2][0] > 80  # NaN ranks last


def test_one_object_and_one_group_do_not_crash():
    s = NeighbourSuspects(k=10).fit(np.ones((1, 4), np.float32), np.zeros(1)).score(np.zeros(1, int))
    assert np.isnan(s.score).all()
    codes, classes = class_codes(["car", "bus", "car"])
    assert classes == ["bus", "car"] and codes.tolist() == [1, 0, 1]
