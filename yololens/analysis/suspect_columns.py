"""``suspects.parquet`` read back as per-object columns, so the places people look carry the suspicion: the plot
and its explorer (colour, ranked list) and the FiftyOne export (detection fields).

Per object: ``suspect_score``, ``suspect_suggested``, ``suspect_kind`` (and ``suspect_margin``, for the explorer's
"suspects only" rule) from one stage's class row (by default the primary stage, the one the run's suspects were
led by, stored in the file's metadata; the plot asks for its own stage where that has rows, see
:func:`ranking_stage`) and, for objects without one (predictions: ``missing``) or with a detector finding only,
the detector row with the highest score.
"""

from __future__ import annotations

import os

import pandas as pd
import pyarrow.parquet as pq

from yololens.analysis.run import run_folder

SUSPECTS_FILE = "suspects.parquet"
PRIMARY_KEY = b"yololens.primary"
COLUMNS = ("suspect_score", "suspect_suggested", "suspect_kind")
#: the neighbours' margin (best other class minus the given one's share; NaN for detector rows): not exported
MARGIN = "suspect_margin"


def read_suspects(run) -> tuple[pd.DataFrame, str | None] | None:
    """``(suspects table, primary stage)`` of a run, or None when it has no ``suspects.parquet``."""
    path = run_folder(run) / SUSPECTS_FILE
    if not path.is_file():
        return None
    table = pq.read_table(path)
    primary = (table.schema.metadata or {}).get(PRIMARY_KEY)
    return table.to_pandas(), primary.decode() if primary else None


def ranking_stage(table: pd.DataFrame, primary: str | None, layers=()) -> str | None:
    """The stage whose class rows rank the suspects of a page drawn at ``layers`` (stage labels, ``L15``): the
    primary stage when it is drawn or when no drawn stage has rows, else the first drawn stage that has rows."""
    have = set(table.loc[table["kind"] == "class", "layer"].astype(str))
    drawn = [str(x) for x in layers if str(x) in have]
    return primary if not drawn or primary in drawn else drawn[0]


def _columns(t: pd.DataFrame, stage: str | None) -> pd.DataFrame:
    cls = t[t["layer"] == stage] if stage else t.iloc[0:0]
    det = t[t["kind"] != "class"].sort_values("score", ascending=False).drop_duplicates("object_id")
    rows = pd.concat([cls, det[~det["object_id"].isin(cls["object_id"])]], ignore_index=True)
    out = rows[["object_id", "score", "suggested", "kind", "margin"]].drop_duplicates("object_id")
    return out.rename(columns={"score": "suspect_score", "suggested": "suspect_suggested", "kind": "suspect_kind",
                               "margin": MARGIN})


def suspect_columns(run, layers=()) -> pd.DataFrame | None:
    """``object_id`` + :data:`COLUMNS` + :data:`MARGIN`, one row per object that has a suspects row, at the stage
    :func:`ranking_stage` picks for ``layers`` (default: the primary stage); None without the file."""
    read = read_suspects(run)
    if read is None:
        return None
    t, primary = read
    return _columns(t, ranking_stage(t, primary, layers))


def with_suspects(meta: pd.DataFrame, run: str | os.PathLike) -> pd.DataFrame:
    """``meta`` (with ``object_id``) plus :data:`COLUMNS` when the run has suspects (missing: NaN / None)."""
    return page_suspects(meta, run)[0]


def page_suspects(meta: pd.DataFrame, run: str | os.PathLike, layers=()) -> tuple[pd.DataFrame, str | None]:
    """``(meta plus the suspect columns, the stage that ranked them)`` for a page drawn at ``layers``; ``meta``
    unchanged and None when the run has no suspects (or ``meta`` already carries them)."""
    read = read_suspects(run)
    if read is None or "object_id" not in meta.columns or any(c in meta.columns for c in COLUMNS):
        return meta, None
    t, primary = read
    stage = ranking_stage(t, primary, layers)
    return meta.merge(_columns(t, stage), on="object_id", how="left"), stage or "detector"
