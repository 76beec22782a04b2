"""``suspects.parquet`` read back as per-object columns, so the places people look carry the suspicion: the plot
(``plot --color suspect_score``) and the FiftyOne export (detection fields).

Per object: ``suspect_score``, ``suspect_suggested``, ``suspect_kind`` from the primary stage's class row (the
stage the run's suspects were led by, stored in the file's metadata) and, for objects without one (predictions:
``missing``) or with a detector finding only, the detector row with the highest score.
"""

from __future__ import annotations

import os

import pandas as pd
import pyarrow.parquet as pq

from yololens.analysis.run import run_folder

SUSPECTS_FILE = "suspects.parquet"
PRIMARY_KEY = b"yololens.primary"
COLUMNS = ("suspect_score", "suspect_suggested", "suspect_kind")


def read_suspects(run) -> tuple[pd.DataFrame, str | None] | None:
    """``(suspects table, primary stage)`` of a run, or None when it has no ``suspects.parquet``."""
    path = run_folder(run) / SUSPECTS_FILE
    if not path.is_file():
        return None
    table = pq.read_table(path)
    primary = (table.schema.metadata or {}).get(PRIMARY_KEY)
    return table.to_pandas(), primary.decode() if primary else None


def suspect_columns(run) -> pd.DataFrame | None:
    """``object_id`` + :data:`COLUMNS`, one row per object that has a suspects row; None without the file."""
    read = read_suspects(run)
    if read is None:
        return None
    t, primary = read
    cls = t[t["layer"] == primary] if primary else t.iloc[0:0]
    det = t[t["kind"] != "class"].sort_values("score", ascending=False).drop_duplicates("object_id")
    rows = pd.concat([cls, det[~det["object_id"].isin(cls["object_id"])]], ignore_index=True)
    out = rows[["object_id", "score", "suggested", "kind"]].drop_duplicates("object_id")
    return out.rename(columns={"score": "suspect_score", "suggested": "suspect_suggested", "kind": "suspect_kind"})


def with_suspects(meta: pd.DataFrame, run: str | os.PathLike) -> pd.DataFrame:
    """``meta`` (with ``object_id``) plus :data:`COLUMNS` when the run has suspects (missing: NaN / None)."""
    cols = suspect_columns(run)
    if cols is None or "object_id" not in meta.columns or any(c in meta.columns for c in COLUMNS):
        return meta
    return meta.merge(cols, on="object_id", how="left")
