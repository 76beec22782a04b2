"""One handle on a run folder for reading: :func:`open_run` -> :class:`Run`.

Every analysis entry point (``project``, ``plot``, ``stages``, ``similarity``, ``suspects``, the exports) takes a
run folder, a :class:`Run`, or any result object that has one (``ExtractResult`` and the other results carry
``.out``). :func:`run_folder` is that one coercion; :class:`Run` adds cached, typed reads on top, and is where a
folder that is not a yololens run (or whose manifest is not what yololens writes) is refused with one line.

A run folder holds ``objects.parquet`` (extract) and/or ``manifest.json``; both come from colleagues, so both are
read as untrusted: a manifest that is not a JSON object, or a table that is not Parquet, is one ``InputError``.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from yololens.analysis import table as T
from yololens.errors import InputError
from yololens.store.manifest import MANIFEST, job_of, read_manifest


def run_folder(run) -> Path:
    """The folder of ``run``: a path (the folder or its ``objects.parquet``), a :class:`Run`, or a result object with
    an ``out`` attribute (``ExtractResult``, ``CoefficientsResult``, ...). Anything else is an :class:`InputError`."""
    if isinstance(run, Run):
        return run.path
    if isinstance(run, (str, os.PathLike)):
        return T.out_dir(os.fspath(run))
    out = getattr(run, "out", None)
    if isinstance(out, (str, os.PathLike)):
        return T.out_dir(os.fspath(out))
    raise InputError(f"expected a run folder, a yololens Run or a result with .out, not {type(run).__name__}")


def open_run(run) -> Run:
    """``run`` (a path, a :class:`Run` or a result with ``.out``) opened for reading; a :class:`Run` is returned as is."""
    return run if isinstance(run, Run) else Run(run_folder(run))


class Run(os.PathLike):
    """A run folder opened for reading. Reads are cached; the folder is checked once, here.

    It is ``os.PathLike`` (``Path(run)`` is the folder), so it goes wherever a run path goes.

    Attributes:
        path: the run folder.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = T.out_dir(path)
        if not self.path.is_dir():
            raise InputError(f"{self.path}: no such run folder")
        if not (self.path / T.OBJECTS_FILE).is_file() and not (self.path / MANIFEST).is_file():
            raise InputError(f"{self.path}: not a yololens run folder (no {T.OBJECTS_FILE} and no {MANIFEST})")

    def __fspath__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        rows = f"{self.num_rows:,} objects" if self.has_objects else "no objects table"
        return f"Run({str(self.path)!r}: {self.job or 'unknown job'}, {rows})"

    # -- the manifest -------------------------------------------------------------------------------------
    @cached_property
    def manifest(self) -> dict:
        """``manifest.json`` as a dict (``{}`` when the folder has none). A manifest that is not a JSON object, or
        is not readable, is an :class:`InputError` naming the file (:func:`~yololens.store.manifest.read_manifest`)."""
        return read_manifest(self.path)

    @property
    def job(self) -> str | None:
        """The job that wrote the folder (``extract``, ``coefficients`` ...): the manifest's ``job``, else its older
        ``command`` key; ``None`` without a manifest."""
        return job_of(self.manifest)

    @cached_property
    def layer_aliases(self) -> dict[str, int | str]:
        """Layer names the run knows besides indices (``sppf`` -> 9, ``p3`` -> 15), from the manifest's layers
        (runs written before aliases were recorded have none: indices still work)."""
        return T.aliases_in(self.manifest)

    # -- the objects table --------------------------------------------------------------------------------
    @property
    def has_objects(self) -> bool:
        return (self.path / T.OBJECTS_FILE).is_file()

    @property
    def objects_path(self) -> Path:
        return T.objects_path(self.path)

    @cached_property
    def schema(self) -> pa.Schema:
        return T.read_schema(self.path)

    @cached_property
    def num_rows(self) -> int:
        return pq.read_metadata(self.objects_path).num_rows

    @property
    def embedding_columns(self) -> list[str]:
        """Every ``emb_*`` column in layer order."""
        return T.embedding_columns(self.schema)

    def objects(self, columns: list[str] | None = None) -> pa.Table:
        """The objects table (only ``columns`` when given) as a pyarrow Table."""
        missing = [c for c in columns or [] if c not in self.schema.names]
        if missing:
            raise InputError(f"{self.objects_path}: no column {missing[0]!r}")
        return pq.read_table(self.objects_path, columns=columns)

    def to_pandas(self, columns: list[str] | None = None) -> pd.DataFrame:
        return self.objects(columns).to_pandas()

    def meta(self, columns: list[str] | None = None) -> pd.DataFrame:
        """The non-embedding columns (or ``columns``) with the derived ``size_bin``."""
        return T.read_meta(self.path, columns)

    def column(self, layer: int | str) -> str:
        """The embedding column ``layer`` names: an index (``9``, ``"L9"``), an alias (``"sppf"``, ``"p3"``), either
        with ``_mask`` (mask pooling), ``"coef"``, or a column name. Must exist in the table."""
        return T.layer_column(layer, self.schema, self.layer_aliases)

    def columns(self, layers) -> list[str]:
        """The columns ``layers`` names: one value, a comma list, a list, or ``"all"``."""
        return T.resolve_columns(self.path, layers)

    def embeddings(self, layer: int | str = 9) -> T.LayerEmbeddings:
        """``layer``'s embeddings ``(N, C)`` float32 with their object ids (rows without the layer left out):
        ``X, ids = run.embeddings("sppf")``."""
        return T.layer_embeddings(self.path, layer)

    # -- what analysis wrote --------------------------------------------------------------------------------
    @property
    def projections(self) -> list[Path]:
        """The projection files of this run (``projections/*.parquet``), sorted."""
        folder = self.path / "projections"
        return sorted(p for p in folder.glob("*.parquet") if p.is_file()) if folder.is_dir() else []

    def stages(self) -> pd.DataFrame | None:
        """The last stage table ``stages`` wrote (``stages.csv``), or ``None``."""
        path = self.path / "stages.csv"
        if not path.is_file():
            return None
        try:
            return pd.read_csv(path)
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            raise InputError(f"{path}: not a stage table ({type(exc).__name__})") from None
