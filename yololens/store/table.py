"""A resumable, crash-safe table output (Parquet or CSV).

How it stays safe:

* While a run goes on, every finished chunk of images is written as its own Parquet
  *part* under ``OUT/.parts/<table name>/``, atomically (temp file + rename). A part's
  footer metadata lists the images it covers, including images that produced no rows.
* At the end, the parts (plus the previous final file, if any) are streamed, part by
  part, into the final file, again atomically, and the parts are removed.
* A rerun reads which images are already done from the parts and from the final file,
  and only processes the rest. The final table is the same as an uninterrupted run's:
  rows are ordered by the source order of their images.

Memory stays bounded by one part: nothing holds the whole table.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from yololens.errors import InputError, one_line
from yololens.store.atomic import atomic_path, write_json
from yololens.store.fingerprint import SourceFingerprint

DONE_KEY = b"yololens.done"
FORMATS = ("parquet", "csv")


class ResumableTable:
    """Collects rows for a table keyed by image, durably, across interrupted runs.

    Args:
        path: the final file (``.parquet`` or ``.csv``).
        key_column: the column that names the image a row belongs to (``image`` or
            ``image_name``); used to tell which images are done.
        fmt: ``"parquet"`` or ``"csv"``; defaults to the suffix of ``path``.
    """

    def __init__(self, path: str | os.PathLike, key_column: str, fmt: str | None = None,
                 work_dir: str | os.PathLike | None = None):
        self.path = Path(path)
        self.key_column = key_column
        self.fmt = (fmt or self.path.suffix.lstrip(".")).lower()
        if self.fmt not in FORMATS:
            raise ValueError(f"{self.path}: unknown table format {self.fmt!r}; use one of {FORMATS}")
        # The parts live under ``work_dir`` (the run's --out) even when the final file goes elsewhere.
        self.work_dir = Path(work_dir) if work_dir is not None else self.path.parent
        self.parts_dir = self.work_dir / ".parts" / self.path.name
        self._seq = 0
        #: Corrupt parts found by :meth:`done_keys`, set aside (``.corrupt``) so their windows are redone.
        self.notes: list[tuple[str, str]] = []  # (file, reason); callers report them as skips, action 'redone'

    # -- resume -----------------------------------------------------------------------
    def done_keys(self) -> set[str]:
        """Images already written, by the parts of an interrupted run or by the final file."""
        done: set[str] = set()
        for part in self._parts():
            try:
                done.update(_read_done(part))
            except (pa.ArrowInvalid, OSError, ValueError) as exc:
                # Parts are renamed into place only when complete, so this is damage from outside (a bad
                # disk, a copy cut short): treat it as an unfinished window. Set aside, never deleted.
                part.replace(part.with_name(part.name + ".corrupt"))
                self.notes.append((str(part), f"corrupt part ({one_line(exc, 80)}); set aside as "
                                   f"{part.name}.corrupt, its window is redone, the other parts are used"))
        if self.path.exists():
            try:
                done.update(self._final_done())
            except (pa.ArrowInvalid, OSError, ValueError) as exc:
                parts = f"the {len(self._parts())} finished part(s) in {self.parts_dir} are intact, but this " \
                        "table's rows cannot be recovered" if self._parts() else "its rows cannot be recovered"
                raise InputError(f"{self.path}: cannot read the results table ({one_line(exc, 80)}); {parts}; "
                                 "rerun with --overwrite to redo the run") from None
        return done

    def _final_done(self) -> set[str]:
        if self.fmt == "parquet":
            meta = pq.read_schema(self.path).metadata or {}
            if DONE_KEY in meta:
                return set(json.loads(meta[DONE_KEY]))
            return set(pq.read_table(self.path, columns=[self.key_column]).column(0).to_pylist())
        # A CSV keeps no metadata: images with rows are done; images that gave no rows are
        # simply processed again, which writes nothing new.
        table = pacsv.read_csv(self.path, convert_options=pacsv.ConvertOptions(include_columns=[self.key_column]))
        return {str(v) for v in table.column(0).to_pylist()}

    def _parts(self) -> list[Path]:
        if not self.parts_dir.is_dir():
            return []
        return sorted(p for p in self.parts_dir.glob("part-*.parquet") if not p.name.startswith("."))

    # -- writing ----------------------------------------------------------------------
    def write_part(self, table: pa.Table, keys: Sequence[str], order: int, fixed: bool = False) -> Path:
        """Durably record ``table`` as the rows of images ``keys``.

        ``order`` is the source index of the first image in the part; parts are merged
        in that order. ``keys`` may include images that produced no rows. ``fixed``: name the part
        by ``order`` alone, so a window run again (a retried worker) replaces its part, never adds one.
        """
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        meta = dict(table.schema.metadata or {})
        meta[DONE_KEY] = json.dumps(list(keys)).encode()
        table = table.replace_schema_metadata(meta)
        self._seq += 1
        name = f"part-{order:012d}" if fixed else f"part-{order:012d}-{os.getpid()}-{self._seq:06d}"
        target = self.parts_dir / f"{name}.parquet"
        with atomic_path(target) as tmp:
            pq.write_table(table, tmp)
        return target

    def finalize(self, metadata: dict[str, str] | None = None) -> Path | None:
        """Merge all parts (and the previous final file) into the final file, atomically.

        Returns the final path, or ``None`` when there is nothing at all to write.
        """
        parts = self._parts()
        if not parts and self.path.exists():
            return self.path
        sources: list[pa.Table | Path] = []
        done: list[str] = []
        final_done: set[str] = set()
        if self.path.exists():
            previous = self._read_final()
            sources.append(previous)
            final_done = self._final_done()
            done.extend(sorted(final_done))
        # A run killed after the final file was replaced but before its parts were removed leaves
        # parts whose images the final file already holds: merging them again would duplicate rows.
        fresh: list[pa.Table | Path] = []
        for part in parts:
            keys = _read_done(part)
            new_keys = [k for k in keys if k not in final_done]
            if not new_keys:
                continue
            if len(new_keys) < len(keys):
                table = pq.read_table(part)
                fresh.append(table.filter(pa.compute.is_in(table.column(self.key_column), pa.array(new_keys))))
            else:
                fresh.append(part)
            done.extend(new_keys)
        sources.extend(fresh)
        if not sources:
            return None
        meta = {k.encode(): v.encode() for k, v in (metadata or {}).items()}
        meta[DONE_KEY] = json.dumps(done).encode()
        try:
            schema = _unified_schema(sources).with_metadata(meta)
            self._write_final(sources, schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            # Nothing is lost: the final file is replaced only on success, the parts stay where they are.
            kept = f"the {len(parts)} finished part(s) in {self.parts_dir} are kept" if parts else "nothing was changed"
            raise InputError(f"{self.path}: cannot merge the results ({one_line(exc)}); {kept}; rerun with "
                             "--overwrite to redo them with one consistent schema") from None
        for part in parts:
            part.unlink()
        _remove_empty_dirs(self.parts_dir, stop=self.work_dir)
        return self.path

    def _write_final(self, sources: Sequence[pa.Table | Path], schema: pa.Schema) -> None:
        with atomic_path(self.path) as tmp:
            if self.fmt == "parquet":
                with pq.ParquetWriter(tmp, schema) as writer:
                    for table in _iter_tables(sources):
                        writer.write_table(_conform(table, schema))
            else:
                csv_schema = _csv_schema(schema)
                with pacsv.CSVWriter(tmp, csv_schema) as writer:
                    for table in _iter_tables(sources):
                        writer.write_table(_flatten_lists(_conform(table, schema)).cast(csv_schema))

    def _read_final(self) -> pa.Table:
        if self.fmt == "parquet":
            return pq.read_table(self.path)
        return pacsv.read_csv(self.path)


def read_table(path: str | os.PathLike) -> pa.Table:
    """Read a final table written by :class:`ResumableTable` (Parquet or CSV); anything else (a folder, an empty,
    binary or damaged file) is one :class:`InputError` line."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a table (pass the .parquet or .csv file)")
    if not path.is_file():
        raise InputError(f"{path}: {'not a regular file' if path.exists() else 'not found'}")
    try:
        if path.suffix.lower() == ".csv":
            return pacsv.read_csv(path)
        return pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        kind = "CSV" if path.suffix.lower() == ".csv" else "Parquet"
        raise InputError(f"{path}: not a readable {kind} table ({one_line(exc, 160)})") from None


