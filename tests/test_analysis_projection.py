"""Projections: determinism with a seed, what is written, sampling/origin filters, the UMAP extra."""

from __future__ import annotations

import json
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest

from yololens.analysis.projection import Projector, load_projection, project, projection_path
from yololens.analysis.synthetic import clustered, make_objects_table
from yololens.errors import InputError

FAST_TSNE = dict(n_iter=60, exaggeration_iter=40, n_jobs=1)


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    d = tmp_path_factory.mktemp("proj")
    make_objects_table(d, 200, dims={"emb_L9": 64, "emb_L15": 32}, separable=("emb_L15",), write_images=False)
    return d


def _data(n=150, dims=20):
    y = np.repeat(np.arange(3), n // 3)
    return clustered(len(y), dims, y, seed=5), y


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_same_seed_gives_identical_coordinates(method):
    X, _ = _data()
    kw = FAST_TSNE if method == "tsne" else {}
    a = Projector(method=method, seed=7, **kw).fit_transform(X)
    b = Projector(method=method, seed=7, **kw).fit_transform(X)
    assert a.shape == (len(X), 2) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    if method == "tsne":
        c = Projector(method=method, seed=8, **kw).fit_transform(X)
        assert not np.array_equal(a, c)


def test_tsne_keeps_clusters_apart():
    X, y = _data()
    Y = Projector(method="tsne", seed=0, **FAST_TSNE).fit_transform(X)
    cent = np.stack([Y[y == k].mean(0) for k in range(3)])
    within = max(np.linalg.norm(Y[y == k] - cent[k], axis=1).mean() for k in range(3))
    between = min(np.linalg.norm(cent[i] - cent[j]) for i in range(3) for j in range(i + 1, 3))
    assert between > 3 * within


def test_preprocess_pca_and_normalise():
    X, _ = _data(dims=80)
    p = Projector(method="tsne", pca_dims=10, normalize=True)
    Xp = p.preprocess(X)
    assert Xp.shape == (len(X), 10)
    assert Projector(method="tsne", pca_dims=None).preprocess(X).shape == (len(X), 80)
    assert Projector(method="pca", pca_dims=10).preprocess(X).shape == (len(X), 80)  # no pre-reduction for PCA
    Xn = Projector(method="pca", normalize=True, pca_dims=None).preprocess(X)
    np.testing.assert_allclose(np.linalg.norm(Xn, axis=1), 1.0, rtol=1e-5)
    with pytest.raises(InputError, match="NaN"):
        Projector().preprocess(np.full((5, 3), np.nan))
    with pytest.raises(InputError, match="--method"):
        Projector(method="mds")


def test_project_writes_coordinates_keyed_by_object_with_parameters(out):
    res = project(out, 15, "pca", seed=3)
    path = projection_path(out, "emb_L15", "pca")
    assert res.path == path and path.name == "L15_pca.parquet" and path.parent.name == "projections"
    tbl = pq.read_table(path)
    assert tbl.column_names == ["object_id", "x", "y"] and tbl.num_rows == 200
    meta = json.loads(tbl.schema.metadata[b"yololens"])
    side = json.loads(path.with_suffix(".json").read_text())
    assert meta == side
    assert meta["params"]["method"] == "pca" and meta["params"]["seed"] == 3 and meta["params"]["n"] == 200
    all_ids = pq.read_table(out / "objects.parquet", columns=["object_id"])["object_id"].to_pylist()
    assert tbl["object_id"].to_pylist() == all_ids
    back = load_projection(out, 15, "pca")
    np.testing.assert_array_equal(back.coords, res.coords)
    assert list(back.object_ids) == all_ids


def test_project_sample_origin_and_reuse(out):
    a = project(out, "L9", "pca", sample=50, seed=1, origin="gt")
    assert a.path.name == "L9_pca_gt.parquet"
    meta = pq.read_table(out / "objects.parquet", columns=["object_id", "origin", "class_name"]).to_pandas()
    m = meta.set_index("object_id").loc[list(a.object_ids)]
    assert (m["origin"] == "gt").all() and len(a) == 50
    assert set(m["class_name"]) == set(meta.loc[meta.origin == "gt", "class_name"])  # stratified: all classes
    b = project(out, "L9", "pca", sample=50, seed=1, origin="gt", reuse=True)
    assert b.timings.get("reused") is True
    np.testing.assert_array_equal(a.coords, b.coords)
    c = project(out, "L9", "pca", sample=50, seed=2, origin="gt", reuse=True)  # other seed: recomputed
    assert "reused" not in c.timings and set(c.object_ids) != set(a.object_ids)


def test_project_tsne_twice_is_identical(out):
    a = project(out, 15, "tsne", seed=0, save=False, **FAST_TSNE)
    b = project(out, 15, "tsne", seed=0, save=False, **FAST_TSNE)
    np.testing.assert_array_equal(a.coords, b.coords)
    assert list(a.object_ids) == list(b.object_ids) and a.path is None


def test_umap_missing_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "umap", None)  # import umap -> ImportError
    X, _ = _data()
    with pytest.raises(InputError, match=r'pip install "yololens\[umap\]"'):
        Projector(method="umap").fit_transform(X)


@pytest.mark.reliability  # determinism; ~25 s of numba compilation on first use
def test_umap_same_seed_identical():
    pytest.importorskip("umap")
    X, _ = _data(90)
    a = Projector(method="umap", seed=4, n_neighbors=10).fit_transform(X)
    b = Projector(method="umap", seed=4, n_neighbors=10).fit_transform(X)
    np.testing.assert_array_equal(a, b)


def test_bad_inputs_are_input_errors(out):
    with pytest.raises(InputError, match="--origin"):
        project(out, 9, "pca", origin="both")
    with pytest.raises(InputError, match="no embedding column"):
        project(out, "coef", "pca")
