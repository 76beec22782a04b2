"""``objects.parquet`` opens as it is in DuckDB, polars and pandas (the README's snippets, issue 14 §5)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest



@pytest.fixture(scope="module")
def run(synthetic_run):
    return synthetic_run


def test_duckdb_sql_counts_false_positives_by_class(run):
    duckdb = pytest.importorskip("duckdb", reason="needs duckdb")
    path = str(run / "objects.parquet")
    got = duckdb.sql(
        f"SELECT class_name, count(*) AS fp FROM '{path}' WHERE status = 'FP' GROUP BY class_name ORDER BY class_name"
    ).fetchall()
    df = pd.read_parquet(path)
    want = df[df["status"] == "FP"].groupby("class_name").size().sort_index()
    assert got == list(zip(want.index, want.to_numpy().tolist()))
    assert sum(n for _, n in got) > 0
    # the embeddings are fixed-size arrays in SQL too: length and values as written
    dims = duckdb.sql(f"SELECT DISTINCT len(emb_L9) FROM '{path}'").fetchall()
    assert dims == [(16,)]
    first = duckdb.sql(f"SELECT emb_L9 FROM '{path}' WHERE object_id = '{df['object_id'].iat[3]}'").fetchall()[0][0]
    np.testing.assert_allclose(np.asarray(first, dtype=np.float32), np.asarray(df["emb_L9"].iat[3], np.float32))
    # attribute columns filter like any column; emb_coef is NULL on ground truth
    n_gt_coef = duckdb.sql(f"SELECT count(*) FROM '{path}' WHERE origin = 'gt' AND emb_coef IS NOT NULL").fetchall()[0][0]
    assert n_gt_coef == 0


def test_polars_reads_embeddings_as_arrays(run):
    pl = pytest.importorskip("polars", reason="needs polars")
    df = pl.read_parquet(run / "objects.parquet")
    assert df.height == 240
    assert df.schema["emb_L15"] == pl.Array(pl.Float32, 32)
    X = df["emb_L15"].to_numpy()
    assert X.shape == (240, 32) and X.dtype == np.float32
    fp = df.filter(pl.col("status") == "FP").group_by("class_name").len()
    assert fp["len"].sum() == int((df["status"] == "FP").sum())
