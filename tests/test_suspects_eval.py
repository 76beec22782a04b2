"""Detector evidence, injected noise and the ranking metrics of `suspects`, checked against independent computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from yololens.analysis.suspect_detector import box_iou, detector_confidence, detector_suspects
from yololens.analysis.suspects_eval import _metrics, class_similarity, evaluate_rankings, inject_noise
from yololens.engine.matching import ClassMap
from yololens.types import NoiseKind


def frame(rows):
    cols = ["image", "origin", "object_id", "x1", "y1", "x2", "y2", "class_name", "score", "status", "gt_id", "match_iou"]
    return pd.DataFrame(rows, columns=cols)


def test_detector_evidence_swap_missing_and_box():
    meta = frame([
        ("a", "gt", "a#0", 0, 0, 10, 10, "pedestrian", np.nan, "TP", "g0", 0.95),
        ("a", "gt", "a#1", 20, 0, 30, 10, "car", np.nan, "FN", "g1", np.nan),
        ("a", "gt", "a#2", 40, 0, 50, 10, "car", np.nan, "TP", "g2", 0.6),
        ("a", "pred", "a#3", 0, 0, 10, 10, "person", 0.9, "TP", "g0", 0.95),  # same class via the map
        ("a", "pred", "a#4", 20, 0, 30, 11, "truck", 0.8, "FP", None, np.nan),  # swap on a#1
        ("a", "pred", "a#5", 100, 100, 120, 120, "dog", 0.7, "FP", None, np.nan),  # missing
        ("a", "pred", "a#6", 200, 200, 220, 220, "cat", 0.3, "FP", None, np.nan),  # not confident
        ("a", "pred", "a#7", 41, 0, 53, 10, "car", 0.9, "TP", "g2", 0.6),  # loose box on a#2
    ])
    cmap = ClassMap({"pedestrian": "person"})
    d = detector_suspects(meta, cmap).set_index("kind")
    assert d.loc["swap", "object_id"] == "a#1" and d.loc["swap", "suggested"] == "truck"
    assert d.loc["swap", "score"] == pytest.approx(0.8)
    assert d.loc["missing", "object_id"] == "a#5" and pd.isna(d.loc["missing", "label"])
    assert d.loc["box", "object_id"] == "a#2" and d.loc["box", "score"] == pytest.approx(0.4)
    assert len(d) == 3  # no swap on a#0: pedestrian is person through the map
    # without the map, the person box on the pedestrian label is a swap
    assert "a#0" in set(detector_suspects(meta, ClassMap({})).query("kind == 'swap'")["object_id"])
    # the detector-confidence baseline: 1 - conf in the given label
    base = detector_confidence(meta, np.array(["pedestrian", "car", "bus"], object), cmap)
    assert base == pytest.approx([0.1, 1.0, 1.0])  # a#2 relabelled bus: its car prediction disagrees
    assert detector_suspects(meta[meta["origin"] == "gt"]).empty


def test_box_iou_against_hand_values():
    a = np.array([[0, 0, 10, 10]], float)
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]], float)
    assert box_iou(a, b)[0] == pytest.approx([50 / 150, 0.0, 1.0])


def test_inject_noise_flips_the_share_and_confusable_goes_to_the_closest_class():
    labels = np.repeat(np.arange(4), 50)
    sim = np.array([[1, .9, .1, .0], [.9, 1, .2, .1], [.1, .2, 1, .8], [0, .1, .8, 1]])
    flipped, noisy = inject_noise(labels, 0.1, 4, sim, seed=0)
    assert flipped.sum() == 20
    u, c = noisy[NoiseKind.UNIFORM], noisy[NoiseKind.CONFUSABLE]
    assert (u[flipped] != labels[flipped]).all() and (u[~flipped] == labels[~flipped]).all()
    assert (c[flipped] == np.array([1, 0, 3, 2])[labels[flipped]]).all()
    again, _ = inject_noise(labels, 0.1, 4, sim, seed=0)
    assert (again == flipped).all()
    with pytest.raises(Exception, match="at least 2 classes"):
        inject_noise(np.zeros(10, int), 0.1, 1, None)


def test_class_similarity_is_the_cosine_of_the_class_means():
    X = np.array([[1, 0], [1, 0.2], [0, 1], [0.1, 1]], np.float32)
    y = np.array([0, 0, 1, 1])
    sim = class_similarity([(X, y)], 2)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    m = np.stack([Xn[y == c].mean(0) for c in (0, 1)])
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    assert sim == pytest.approx(m @ m.T)


def test_ranking_metrics_against_an_independent_count():
    truth = np.array([1, 0, 1, 0, 0, 1, 0, 0], bool)
    order = np.array([0, 1, 2, 3, 4, 5, 6, 7])  # hits at ranks 1, 3, 6
    prec, ap = _metrics(order, truth, np.ones(8))
    assert prec == pytest.approx(2 / 3)  # top 3 hold 2 of the 3 flipped
    assert ap == pytest.approx((1 / 1 + 2 / 3 + 3 / 6) / 3)
    # case weights equal duplicated rows
    w = np.array([2, 1, 1, 1, 1, 1, 1, 1], float)
    dup = np.array([0, 0, 1, 2, 3, 4, 5, 6, 7])
    p2, ap2 = _metrics(np.arange(9), truth[dup], np.ones(9))
    assert _metrics(order, truth, w) == pytest.approx((p2, ap2))
    perfect = evaluate_rankings({"s": truth.astype(float)}, truth, np.arange(8), n_boot=50)
    assert perfect.loc[0, ["precision_at_k", "ap", "precision_at_k_lo"]].tolist() == [1.0, 1.0, 1.0]
    worst = evaluate_rankings({"s": -truth.astype(float)}, truth, np.arange(8), n_boot=0)
    assert worst.loc[0, "precision_at_k"] == 0.0
