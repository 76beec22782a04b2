"""The stage report: which extracted stage (embedding column) separates the classes best?

For every ``emb_*`` column, in the original embedding space (not in 2-D), on a capped class-stratified sample:
k-NN accuracy (cosine, k=10, 5-fold), linear-probe accuracy (standardised logistic regression, 5-fold), cosine
silhouette and Davies-Bouldin, each with a bootstrap 95% CI (see :mod:`yololens.analysis.metrics` for what the
intervals cover), plus the trustworthiness of the 2-D projections.

Folds are grouped (:mod:`yololens.analysis.grouping`): by ``video`` when the table has one, else by ``image``,
so copies of one object never sit on both sides of a split; the bootstrap resamples groups. One vocabulary is
scored: the ground-truth classes when the table has ground truth (``origin`` ``auto``).

Writes ``OUT/stages.csv``, ``OUT/stages.png`` (:mod:`yololens.figures.stage_chart`) and ``OUT/stages.md``
(:mod:`yololens.analysis.stage_writer`); the paragraph comes from :mod:`yololens.analysis.stage_text`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from yololens import reprs
from yololens.analysis import metrics as M
from yololens.analysis import table as T
from yololens.analysis.grouping import Grouping, group_codes, resolve_grouping, resolve_origin
from yololens.analysis.projection import Projector, find_projections, load_projection
from yololens.analysis.run import run_folder
from yololens.analysis.stage_text import CI_NOTE, METRICS, recommend
from yololens.analysis.verdict import Verdict, enough_classes, not_enough_line, stage_roles
from yololens.errors import InputError, StrictModeError
from yololens.options import check_options
from yololens.types import Origin

__all__ = ["CI_NOTE", "METRICS", "StageReport", "Verdict", "compute_stages", "recommend"]


@dataclass
class StageReport:
    """Result of :func:`stages`.

    table: one row per stage (``stage``, ``role`` (``P3 neck, stride 8``), ``column``, ``n``, ``n_classes``,
    ``chance``, and for each metric ``<m>``, ``<m>_lo``, ``<m>_hi`` (+ ``<m>_fold_std`` for accuracies),
    ``trust_<method>``). verdict: the one-sentence answer (:class:`~yololens.analysis.verdict.Verdict`);
    details: the paragraph under it; insufficient: the one line said instead when fewer than 2 classes have enough
    objects (then there is no verdict and no chart); dropped_classes: ``{class: count}`` dropped for having too
    few objects; paths: files written; skips: one line per embedding column with NaN/inf rows (left out).
    """

    table: pd.DataFrame
    verdict: Verdict
    details: str
    dropped_classes: dict = field(default_factory=dict)
    kept_classes: dict = field(default_factory=dict)
    message: str | None = None
    paths: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    skips: list[str] = field(default_factory=list)
    insufficient: str | None = None

    @property
    def best(self) -> str | None:
        """The stage the verdict names (``L15``), or None."""
        return None if self.insufficient else self.verdict.best

    @property
    def recommendation(self) -> str:
        """The verdict sentence, then the details (what ``stages.md`` and the CLI print)."""
        return "\n\n".join(t for t in (self.verdict.text, self.details) if t)

    def __str__(self) -> str:
        return self.recommendation

    def __repr__(self) -> str:
        return reprs.text("StageReport", self.verdict.text,
                          {"stages": str(len(self.table)), "best": str(self.best), "details": self.details,
                           **{k: str(v) for k, v in self.paths.items()}})

    def _repr_html_(self) -> str:  # the verdict, the stage table (each metric with its 95% interval), the chart
        metrics = [m for m, _, _ in METRICS if m in self.table.columns]
        cols = [c for c in ("stage", "role", "n", "n_classes") if c in self.table.columns] + metrics

        def cell(r: dict, m: str) -> str:
            v, lo, hi = r.get(m), r.get(f"{m}_lo"), r.get(f"{m}_hi")
            if v is None or not np.isfinite(v):
                return ""
            ok = lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi)
            return f"{v:.3f} [{lo:.3f}, {hi:.3f}]" if ok else f"{v:.3f}"

        rows = [{**{c: r.get(c) for c in cols}, **{m: cell(r, m) for m in metrics}}
                for r in self.table.to_dict("records")]
        caption, table = ("", None) if self.insufficient else ("each metric: value [95% interval]",
                                                                reprs.table_html(rows, cols))
        return reprs.block(self.verdict.text, caption, table, reprs.img_tag(self.paths.get("chart")), self.details)

    def _repr_png_(self) -> bytes | None:
        return reprs.png_bytes(self.paths.get("chart"))


def _meta_frame(out, label: str, extra: list[str]) -> pd.DataFrame:
    """``object_id``, the label column, ``origin`` and the ``extra`` columns the table has."""
    schema = T.read_schema(out)
    if label == "size_bin":
        return T.read_meta(out, ["object_id", "origin", "box_area", *extra])
    if label not in schema.names:
        cand = [n for n in schema.names if not n.startswith(T.EMB_PREFIX)]
        raise InputError(f"label column {label!r} not in the objects table (columns: {', '.join(cand)})")
    cols = [c for c in dict.fromkeys(["object_id", label, "origin", *extra]) if c in schema.names]
    return pq.read_table(T.objects_path(out), columns=cols).to_pandas()


def _grouping(out, meta: pd.DataFrame, group_by: str | None) -> Grouping:
    present = {c: bool(meta[c].notna().any()) for c in meta.columns}
    return resolve_grouping(group_by, list(T.read_schema(out).names), present)


def compute_stages(
    out: str | os.PathLike,
    *,
    label: str = "class_name",
    layers: list[int | str] | None = None,
    origin: str = "auto",
    group_by: str = "auto",
    sample: int | None = 5000,
    n_folds: int = 5,
    k: int = 10,
    min_class_count: int | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    trust_sample: int = 2000,
    trust_method: str | None = None,
    strict: bool = False,
) -> StageReport:
    """Compute the stage report for every embedding column of ``OUT`` (or ``layers``); writes nothing
    (:func:`yololens.jobs.stages.stages` computes and writes ``stages.csv``/chart/``stages.md``).

    ``label``: the class column; ``origin``: ``auto`` (``gt`` when the table has ground-truth rows, else
    ``all``), ``all``, ``gt`` or ``pred``; ``group_by``: ``auto`` (``video``, else ``image``), ``none`` or a
    column: objects sharing a value never straddle a fold and the bootstrap resamples those groups.
    ``sample``: stratified cap on objects per stage (``None``: all); classes with fewer than
    ``max(n_folds, min_class_count)`` objects are dropped and reported. Rows whose embedding holds NaN/inf are
    left out with a line in ``skips`` (``strict``: refused with a :class:`StrictModeError`).
    ``trust_sample``: cap for trustworthiness of the saved projections (``OUT/projections``);
    ``trust_method``: also project that capped sample with this method (tsne/umap/pca) and score it.
    """
    out = run_folder(out)
    check_options(sample=sample, k=k, n_folds=n_folds, bootstrap=n_boot, seed=seed, trust_sample=trust_sample)
    t0 = time.perf_counter()
    schema = T.read_schema(out)
    if layers:
        aliases = T.layer_aliases(out)
        columns = [T.layer_column(layer, schema, aliases) for layer in layers]
    else:
        columns = T.embedding_columns(schema)
    if not columns:
        raise InputError("the objects table has no embedding (emb_*) columns")
    if n_folds < 2:
        raise InputError("n_folds must be at least 2")
    threshold = max(int(n_folds), int(min_class_count or 0))
    wanted_group = group_by if group_by not in ("auto", "none", None) else None
    meta = _meta_frame(out, label, [c for c in ("video", "image", wanted_group) if c])
    origin, vocabulary, vocab_warning = resolve_origin(origin, meta["origin"] if "origin" in meta else None)
    if origin is not Origin.ALL and "origin" not in meta:
        raise InputError("--origin needs an origin column in the objects table")
    grouping = _grouping(out, meta, group_by)
    base = T.row_mask(meta, origin=origin, label=label) if "origin" in meta else meta[label].notna().to_numpy()
    labels_all = meta[label].astype(str).to_numpy(dtype=object)
    groups_all = group_codes(meta[grouping.column]) if grouping.column else None
    oid_to_row = None

    rows_out: list[dict] = []
    dropped: dict[str, int] = {}
    kept: dict[str, int] = {}
    messages: list[str] = []
    skips: list[str] = []
    folds_used: set[int] = set()
    class_counts: dict[str, int] = {}  # per class, the most objects any stage has (for the not-enough line)
    enough = False
    roles = stage_roles(out)
    for col in columns:
        # sample first, read vectors after: the masks stream the column chunk by chunk, and only the sampled
        # rows' vectors are ever held (bounded memory at millions of rows)
        present = T.valid_embedding_mask(out, col)
        valid = base & present
        bad = valid & ~T.finite_mask(out, col)
        if bad.any():
            line = T.nonfinite_line(out, col, int(bad.sum()))
            if strict:
                raise StrictModeError(f"--strict: {line}")
            skips.append(line)
            valid &= ~bad
        rows = np.flatnonzero(valid)
        classes, counts = np.unique(labels_all[rows], return_counts=True)
        for c, n in zip(classes, counts):
            class_counts[str(c)] = max(class_counts.get(str(c), 0), int(n))
        enough |= enough_classes(dict(zip(classes, counts)), threshold)
        small = {str(c): int(n) for c, n in zip(classes, counts) if n < threshold}
        for c, n in small.items():
            dropped[c] = max(dropped.get(c, 0), n)
        keep_classes = [str(c) for c, n in zip(classes, counts) if n >= threshold]
        rows = rows[np.isin(labels_all[rows], keep_classes)]
        rec: dict = {"stage": T.stage_label(col), "role": roles.get(col, ""), "column": col, "n_total": int(valid.sum())}
        if len(keep_classes) < 2:
            messages.append(
                f"{T.stage_label(col)}: fewer than 2 classes of {label!r} have at least {threshold} objects "
                f"({len(keep_classes)} left{': ' + ', '.join(keep_classes) if keep_classes else ''}); "
                "separability metrics need at least 2 classes"
            )
            rec.update(n=int(len(rows)), n_classes=len(keep_classes), dims=T.embedding_width(schema, col))
            rows_out.append(rec)
            continue
        sel = T.stratified_sample(labels_all[rows], sample, seed=seed, min_per_class=threshold)
        rows = rows[sel]
        y_names = labels_all[rows]
        cls, y = np.unique(y_names, return_inverse=True)
        for c, n in zip(*np.unique(y_names, return_counts=True)):
            kept[str(c)] = max(kept.get(str(c), 0), int(n))
        X = T.read_embeddings(out, col, rows)
        groups, folds = _stage_groups(groups_all, rows, n_folds, grouping, col, messages)
        folds_used.add(folds)
        rec.update(n=int(len(rows)), n_classes=int(len(cls)), dims=int(X.shape[1]), chance=M.chance_accuracy(y),
                   n_groups=None if groups is None else int(len(np.unique(groups))), n_folds=folds)
        ests = {
            "knn_acc": M.knn_accuracy(X, y, k=k, n_folds=folds, seed=seed, n_boot=n_boot, groups=groups),
            "probe_acc": M.probe_accuracy(X, y, n_folds=folds, seed=seed, n_boot=n_boot, groups=groups),
            "silhouette": M.silhouette(X, y, n_boot=n_boot, seed=seed, groups=groups),
            "davies_bouldin": M.davies_bouldin(X, y, n_boot=min(n_boot, 200), seed=seed, groups=groups),
        }
        for name, e in ests.items():
            rec[name], rec[f"{name}_lo"], rec[f"{name}_hi"] = e.value, e.lo, e.hi
            if name.endswith("_acc"):
                rec[f"{name}_fold_std"] = e.std
        # trustworthiness of the saved 2-D projections of this stage
        for path in find_projections(out, col):
            try:
                proj = load_projection(path)
            except (InputError, OSError, ValueError, pa.ArrowException):
                continue
            if oid_to_row is None:
                oid_to_row = pd.Series(np.arange(len(meta)), index=meta["object_id"].to_numpy())
            ids = proj.object_ids
            rng = np.random.default_rng(seed)
            pick = np.sort(rng.choice(len(ids), size=min(trust_sample, len(ids)), replace=False))
            trows = oid_to_row.reindex(ids[pick]).to_numpy()
            ok = ~pd.isna(trows)
            trows = trows[ok].astype(np.int64)
            ok_valid = present[trows] & ~bad[trows]
            if ok_valid.sum() < 10:
                continue
            Xt = T.read_embeddings(out, col, trows[ok_valid])
            Yt = proj.coords[pick][ok][ok_valid]
            key = f"trust_{proj.method}" + ("" if proj.params.get("origin", "all") == "all" else f"_{proj.params['origin']}")
            rec[key] = M.trustworthiness(Xt, Yt, n_neighbors=k, sample=None,
                                         normalize=bool(proj.params.get("normalize", False)))
        if trust_method and f"trust_{trust_method}" not in rec:
            idx = T.stratified_sample(y, trust_sample, seed=seed)
            Yt = Projector(method=trust_method, seed=seed).fit_transform(X[idx])
            rec[f"trust_{trust_method}"] = M.trustworthiness(X[idx], Yt, n_neighbors=k, sample=None)
        rows_out.append(rec)

    df = pd.DataFrame(rows_out)
    for name, _, _ in METRICS:
        for suffix in ("", "_lo", "_hi"):
            if name + suffix not in df:
                df[name + suffix] = np.nan
    params = dict(
        label=label, origin=origin, sample=sample, n_folds=n_folds, k=k, min_class_count=threshold,
        n_boot=n_boot, seed=seed, trust_sample=trust_sample, trust_method=trust_method,
        group_by=grouping.requested, group_column=grouping.column, grouping=grouping.describe(),
        grouping_warning=grouping.warning, vocabulary=vocabulary, vocabulary_warning=vocab_warning,
        n_folds_used=folds_used.pop() if len(folds_used) == 1 else None,
        class_map=T.manifest(out).get("class_map"),
    )
    message = "; ".join(messages) or None
    verdict, details = recommend(df, params, dropped, message)
    insufficient = None if enough else not_enough_line(class_counts, threshold)
    if insufficient:
        verdict = Verdict(insufficient)
    report = StageReport(df, verdict, details, dropped, kept, message, {}, params, skips, insufficient)
    report.params["seconds"] = round(time.perf_counter() - t0, 2)
    return report


def _stage_groups(groups_all: np.ndarray | None, rows: np.ndarray, n_folds: int, grouping: Grouping, col: str,
                  messages: list[str]) -> tuple[np.ndarray | None, int]:
    """The sampled rows' group codes and the number of folds they can fill (fewer groups -> fewer folds)."""
    if groups_all is None:
        return None, n_folds
    groups = groups_all[rows]
    n_groups = len(np.unique(groups))
    if n_groups >= n_folds:
        return groups, n_folds
    if n_groups >= 2:
        messages.append(f"{T.stage_label(col)}: only {n_groups} {grouping.column} groups, so {n_groups} grouped "
                        f"folds instead of {n_folds}")
        return groups, n_groups
    messages.append(f"{T.stage_label(col)}: all objects are in one {grouping.column}, so folds could not be "
                    "grouped (scores may be inflated by copies of one object)")
    return None, n_folds