def _read_done(part: Path) -> list[str]:
    meta = pq.read_schema(part).metadata or {}
    return json.loads(meta.get(DONE_KEY, b"[]"))


def _iter_tables(sources: Iterable[pa.Table | Path]) -> Iterable[pa.Table]:
    for src in sources:
        yield src if isinstance(src, pa.Table) else pq.read_table(src)


def _unified_schema(sources: Sequence[pa.Table | Path]) -> pa.Schema:
    schemas = [s.schema if isinstance(s, pa.Table) else pq.read_schema(s) for s in sources]
    schemas = [s.remove_metadata() for s in schemas]
    return pa.unify_schemas(schemas, promote_options="permissive")


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Give ``table`` exactly ``schema``'s columns, in order, adding nulls where missing."""
    columns = []
    for field in schema:
        if field.name in table.column_names:
            col = table.column(field.name)
            columns.append(col if col.type == field.type else col.cast(field.type))
        else:
            columns.append(pa.nulls(table.num_rows, type=field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def _is_list(t: pa.DataType) -> bool:
    return pa.types.is_fixed_size_list(t) or pa.types.is_list(t) or pa.types.is_large_list(t)


def _csv_schema(schema: pa.Schema) -> pa.Schema:
    """CSV has no list cells: a list column ``emb`` of size n becomes ``emb_0 .. emb_{n-1}``."""
    fields = []
    for field in schema:
        if pa.types.is_fixed_size_list(field.type):
            fields.extend(pa.field(f"{field.name}_{i}", field.type.value_type) for i in range(field.type.list_size))
        elif _is_list(field.type):
            raise ValueError(f"column {field.name!r} has variable-length lists and cannot be written as CSV")
        else:
            fields.append(field)
    return pa.schema(fields)


def _flatten_lists(table: pa.Table) -> pa.Table:
    names, columns = [], []
    for field, col in zip(table.schema, table.columns):
        if pa.types.is_fixed_size_list(field.type):
            n = field.type.list_size
            flat = col.combine_chunks()
            values = flat.flatten()
            for i in range(n):
                names.append(f"{field.name}_{i}")
                columns.append(values.take(pa.array(range(i, len(values), n))) if len(values) else pa.array([], field.type.value_type))
        else:
            names.append(field.name)
            columns.append(col)
    return pa.Table.from_arrays(columns, names=names)


def _remove_empty_dirs(directory: Path, stop: Path) -> None:
    while directory != stop and directory.is_dir():
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent


def guard_settings(config: Path, tables: Sequence[ResumableTable], settings: dict, overwrite: bool,
                   where: Path, hint: str = "--out", source: SourceFingerprint | None = None) -> None:
    """Refuse to resume ``tables`` with rows made under other ``settings`` or from another ``source``;
    ``overwrite`` discards them.

    ``config`` (a JSON file) records the settings of the run that wrote the rows, and
    ``<config>.source.json`` its source fingerprint; both are rewritten for this run. ``where`` and
    ``hint`` name the output in the error message.
    """
    source_record = config.with_name(config.name.removesuffix(".json") + ".source.json")
    if overwrite:
        for t in tables:
            t.path.unlink(missing_ok=True)
            shutil.rmtree(t.parts_dir, ignore_errors=True)
    elif config.exists() and any(t.path.exists() or t.parts_dir.is_dir() for t in tables):
        previous = _read_settings(config)
        changed = sorted(k for k in settings if previous.get(k) != settings[k])
        if changed:
            raise InputError(f"{where}: holds results made with different settings ({', '.join(changed)}); "
                             f"use another {hint}, or --overwrite to discard them")
        old = SourceFingerprint.load(source_record) if source is not None else None
        diff = source.changes_since(old) if old is not None else None
        if diff:
            raise InputError(f"{where}: holds results made from a different source ({diff}); rerun with the "
                             f"same source to resume, use another {hint}, or --overwrite to discard them")
    write_json(config, settings)
    if source is not None:
        source.save(source_record)


def _read_settings(config: Path) -> dict:
    try:
        previous = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{config}: unreadable record of the previous run's settings ({one_line(exc)}); "
                         "rerun with --overwrite to start over") from None
    if not isinstance(previous, dict):
        raise InputError(f"{config}: unreadable record of the previous run's settings (not a JSON object); "
                         "rerun with --overwrite to start over")
    return previous
