"""Which table rows a projection covers (:func:`select_rows`), where projections live and how they are written: ``OUT/projections/<stage>_<method>[_<origin>].parquet``
(columns ``object_id, x, y`` and, in large-N mode, ``placed``; the parameters in the Parquet key-value metadata
under ``yololens``) plus a JSON sidecar with the same parameters. Reading is
:func:`yololens.analysis.projection.load_projection`."""

from __future__ import annotations

import glob
import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from yololens.analysis import table as T
from yololens.errors import InputError
from yololens.store.atomic import atomic_path, write_json
from yololens.store.naming import data_name
from yololens.types import Method, Origin

METHODS = tuple(Method)  # tsne, umap, pca (the --method choices, in that order)
PROJECTIONS_DIR = "projections"


def projection_path(out: str | os.PathLike, column: str, method: str, origin: str = "all") -> Path:
    """``OUT/projections/L9_tsne.parquet`` (``..._gt.parquet`` / ``..._pred.parquet`` with an origin filter)."""
    suffix = "" if origin == Origin.ALL else f"_{origin}"
    return T.out_dir(out) / PROJECTIONS_DIR / f"{data_name(T.stage_label(column))}_{method}{suffix}.parquet"


def table_fingerprint(out) -> dict:
    st = T.objects_path(out).stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def select_rows(
    out,
    column: str,
    *,
    origin: str = "all",
    sample: int | None = None,
    seed: int = 0,
    label: str = "class_name",
    require: list[str] | None = None,
    skips: list[str] | None = None,
    strict: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Table row indices (sorted, int64) and their object ids for one projection.

    Rows: ``origin`` filter, non-null and finite ``column`` (and every column in ``require``), then a
    ``label``-stratified sample of ``sample`` rows (deterministic with ``seed``). Rows with NaN/inf are left
    out with a line in ``skips`` (``strict``: refused).
    """
    schema = T.read_schema(out)
    cols = ["object_id", "origin"] + ([label] if label in schema.names else [])
    meta = pq.read_table(T.objects_path(out), columns=list(dict.fromkeys(cols)))
    mask = T.row_mask(meta, origin=origin)
    for c in [column, *(require or [])]:
        mask &= T.valid_embedding_mask(out, c)
    mask = T.drop_nonfinite(out, [column, *(require or [])], mask, skips if skips is not None else [], strict)
    rows = np.flatnonzero(mask)
    if len(rows) == 0:
        raise InputError(f"no objects with {column} (origin={origin}) in the table")
    if sample is not None and sample < len(rows):
        labels = (
            np.asarray(meta[label].take(pa.array(rows)).to_pandas(), dtype=object)
            if label in schema.names
            else np.zeros(len(rows), dtype=object)
        )
        rows = rows[T.stratified_sample(labels, sample, seed=seed)]
    ids = np.asarray(meta["object_id"].take(pa.array(rows)).to_pandas(), dtype=object)
    return rows, ids


def save_projection(result, path: str | os.PathLike) -> Path:
    """Write ``object_id, x, y`` with the parameters in the Parquet metadata, and a JSON sidecar (atomically)."""
    path = Path(path)
    tbl = pa.table(
        {
            "object_id": pa.array(result.object_ids, type=pa.string()),
            "x": pa.array(result.coords[:, 0], type=pa.float32()),
            "y": pa.array(result.coords[:, 1], type=pa.float32()),
            **({} if result.placed is None else {"placed": pa.array(np.asarray(result.placed, dtype=bool))}),
        }
    )
    meta = {"column": result.column, "method": result.method, "params": result.params}
    tbl = tbl.replace_schema_metadata({"yololens": json.dumps(meta, default=str)})
    with atomic_path(path) as tmp:
        pq.write_table(tbl, tmp)
    write_json(path.with_suffix(".json"), meta)
    return path


def find_projections(out: str | os.PathLike, column: str) -> list[Path]:
    """Saved projection files of ``column`` (any method/origin)."""
    d = T.out_dir(out) / PROJECTIONS_DIR
    stage = data_name(T.stage_label(column))
    return sorted(
        p for p in d.glob(f"{glob.escape(stage)}_*.parquet")
        if not p.name.startswith(".") and p.stem[len(stage) + 1:].split("_")[0] in METHODS
    ) if d.is_dir() else []
