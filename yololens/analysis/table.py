"""Read the objects table (``OUT/objects.parquet``): columns, embeddings, filters and stratified samples.

Embeddings are ``fixed_size_list<float32>[C]`` columns named ``emb_L<idx>`` (or ``emb_coef``); they are turned
into ``(N, C)`` float32 arrays straight from the Arrow buffers, never through Python lists.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from yololens.analysis.arrays import (embeddings_to_numpy, finite_rows,  # noqa: F401 (re-exported)
                                      stratified_sample)
from yololens.analysis.row_filter import rows_matching  # noqa: F401 (re-exported)
from yololens.errors import InputError
from yololens.types import Origin

OBJECTS_FILE = "objects.parquet"
EMB_PREFIX = "emb_"
ORIGINS = tuple(Origin)  # all, gt, pred

#: COCO box-size thresholds (area in original pixels²): small < 32², medium < 96², large otherwise.
SIZE_SMALL = 32.0**2
SIZE_MEDIUM = 96.0**2
SIZE_BINS = ("small", "medium", "large")


def objects_path(out: str | os.PathLike) -> Path:
    """``OUT/objects.parquet``; an :class:`InputError` naming the path when it is missing."""
    out = Path(out)
    path = out / OBJECTS_FILE if out.suffix != ".parquet" else out
    if not path.is_file():
        raise InputError(f"no objects table at {path} (run `yololens extract` first)")
    return path


def out_dir(out: str | os.PathLike) -> Path:
    """The run folder (``OUT``) for either the folder or the objects.parquet path."""
    out = Path(out)
    return out.parent if out.suffix == ".parquet" else out


def read_schema(out: str | os.PathLike) -> pa.Schema:
    try:
        return pq.read_schema(objects_path(out))
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"cannot read {objects_path(out)}: {exc}") from None


def embedding_columns(schema: pa.Schema) -> list[str]:
    """Every ``emb_*`` column, ordered by layer index (``emb_L4`` < ``emb_L15``), named ones (``emb_coef``) last."""
    cols = [f.name for f in schema if f.name.startswith(EMB_PREFIX)]
    return sorted(cols, key=stage_sort_key)


def stage_sort_key(col: str) -> tuple:
    """Layer order; a layer's mask-pooled column (``emb_L9_mask``) right after its box one."""
    m = re.fullmatch(r"emb_L(\d+)(_mask)?", col)
    return (0, int(m.group(1)), m.group(2) or "") if m else (1, 0, col)


def stage_label(col: str) -> str:
    """``emb_L9`` -> ``L9``; ``emb_coef`` -> ``coef`` (used in file names and titles)."""
    return col[len(EMB_PREFIX) :] if col.startswith(EMB_PREFIX) else col


def layer_column(layer: int | str, schema: pa.Schema | None = None,
                 aliases: Mapping[str, int | str] | None = None) -> str:
    """Map a ``--layer`` value to its column: ``9``/``"9"``/``"L9"`` -> ``emb_L9``, ``"9_mask"`` -> ``emb_L9_mask``
    (mask pooling), ``"coef"`` -> ``emb_coef``; with ``aliases`` (:func:`layer_aliases`) also ``"sppf"`` -> ``emb_L9``
    and ``"p3_mask"`` -> ``emb_L15_mask``.

    With ``schema`` the column must exist (else an :class:`InputError` listing the available ones).
    """
    text = str(layer).strip()
    base, mask_suffix = (text[: -len("_mask")], "_mask") if text.lower().endswith("_mask") else (text, "")
    if aliases and base.lower() in aliases:
        text = f"{aliases[base.lower()]}{mask_suffix}"
    if text.startswith(EMB_PREFIX):
        col = text
    elif re.fullmatch(r"-?\d+(_mask)?", text):
        number, _, mask = text.partition("_")
        col = f"emb_L{int(number)}" + ("_mask" if mask else "")
    elif re.fullmatch(r"[Ll]\d+(_mask)?", text):
        number, _, mask = text[1:].partition("_")
        col = f"emb_L{int(number)}" + ("_mask" if mask else "")
    else:
        col = EMB_PREFIX + text
    if schema is not None and col not in schema.names:
        avail = ", ".join(stage_label(c) for c in embedding_columns(schema)) or "none"
        raise InputError(f"no embedding column {col!r} in the objects table (available layers: {avail})")
    return col


