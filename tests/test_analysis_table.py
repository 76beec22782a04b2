"""Objects-table helpers: layer names, embeddings to numpy, stratified sampling, size bins."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from yololens.analysis import table as T
from yololens.analysis.synthetic import make_objects_table
from yololens.errors import InputError


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    d = tmp_path_factory.mktemp("tbl")
    make_objects_table(d, 120, coef=True, write_images=False, seed=3)
    return d


def test_layer_column_names(out):
    schema = T.read_schema(out)
    assert T.layer_column(9) == "emb_L9"
    assert T.layer_column("9") == "emb_L9"
    assert T.layer_column("L15") == "emb_L15"
    assert T.layer_column("coef") == "emb_coef"
    assert T.layer_column("emb_coef", schema) == "emb_coef"
    with pytest.raises(InputError, match="available layers: L9, L15, coef"):
        T.layer_column(21, schema)
    assert T.embedding_columns(schema) == ["emb_L9", "emb_L15", "emb_coef"]


def test_embeddings_to_numpy_matches_values_and_skips_null_rows(out):
    X = np.arange(24, dtype=np.float32).reshape(6, 4)
    arr = pa.FixedSizeListArray.from_arrays(pa.array(X.ravel()), 4)
    chunked = pa.chunked_array([arr.slice(0, 2), arr.slice(2)])
    got = T.embeddings_to_numpy(chunked)
    assert got.dtype == np.float32 and got.shape == (6, 4)
    np.testing.assert_array_equal(got, X)
    np.testing.assert_array_equal(T.embeddings_to_numpy(arr.slice(3, 2)), X[3:5])
    # emb_coef is null on gt rows: reading only valid rows gives pred rows' coefficients
    valid = T.valid_embedding_mask(out, "emb_coef")
    meta = T.read_meta(out)
    assert (meta.loc[valid, "origin"] == "pred").all() and (meta.loc[~valid, "origin"] == "gt").all()
    Xc = T.read_embeddings(out, "emb_coef", np.flatnonzero(valid))
    assert Xc.shape == (valid.sum(), 32) and np.isfinite(Xc).all()
    with pytest.raises(InputError, match="nulls"):
        T.read_embeddings(out, "emb_coef")


def test_stratified_sample_keeps_every_class_and_is_deterministic():
    labels = np.array(["car"] * 900 + ["person"] * 90 + ["bus"] * 9 + ["train"] * 1)
    idx = T.stratified_sample(labels, 100, seed=1)
    assert len(idx) == 100 and len(np.unique(idx)) == 100 and (np.diff(idx) > 0).all()
    kept, counts = np.unique(labels[idx], return_counts=True)
    assert set(kept) == {"car", "person", "bus", "train"}
    c = dict(zip(kept, counts))
    assert c["car"] == pytest.approx(89, abs=2) and c["person"] == pytest.approx(9, abs=1)
    np.testing.assert_array_equal(idx, T.stratified_sample(labels, 100, seed=1))
    assert not np.array_equal(idx, T.stratified_sample(labels, 100, seed=2))
    # min_per_class lifts small classes up to their size
    idx5 = T.stratified_sample(labels, 100, seed=0, min_per_class=5)
    c5 = dict(zip(*np.unique(labels[idx5], return_counts=True)))
    assert c5["bus"] == 5 and c5["train"] == 1
    assert len(T.stratified_sample(labels, None)) == len(labels)
    assert len(T.stratified_sample(labels, 10_000)) == len(labels)
    # missing labels form their own stratum
    lab = np.array(["a"] * 50 + [None] * 50, dtype=object)
    assert len(set(lab[T.stratified_sample(lab, 10)])) == 2


def test_size_bins_use_coco_thresholds():
    bins = T.size_bins(np.array([10.0, 32**2 - 1, 32**2, 96**2 - 1, 96**2, np.nan]))
    assert list(bins.astype(object)[:5]) == ["small", "small", "medium", "medium", "large"]
    assert bins.isna()[5]


def test_missing_table_is_a_one_line_error(tmp_path):
    with pytest.raises(InputError, match="no objects table"):
        T.read_schema(tmp_path)
