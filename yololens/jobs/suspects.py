"""The suspects job (``yololens suspects RUN``): compute the label-error suspects of a run
(:func:`yololens.analysis.suspects_run.compute_suspects`) and write, atomically, into the run folder:

* ``suspects.parquet``: every scored row (``object_id, layer, score, label, suggested, margin, kind, rank``);
* ``suspects.csv``: the top ``top`` class suspects of the primary stage, then the top ``top`` detector suspects,
  with ``image`` and the box (original pixels) for a labelling tool;
* ``suspects_eval.csv`` (with ``inject_noise``): precision@k, recall@k, AP per stage and noise kind, with
  intervals, against the random and detector-confidence baselines.
"""

from __future__ import annotations

import pandas as pd

import pyarrow as pa
import pyarrow.parquet as pq

from yololens.analysis.neighbours import EXACT_MAX, N_NEIGHBOURS
from yololens.analysis.suspect_columns import PRIMARY_KEY, SUSPECTS_FILE
from yololens.analysis.run import open_run
from yololens.analysis.suspects_eval import N_BOOT
from yololens.analysis.suspects_run import DETECTOR_LAYER, SuspectsReport, compute_suspects
from yololens.errors import InputError
from yololens.store.atomic import atomic_path

CSV_FILE = "suspects.csv"
EVAL_FILE = "suspects_eval.csv"
TOP = 100
CSV_META = ["image", "x1", "y1", "x2", "y2", "crop"]


def suspects(run, *, layer="all", k: int = N_NEIGHBOURS, top: int = TOP, inject_noise: float | None = None,
             seed: int = 0, group_by: str = "auto", conf: float = 0.5, exact_max: int = EXACT_MAX,
             n_boot: int = N_BOOT, n_jobs: int = -1, save: bool = True) -> SuspectsReport:
    """Which labels of ``run`` (a path, a :class:`~yololens.analysis.run.Run` or a result with ``.out``) are
    probably wrong, ranked per stage (``layer``: ``all`` or a stage), by ``k`` neighbours outside the own image
    (video); ``inject_noise``: also flip that share of labels in memory and measure how well each stage finds
    them (seeded by ``seed``). ``n_jobs``: threads of the approximate neighbour search above ``exact_max``
    objects (-1: all cores). ``save``: write the files into the run folder (``report.paths`` names them)."""
    if not isinstance(top, int) or top < 1:
        raise InputError(f"--top must be a positive integer, not {top!r}")
    report = compute_suspects(run, layer=layer, k=k, group_by=group_by, inject=inject_noise, seed=seed,
                              exact_max=exact_max, conf=conf, n_boot=n_boot, n_jobs=n_jobs)
    if save:
        write_suspects(report, top)
    return report


def top_rows(report: SuspectsReport, top: int = TOP) -> pd.DataFrame:
    """The CSV's rows: the primary stage's ``top`` class suspects, then the ``top`` detector suspects, joined with
    the image name and box of each object."""
    t = report.table
    rows = pd.concat([t[t["layer"] == report.primary].sort_values("rank").head(top),
                      t[t["layer"] == DETECTOR_LAYER].sort_values("rank").head(top)], ignore_index=True)
    run = open_run(report.out)
    cols = ["object_id", *[c for c in CSV_META if c in run.schema.names]]
    meta = run.objects(cols).to_pandas().drop_duplicates("object_id")
    return rows.merge(meta, on="object_id", how="left")


def write_table_by_layer(table: pd.DataFrame, path, metadata: dict[str, str]) -> None:
    """Write the suspects ``table`` to ``path`` one row group per layer, its categorical text columns as plain
    strings (what readers expect; Parquet dictionary-encodes them on disk anyway). One layer's Arrow copy at a time:
    at 1.8M objects x 4 stages converting the whole table at once would hold it twice."""
    writer = None
    try:
        for _, part in table.groupby("layer", sort=False, observed=True):
            t = pa.Table.from_pandas(part, preserve_index=False)
            t = t.cast(pa.schema([pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type)
                                  for f in t.schema]))
            if writer is None:  # no pandas metadata: it would name the columns categorical
                writer = pq.ParquetWriter(path, t.schema.with_metadata(metadata))
            writer.write_table(t)
        if writer is None:  # no rows: still a table with the columns
            t = pa.Table.from_pandas(table.astype({c: object for c in table.select_dtypes("category")}),
                                     preserve_index=False)
            pq.write_table(t.replace_schema_metadata(metadata), path)
    finally:
        if writer is not None:
            writer.close()


def write_suspects(report: SuspectsReport, top: int = TOP) -> dict:
    """Write the files of ``report`` into its run folder; returns (and sets) ``report.paths``."""
    d = report.out
    paths = {"parquet": d / SUSPECTS_FILE, "csv": d / CSV_FILE}
    with atomic_path(paths["parquet"]) as tmp:
        write_table_by_layer(report.table, tmp, {PRIMARY_KEY: str(report.primary or "")})
    with atomic_path(paths["csv"]) as tmp:
        top_rows(report, top).to_csv(tmp, index=False, float_format="%.4g")
    if report.evaluation is not None:
        paths["eval"] = d / EVAL_FILE
        with atomic_path(paths["eval"]) as tmp:
            report.evaluation.to_csv(tmp, index=False, float_format="%.4g")
    report.paths = paths
    return paths