def resolve_columns(out: str | os.PathLike, layer) -> list[str]:
    """The embedding columns a ``--layer`` value names in the objects table under ``out``.

    ``layer``: one value (``9``, ``"coef"``), a comma list (``"9,15,21"``), a list of values, or ``"all"``
    (every ``emb_*`` column, in :func:`embedding_columns` order). Each must exist (see :func:`layer_column`).
    """
    schema = read_schema(out)
    aliases = layer_aliases(out)
    if isinstance(layer, (list, tuple)):
        return [layer_column(x, schema, aliases) for x in layer]
    text = str(layer).strip()
    if text.lower() in ("all", "*", "stages"):
        cols = embedding_columns(schema)
        if not cols:
            raise InputError("the objects table has no embedding (emb_*) columns")
        return cols
    return [layer_column(x, schema, aliases) for x in text.split(",") if x.strip()]


def scalar_columns(schema: pa.Schema) -> list[str]:
    """All columns except the embeddings (cheap to read even for millions of rows)."""
    return [f.name for f in schema if not f.name.startswith(EMB_PREFIX)]


def read_meta(out: str | os.PathLike, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The non-embedding columns (or ``columns``) as a DataFrame, with a derived ``size_bin`` column."""
    schema = read_schema(out)
    cols = scalar_columns(schema) if columns is None else [c for c in columns if c in schema.names]
    if "object_id" not in cols and "object_id" in schema.names:
        cols = ["object_id", *cols]
    df = pq.read_table(objects_path(out), columns=cols).to_pandas()
    if "box_area" in df.columns and "size_bin" not in df.columns:
        df["size_bin"] = size_bins(df["box_area"].to_numpy(dtype=np.float64, na_value=np.nan))
    return df


def size_bins(area: np.ndarray) -> pd.Categorical:
    """COCO size bins from box areas (pixels²): ``small`` < 32², ``medium`` < 96², ``large``; NaN stays missing."""
    area = np.asarray(area, dtype=np.float64)
    codes = np.where(area < SIZE_SMALL, 0, np.where(area < SIZE_MEDIUM, 1, 2))
    codes[~np.isfinite(area)] = -1
    return pd.Categorical.from_codes(codes, categories=list(SIZE_BINS))


def row_mask(
    table_or_df, emb_col: str | None = None, origin: str = "all", label: str | None = None
) -> np.ndarray:
    """Boolean ``(N,)`` mask: rows of ``origin`` (``all``/``gt``/``pred``) whose embedding (and label) is present."""
    if origin not in ORIGINS:
        raise InputError(f"--origin must be one of {', '.join(ORIGINS)}, not {origin!r}")
    n = len(table_or_df)
    mask = np.ones(n, dtype=bool)
    if isinstance(table_or_df, pa.Table):
        if emb_col is not None:
            mask &= np.asarray(pc.is_valid(table_or_df[emb_col]))
        if origin != Origin.ALL:
            mask &= np.asarray(pc.fill_null(pc.equal(table_or_df["origin"], origin), False))
        if label is not None:
            mask &= np.asarray(pc.is_valid(table_or_df[label]))
        return mask
    df = table_or_df
    if origin != Origin.ALL:
        mask &= (df["origin"] == origin).fillna(False).to_numpy(dtype=bool)
    if label is not None:
        mask &= df[label].notna().to_numpy(dtype=bool)
    return mask


def valid_embedding_mask(out: str | os.PathLike, emb_col: str) -> np.ndarray:
    """``(N,)`` bool: rows whose ``emb_col`` is not null (e.g. ``emb_coef`` is null on gt rows).

    When the Parquet statistics say the column has no nulls the (large) column is not read at all; otherwise
    it is streamed batch by batch (:func:`iter_column`).
    """
    path = objects_path(out)
    pf = pq.ParquetFile(path)
    md = pf.metadata
    leaves = [i for i in range(md.num_columns) if md.schema.column(i).path.split(".")[0] == emb_col]
    try:
        no_nulls = bool(leaves) and all(
            md.row_group(r).column(i).statistics is not None
            and md.row_group(r).column(i).statistics.has_null_count
            and md.row_group(r).column(i).statistics.null_count == 0
            for r in range(md.num_row_groups)
            for i in leaves
        )
    except (AttributeError, IndexError):
        no_nulls = False
    if no_nulls:
        return np.ones(md.num_rows, dtype=bool)
    parts = [np.asarray(pc.is_valid(arr)) for _, arr in iter_column(out, emb_col)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)


#: Rows per streamed batch: 65 536 x 256 float32 is 64 MB, whatever the table's length.
SCAN_ROWS = 65_536


def iter_column(out: str | os.PathLike, column: str, batch_rows: int = SCAN_ROWS) -> Iterator[tuple[int, pa.Array]]:
    """``(first row index, chunk)`` over one column of the objects table, streamed from the Parquet file (row
    group by row group, at most ``batch_rows`` rows a chunk), so memory holds about one row group however long
    the table."""
    pf = pq.ParquetFile(objects_path(out))
    lo = 0
    # one row group at a time: iter_batches over the whole file reads ahead and held the full 1.8 GB column of
    # a 1.8M-row table (pyarrow 26); per row group the peak is one row group
    for rg in range(pf.metadata.num_row_groups):
        for batch in pf.iter_batches(batch_size=int(batch_rows), row_groups=[rg], columns=[column]):
            arr = batch.column(0)
            yield lo, arr
            lo += len(arr)


def finite_mask(out: str | os.PathLike, column: str) -> np.ndarray:
    """``(N,)`` bool: :func:`finite_rows` of one column, streamed (one chunk in memory at a time)."""
    parts = [finite_rows(arr) for _, arr in iter_column(out, column)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)


def embedding_width(schema: pa.Schema, column: str) -> int | None:
    """``C`` of a ``fixed_size_list<float>[C]`` column (None for other types)."""
    t = schema.field(column).type
    return int(t.list_size) if pa.types.is_fixed_size_list(t) else None


def nonfinite_line(out: str | os.PathLike, column: str, n_bad: int) -> str:
    """The one line that names a column's NaN/inf rows (stages, project and plot use the same words)."""
    return f"{objects_path(out)}: {column}: {n_bad} row(s) with NaN/inf values left out"


def drop_nonfinite(out: str | os.PathLike, columns: Sequence[str], mask: np.ndarray, skips: list[str],
                   strict: bool = False) -> np.ndarray:
    """``mask`` without the rows whose vector in any of ``columns`` holds NaN/inf; one line per column in
    ``skips``. ``strict``: raise :class:`~yololens.errors.StrictModeError` instead."""
    from yololens.errors import StrictModeError

    mask = mask.copy()
    for c in columns:
        bad = mask & ~finite_mask(out, c)
        if bad.any():
            line = nonfinite_line(out, c, int(bad.sum()))
            if strict:
                raise StrictModeError(f"--strict: {line}")
            skips.append(line)
            mask &= ~bad
    return mask


def read_embeddings(out: str | os.PathLike, emb_col: str, rows: np.ndarray | None = None, *,
                    transform: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """``(len(rows), C)`` float32 embeddings of ``emb_col`` at table row indices ``rows`` (all rows if None), in
    the order of ``rows`` (repeats allowed).

    The column is streamed (:func:`iter_column`): only the selected rows of each chunk are kept, so memory is
    the result plus one chunk. ``transform``: applied to each chunk's ``(n, C)`` block (e.g. a fitted PCA), the
    result is then ``(len(rows), C')``. The selected rows must not be null.
    """
    n_total = pq.read_metadata(objects_path(out)).num_rows
    rows = np.arange(n_total, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64).reshape(-1)
    if len(rows) and (rows.min() < 0 or rows.max() >= n_total):
        raise InputError(f"row index out of range for a table of {n_total} rows")
    order = np.argsort(rows, kind="stable")
    srt = rows[order]
    result: np.ndarray | None = None
    pos = 0
    for lo, arr in iter_column(out, emb_col):
        if pos == len(srt):
            break
        end = int(np.searchsorted(srt, lo + len(arr), side="left"))
        if end == pos:
            continue
        block = embeddings_to_numpy(arr.take(pa.array(srt[pos:end] - lo)))
        if transform is not None:
            block = np.asarray(transform(block), dtype=np.float32)
        if result is None:
            result = np.empty((len(rows), block.shape[1]), dtype=np.float32)
        result[order[pos:end]] = block
        pos = end
    if result is None:
        width = embedding_width(read_schema(out), emb_col) or 0
        result = np.zeros((0, width), dtype=np.float32)
    return result


class LayerEmbeddings(NamedTuple):
    """One embedding column as an array: ``array`` ``(N, C)`` float32 and its row keys ``object_ids`` ``(N,)``.

    Rows whose embedding is null (``emb_coef`` on ground-truth rows) are left out; ``rows`` are their table row
    indices. Unpacks as ``X, ids = res.embeddings("L9")``.
    """

    array: np.ndarray
    object_ids: np.ndarray
    column: str
    rows: np.ndarray

    def __iter__(self):  # unpack as (array, object_ids)
        return iter((self.array, self.object_ids))


def layer_embeddings(out: str | os.PathLike, layer: int | str = 9) -> LayerEmbeddings:
    """The ``(N, C)`` float32 embeddings of ``layer`` (``9``, ``"L9"``, ``"coef"``) under ``out``, with their keys."""
    column = layer_column(layer, read_schema(out), layer_aliases(out))
    rows = np.flatnonzero(valid_embedding_mask(out, column)).astype(np.int64)
    ids = pq.read_table(objects_path(out), columns=["object_id"])["object_id"].take(pa.array(rows))
    return LayerEmbeddings(read_embeddings(out, column, rows), np.asarray(ids.to_pandas(), dtype=object), column, rows)


def manifest(out: str | os.PathLike) -> dict:
    """``OUT/manifest.json`` as a dict ({} when absent; :func:`~yololens.store.manifest.read_manifest`)."""
    from yololens.store.manifest import read_manifest

    return read_manifest(out_dir(out))


def layer_aliases(out: str | os.PathLike) -> dict[str, int | str]:
    """Layer names the run's manifest records besides indices (``sppf`` -> 9, ``p3`` -> 15; lower case); runs
    written before aliases were recorded have none (indices still work)."""
    return aliases_in(manifest(out))


def aliases_in(man: dict) -> dict[str, int | str]:
    """:func:`layer_aliases` of an already read manifest."""
    names: dict[str, int | str] = {}
    for entry in man.get("layers") or []:
        layer = entry.get("layer") if isinstance(entry, dict) else None
        if isinstance(layer, (int, str)):
            names.update({a.lower(): layer for a in entry.get("aliases") or [] if isinstance(a, str)})
    return names


def image_roots(out: str | os.PathLike, images_root: str | os.PathLike | None = None) -> list[Path]:
    """Folders against which the relative ``image`` paths are tried: ``images_root``, the run's source, OUT."""
    roots: list[Path] = []
    if images_root is not None:
        roots.append(Path(images_root))
    man = manifest(out)
    for holder in (man, man.get("params", {}), man.get("parameters", {}), man.get("args", {})):
        if isinstance(holder, dict):
            for key in ("source", "source_root", "images_root", "source_dir"):
                val = holder.get(key)
                if isinstance(val, str) and val:
                    p = Path(val)
                    roots.append(p if p.is_dir() else p.parent)
    roots.append(out_dir(out))
    return roots


def read_objects(out: str | os.PathLike, columns: Sequence[str] | None = None):
    """``OUT/objects.parquet`` (``columns`` of it) as :class:`~yololens.objects.Objects`."""
    from yololens.objects import Objects

    return Objects.from_arrow(pq.read_table(objects_path(out), columns=None if columns is None else list(columns)))
