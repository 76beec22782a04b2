"""Analysis at scale (issue 15 sections 2 and 4): streamed reading, stages that sample before reading vectors,
the KL-convergence stop, and large-N projection (fit a stratified sample, place the rest)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from yololens.analysis import metrics as M
from yololens.analysis import table as T
from yololens.analysis.large_n import KLConvergence, split_fit
from yololens.analysis.projection import Projector, load_projection, project
from yololens.analysis.synthetic import BDD_CLASSES, clustered, make_objects_table, write_large_table

FAST = dict(n_iter=120, exaggeration_iter=50, n_jobs=1, gradient="bh")


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """3,000 rows in 12 row groups of 256 rows, four stages, BDD-like classes."""
    out = tmp_path_factory.mktemp("scale")
    write_large_table(out, 3000, dims={"emb_L9": 32, "emb_L15": 8}, sep={"emb_L9": 6.0, "emb_L15": 0.0},
                      chunk=256, seed=3)
    return out


def test_large_table_is_chunked_with_bdd_imbalance_and_shared_blobs(big):
    pf = pq.ParquetFile(T.objects_path(big))
    assert pf.metadata.num_rows == 3000 and pf.metadata.num_row_groups == 12
    tbl = pq.read_table(T.objects_path(big), columns=["object_id", "class_name", "emb_L9"])
    assert tbl["object_id"].to_pandas().is_unique
    counts = tbl["class_name"].to_pandas().value_counts()
    assert counts.index[0] == "car" and counts["car"] > 0.45 * 3000 and set(counts.index) <= set(BDD_CLASSES)
    # one set of blob centres across chunks: a class's mean in the first and the last chunk agree
    X = T.embeddings_to_numpy(tbl["emb_L9"])
    car = (tbl["class_name"].to_pandas() == "car").to_numpy()
    first, last = np.arange(3000) < 256, np.arange(3000) >= 3000 - 184
    assert np.linalg.norm(X[car & first].mean(0) - X[car & last].mean(0)) < 1.0


def test_read_embeddings_streams_rows_in_the_order_asked(big, monkeypatch):
    full = T.embeddings_to_numpy(pq.read_table(T.objects_path(big), columns=["emb_L9"])["emb_L9"])
    rows = np.array([2999, 5, 5, 1000, 0, 257, 2048])
    seen = []
    real = T.iter_column
    monkeypatch.setattr(T, "iter_column", lambda out, col, batch_rows=100: (seen.append(len(a)) or (lo, a)
                                                                          for lo, a in real(out, col, batch_rows)))
    np.testing.assert_array_equal(T.read_embeddings(big, "emb_L9", rows), full[rows])
    assert max(seen) <= 100  # one bounded chunk at a time
    doubled = T.read_embeddings(big, "emb_L9", rows, transform=lambda b: b[:, :3] * 2)
    np.testing.assert_array_equal(doubled, full[rows][:, :3] * 2)
    assert T.read_embeddings(big, "emb_L9", np.array([], dtype=np.int64)).shape == (0, 32)


def test_stages_and_project_never_read_a_whole_embedding_column(big, monkeypatch):
    """Reading streams: no command calls pq.read_table on an emb_* column (it would hold N x C at once)."""
    from yololens.analysis.stages import compute_stages

    real = pq.read_table
    asked = []

    def spy(source, *a, columns=None, **kw):
        asked.extend(c for c in (columns or ["<all>"]) if c.startswith("emb_") or c == "<all>")
        return real(source, *a, columns=columns, **kw)

    monkeypatch.setattr(pq, "read_table", spy)
    rep = compute_stages(big, sample=400, n_boot=20, n_folds=3)
    project(big, 9, "pca", save=False)
    assert asked == []
    assert rep.table.set_index("stage").loc["L9", "knn_acc"] > 0.9 > rep.table.set_index("stage").loc["L15", "knn_acc"]


def test_stages_holds_only_the_sampled_vectors(big, monkeypatch):
    from yololens.analysis.stages import compute_stages

    sizes = []
    real = T.embeddings_to_numpy
    monkeypatch.setattr(T, "embeddings_to_numpy", lambda col: sizes.append(len(col)) or real(col))
    rep = compute_stages(big, layers=[9], sample=300, n_boot=20, n_folds=3)
    assert rep.table.loc[0, "n"] <= 320 and sum(sizes) == rep.table.loc[0, "n"]


def test_stages_counts_nonfinite_rows_streamed(tmp_path):
    make_objects_table(tmp_path, 400, dims={"emb_L9": 8}, separable=("emb_L9",), write_images=False)
    tbl = pq.read_table(tmp_path / "objects.parquet")
    X = T.embeddings_to_numpy(tbl["emb_L9"]).copy()
    X[[3, 17, 250]] = np.nan
    tbl = tbl.set_column(tbl.schema.get_field_index("emb_L9"), "emb_L9",
                         pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), 8))
    pq.write_table(tbl, tmp_path / "objects.parquet", row_group_size=64)
    assert int((~T.finite_mask(tmp_path, "emb_L9")).sum()) == 3
    from yololens.analysis.stages import compute_stages

    rep = compute_stages(tmp_path, origin="all", sample=None, n_boot=10, n_folds=3)
    assert rep.skips == [T.nonfinite_line(tmp_path, "emb_L9", 3)] and rep.table.loc[0, "n"] == 397


def test_kl_convergence_stops_only_the_normal_phase():
    cb = KLConvergence(0.01)
    cb.optimization_about_to_start()
    assert not any(cb(i, 5.0, None) for i in (25, 50, 75))  # exaggeration phase: never stops
    cb.optimization_about_to_start()
    assert not cb(25, 4.0, None) and not cb(50, 3.5, None)  # still falling by 12%
    assert cb(75, 3.49, None) and cb.stopped_at == 75


def test_kl_tol_ends_tsne_early_with_the_same_quality():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 1500)
    X = clustered(1500, 32, y, seed=2)
    full = Projector(seed=0, kl_tol=None, n_iter=400, exaggeration_iter=100, n_jobs=1, gradient="bh")
    early = Projector(seed=0, kl_tol=0.01, n_iter=400, exaggeration_iter=100, n_jobs=1, gradient="bh")
    Yf, Ye = full.fit_transform(X), early.fit_transform(X)
    assert full.fit_info_["n_iter_run"] == 400 and early.fit_info_["n_iter_run"] < 400
    assert len(early.fit_info_["kl_checks"]) == early.fit_info_["n_iter_run"] // 25
    assert M.trustworthiness(X, Ye, sample=None) > M.trustworthiness(X, Yf, sample=None) - 0.01


def test_split_fit_is_stratified_disjoint_and_complete():
    labels = np.array(["car"] * 900 + ["bus"] * 90 + ["train"] * 10, dtype=object)
    fit, rest = split_fit(labels, 1000, 100, seed=0)
    assert len(fit) == 100 and len(rest) == 900 and not np.intersect1d(fit, rest).size
    assert np.array_equal(np.sort(np.concatenate([fit, rest])), np.arange(1000))
    assert set(labels[fit]) == {"car", "bus", "train"}


@pytest.mark.parametrize("method", ["tsne", "pca"])
def test_large_n_fits_a_sample_and_places_the_rest(method):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 2400)
    X = clustered(2400, 32, y, seed=4)
    proj = Projector(method=method, seed=0, large_n=800, place_chunk=500, **(FAST if method == "tsne" else {}))
    Y = proj.fit_transform(X, labels=y)
    info = proj.fit_info_
    assert info["mode"] == "large-n" and info["fitted"] == 800 and info["placed"] == 1600
    fit, rest = split_fit(y, 2400, 800, 0)
    # placed points land in their class: 2-D k-NN from the fitted points predicts them
    from sklearn.neighbors import KNeighborsClassifier

    acc = KNeighborsClassifier(10).fit(Y[fit], y[fit]).score(Y[rest], y[rest])
    assert acc > 0.95
    again = Projector(method=method, seed=0, large_n=800, place_chunk=500, **(FAST if method == "tsne" else {}))
    np.testing.assert_array_equal(again.fit_transform(X, labels=y), Y)


def test_project_large_n_records_and_saves_which_points_were_placed(big):
    res = project(big, 9, "tsne", large_n=1000, seed=0, **FAST)
    assert res.placed is not None and int((~res.placed).sum()) == 1000 and int(res.placed.sum()) == 2000
    assert "placed with the fitted model's transform" in res.params["large_n_mode"]
    assert res.params["fit"]["fitted"] == 1000 and res.params["fit"]["placed"] == 2000
    back = load_projection(res.path)
    np.testing.assert_array_equal(back.placed, res.placed)
    np.testing.assert_array_equal(back.coords, res.coords)
    X = T.read_embeddings(big, "emb_L9")
    y = pq.read_table(T.objects_path(big), columns=["class_name"])["class_name"].to_pandas().to_numpy()
    # equal-size probes (trustworthiness depends on the set size); placing loses a little, never the clusters
    placed_probe = np.flatnonzero(res.placed)[::2]
    tw_placed = M.trustworthiness(X[placed_probe], res.coords[placed_probe], sample=None)
    tw_fitted = M.trustworthiness(X[~res.placed], res.coords[~res.placed], sample=None)
    assert tw_placed > 0.85 and tw_placed > tw_fitted - 0.06
    assert set(y[~res.placed]) == set(y)  # stratified: every class is fitted
    small = project(big, 9, "tsne", large_n=0, seed=0, save=False, **FAST)
    assert small.placed is None and "large_n_mode" not in small.params


def test_plot_says_points_were_placed(big):
    from yololens.jobs.plot import plot

    project(big, 9, "pca", large_n=1000)
    res = plot(big, 9, "pca", html=False, projection={"large_n": 1000})
    assert any("were placed with the fitted model's transform" in n for n in res.notes)


def test_cli_project_large_n_and_route_options(tmp_path):
    import json

    import typer
    from typer.testing import CliRunner

    from yololens.cli import cmd_project

    app = typer.Typer()
    cmd_project.register(app)
    make_objects_table(tmp_path, 400, dims={"emb_L9": 16}, separable=("emb_L9",), write_images=False)
    res = CliRunner().invoke(app, ["project", str(tmp_path), "-l", "9", "--method", "pca", "--large-n", "150"])
    assert res.exit_code == 0, res.output
    side = json.loads((tmp_path / "projections" / "L9_pca.json").read_text())
    assert side["params"]["fit"]["fitted"] == 150 and side["params"]["fit"]["placed"] == 250
    assert pq.read_table(tmp_path / "projections" / "L9_pca.parquet")["placed"].to_numpy().sum() == 250
    res = CliRunner().invoke(app, ["project", str(tmp_path), "-l", "9", "--kl-tol", "0", "--exaggeration-iter", "30",
                                   "--n-iter", "60", "-j", "1"])
    assert res.exit_code == 0, res.output
    side = json.loads((tmp_path / "projections" / "L9_tsne.json").read_text())
    assert side["params"]["kl_tol"] is None and side["params"]["exaggeration_iter"] == 30
    assert side["params"]["fit"]["n_iter_run"] == 60 and "large_n_mode" not in side["params"]


def test_iter_column_reads_one_row_group_at_a_time(big, monkeypatch):
    """pyarrow's iter_batches over a whole file reads ahead (it held a whole 1.8 GB column); iter_column asks
    for one row group per call, so the peak is one row group."""
    calls = []
    real = pq.ParquetFile.iter_batches

    def spy(self, *a, row_groups=None, **kw):
        calls.append(row_groups)
        return real(self, *a, row_groups=row_groups, **kw)

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", spy)
    starts = [lo for lo, _ in T.iter_column(big, "emb_L9")]
    assert calls == [[i] for i in range(12)] and starts == list(range(0, 3000, 256))
