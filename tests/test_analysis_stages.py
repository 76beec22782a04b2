"""Separability metrics and the stage report on data with a known answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import davies_bouldin_score

from yololens.analysis import metrics as M
from yololens.jobs.stages import stages
from yololens.analysis.synthetic import clustered, make_objects_table

N_BOOT = 200


def _blobs(n=300, k=4, dims=24, seed=0):
    y = np.repeat(np.arange(k), n // k)
    return clustered(len(y), dims, y, sep=6.0, seed=seed), y


def test_knn_and_probe_on_separable_vs_noise():
    X, y = _blobs()
    noise = np.random.default_rng(1).normal(size=X.shape).astype(np.float32)
    knn_sep = M.knn_accuracy(X, y, n_boot=N_BOOT)
    knn_noise = M.knn_accuracy(noise, y, n_boot=N_BOOT)
    assert knn_sep.value >= 0.99 and knn_sep.lo >= 0.97
    assert abs(knn_noise.value - 0.25) < 0.1  # chance for 4 balanced classes
    assert knn_noise.lo <= 0.25 + 0.05 and knn_noise.lo < knn_noise.value < knn_noise.hi
    assert not knn_sep.overlaps(knn_noise)
    assert M.probe_accuracy(X, y, n_boot=N_BOOT).value >= 0.99
    assert M.probe_accuracy(noise, y, n_boot=N_BOOT).value < 0.45
    assert M.chance_accuracy(y) == pytest.approx(0.25)


def test_silhouette_and_davies_bouldin():
    X, y = _blobs()
    noise = np.random.default_rng(2).normal(size=X.shape).astype(np.float32)
    s_sep, s_noise = M.silhouette(X, y, n_boot=N_BOOT), M.silhouette(noise, y, n_boot=N_BOOT)
    assert s_sep.value > 0.5 and abs(s_noise.value) < 0.05 and s_sep.lo > s_noise.hi
    assert M.davies_bouldin_fast(X, y) == pytest.approx(davies_bouldin_score(X, y), rel=1e-6)
    assert M.davies_bouldin_fast(noise, y) == pytest.approx(davies_bouldin_score(noise, y), rel=1e-6)
    d_sep = M.davies_bouldin(X, y, n_boot=50)
    assert d_sep.value < 1.0 < M.davies_bouldin(noise, y, n_boot=50).value
    assert d_sep.lo <= d_sep.value <= d_sep.hi


def test_trustworthiness_high_for_faithful_map_low_for_random():
    X, _ = _blobs(dims=2)
    rng = np.random.default_rng(0)
    assert M.trustworthiness(np.hstack([X, np.zeros_like(X)]), X) > 0.99
    assert M.trustworthiness(X, rng.normal(size=(len(X), 2))) < 0.65


def test_bootstrap_mean_interval():
    v = np.r_[np.ones(80), np.zeros(20)]
    lo, hi = M.bootstrap_mean(v, 2000, seed=0)
    assert lo < 0.8 < hi and hi - lo == pytest.approx(2 * 1.96 * 0.04, abs=0.03)


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    d = tmp_path_factory.mktemp("stages")
    # emb_L15 separable, emb_L9 noise; "rare" classes with 3 objects (< 5 folds) must be dropped, not crash
    classes = ("car", "person", "bus", "truck", "rare")
    make_objects_table(d, 400, classes=classes, class_weights=(1, 1, 1, 1, 0.0001), write_images=False, seed=1)
    import pyarrow.parquet as pq

    t = pq.read_table(d / "objects.parquet")
    names = t["class_name"].to_pylist()
    for i in (5, 77, 301):
        names[i] = "rare"
    import pyarrow as pa

    t = t.set_column(t.schema.get_field_index("class_name"), "class_name", pa.array(names, pa.string()))
    pq.write_table(t, d / "objects.parquet")
    return d


def test_stage_report_ranks_separable_above_noise(out):
    rep = stages(out, n_boot=N_BOOT, origin="all")  # this table mixes gt and pred rows of one vocabulary
    df = rep.table.set_index("stage")
    assert list(df.index) == ["L9", "L15"]
    assert rep.best == "L15"
    assert df.loc["L15", "knn_acc"] >= 0.99 and abs(df.loc["L9", "knn_acc"] - 0.25) < 0.1
    assert df.loc["L15", "knn_acc_lo"] > df.loc["L9", "knn_acc_hi"]
    assert df.loc["L15", "probe_acc"] > 0.95 and df.loc["L15", "silhouette"] > df.loc["L9", "silhouette"]
    assert df.loc["L15", "davies_bouldin"] < df.loc["L9", "davies_bouldin"]
    assert rep.dropped_classes == {"rare": 3} and "rare" not in rep.kept_classes
    assert (df["n_classes"] == 4).all()
    text = rep.recommendation
    assert text.startswith("Verdict: use L15: k-NN 1.00 [1.00, 1.00], ahead of L9 by ")
    assert "(intervals do not overlap)" in text.splitlines()[0] and "rare (3)" in text
    assert "bootstrap" in text
    # files
    csv = pd.read_csv(out / "stages.csv")
    assert list(csv["stage"]) == ["L9", "L15"] and {"knn_acc_lo", "knn_acc_hi", "probe_acc_fold_std"} <= set(csv)
    md = (out / "stages.md").read_text()
    assert md.splitlines()[2] == rep.verdict.text and "| L15 |" in md
    from PIL import Image

    img = np.asarray(Image.open(out / "stages.png").convert("L"), dtype=float)
    assert img.std() > 10


def test_overlapping_cis_are_reported(tmp_path):
    make_objects_table(tmp_path, 200, separable=("emb_L9", "emb_L15"), write_images=False, seed=2)
    rep = stages(tmp_path, n_boot=N_BOOT, save=False)
    assert rep.verdict.text.startswith("Verdict: no clear winner: L9 and L15 overlap on k-NN")
    assert rep.verdict.tied == ("L9", "L15") and not rep.verdict.clear


def test_fewer_than_two_classes_says_so(tmp_path):
    make_objects_table(tmp_path, 60, classes=("car", "person"), class_weights=(1, 0.0001), write_images=False)
    rep = stages(tmp_path, n_boot=50)
    gt = pd.read_parquet(tmp_path / "objects.parquet", columns=["origin", "class_name"]).query("origin == 'gt'")
    line = f"not enough objects to compare stages: car {len(gt)} (need >= 5 in >= 2 classes)"  # gt scored (auto)
    assert rep.best is None and rep.insufficient == line and rep.verdict.text == line
    assert (tmp_path / "stages.md").read_text() == f"# Stage report\n\n{line}\n"
    assert not (tmp_path / "stages.png").exists() and "chart" not in rep.paths
    assert rep.table["knn_acc"].isna().all()


def test_min_class_count_and_sample_cap(out):
    rep = stages(out, n_boot=50, min_class_count=50, sample=60, save=False, origin="all")
    # every kept class keeps at least min_class_count objects even though the cap is smaller
    assert rep.dropped_classes == {"rare": 3}
    assert sorted(rep.kept_classes) == ["bus", "car", "person", "truck"]
    assert all(v == 50 for v in rep.kept_classes.values())
    assert (rep.table["n"] == 200).all() and rep.params["min_class_count"] == 50


def test_trustworthiness_of_saved_projection(out):
    from yololens.analysis.projection import project

    project(out, 15, "pca", seed=0)
    rep = stages(out, n_boot=50, layers=[15], save=False, trust_method="pca")
    assert 0.5 < rep.table.loc[0, "trust_pca"] <= 1.0
