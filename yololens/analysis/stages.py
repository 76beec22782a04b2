"""The stage report: which extracted stage (embedding column) separates the classes best?

For every ``emb_*`` column, in the original embedding space (not in 2-D), on a capped class-stratified sample:
k-NN accuracy (cosine, k=10, stratified 5-fold), linear-probe accuracy (standardised logistic regression,
stratified 5-fold), cosine silhouette and Davies-Bouldin, each with a bootstrap 95% CI (see
:mod:`yololens.analysis.metrics` for what the intervals cover), plus the trustworthiness of the 2-D projections.

Writes ``OUT/stages.csv``, ``OUT/stages.png`` (metric vs stage with CI error bars) and ``OUT/stages.md``.
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
from yololens.analysis.projection import Projector, find_projections, load_projection
from yololens.errors import InputError
from yololens.store.atomic import atomic_path, save_figure, write_text

CI_NOTE = (
    "95% CIs: k-NN and linear-probe accuracy - percentile bootstrap over objects of the out-of-fold (CV) "
    "predictions, i.e. test-set sampling only (refitting variation is not included; fold std is in stages.csv); "
    "silhouette - bootstrap over objects of per-object silhouette values; Davies-Bouldin - class-stratified "
    "bootstrap over objects, recomputed per resample (biased under resampling: when classes overlap the interval "
    "can sit beside the point value). All on one fixed sample of the table."
)

METRICS = (
    ("knn_acc", "k-NN accuracy (cosine, k=10)", True),
    ("probe_acc", "linear-probe accuracy", True),
    ("silhouette", "silhouette (cosine)", True),
    ("davies_bouldin", "Davies-Bouldin (lower is better)", False),
)


@dataclass
class StageReport:
    """Result of :func:`stages`.

    table: one row per stage (``stage``, ``column``, ``n``, ``n_classes``, ``chance``, and for each metric
    ``<m>``, ``<m>_lo``, ``<m>_hi`` (+ ``<m>_fold_std`` for accuracies), ``trust_<method>``).
    best: the recommended stage label (``L15``) or None; recommendation: the paragraph (also in stages.md);
    dropped_classes: ``{class: count}`` dropped for having too few objects; paths: files written.
    """

    table: pd.DataFrame
    best: str | None
    recommendation: str
    dropped_classes: dict = field(default_factory=dict)
    kept_classes: dict = field(default_factory=dict)
    message: str | None = None
    paths: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return self.recommendation

    def __repr__(self) -> str:
        return reprs.text("StageReport", f"{len(self.table)} stage(s), best: {self.best}",
                          {"recommendation": self.recommendation, **{k: str(v) for k, v in self.paths.items()}})

    def _repr_html_(self) -> str:  # the stage table and the chart inline
        cols = [c for c in ("stage", "n", "n_classes", *(m for m, _, _ in METRICS)) if c in self.table.columns]
        return reprs.block(f"Stage report (best: {self.best})", reprs.table_html(self.table.to_dict("records"), cols),
                           reprs.img_tag(self.paths.get("chart")), self.recommendation)

    def _repr_png_(self) -> bytes | None:
        return reprs.png_bytes(self.paths.get("chart"))


def _labels_frame(out, label: str, origin: str) -> pd.DataFrame:
    schema = T.read_schema(out)
    if label not in schema.names:
        cand = [n for n in schema.names if not n.startswith(T.EMB_PREFIX)]
        raise InputError(f"label column {label!r} not in the objects table (columns: {', '.join(cand)})")
    cols = list(dict.fromkeys(["object_id", label] + (["origin"] if "origin" in schema.names else [])))
    return pq.read_table(T.objects_path(out), columns=cols).to_pandas()


def stages(
    out: str | os.PathLike,
    *,
    label: str = "class_name",
    layers: list[int | str] | None = None,
    origin: str = "all",
    sample: int | None = 5000,
    n_folds: int = 5,
    k: int = 10,
    min_class_count: int | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    trust_sample: int = 2000,
    trust_method: str | None = None,
    save: bool = True,
    chart_format: str = "png",
) -> StageReport:
    """Compute the stage report for every embedding column of ``OUT`` (or ``layers``).

    ``label``: the class column; ``origin``: ``all``/``gt``/``pred``; ``sample``: stratified cap on objects per
    stage (``None``: all); classes with fewer than ``max(n_folds, min_class_count)`` objects are dropped and
    reported. ``trust_sample``: cap for trustworthiness of the saved projections (``OUT/projections``);
    ``trust_method``: also project that capped sample with this method (tsne/umap/pca) and score it.
    """
    t0 = time.perf_counter()
    schema = T.read_schema(out)
    if layers:
        columns = [T.layer_column(layer, schema) for layer in layers]
    else:
        columns = T.embedding_columns(schema)
    if not columns:
        raise InputError("the objects table has no embedding (emb_*) columns")
    if n_folds < 2:
        raise InputError("n_folds must be at least 2")
    threshold = max(int(n_folds), int(min_class_count or 0))
    if label == "size_bin":
        meta = T.read_meta(out, ["object_id", "origin", "box_area"])
    else:
        meta = _labels_frame(out, label, origin)
    base = T.row_mask(meta, origin=origin, label=label) if "origin" in meta else meta[label].notna().to_numpy()
    if origin != "all" and "origin" not in meta:
        raise InputError("--origin needs an origin column in the objects table")
    labels_all = meta[label].astype(str).to_numpy(dtype=object)
    oid_to_row = None

    rows_out: list[dict] = []
    dropped: dict[str, int] = {}
    kept: dict[str, int] = {}
    messages: list[str] = []
    for col in columns:
        col_arr = pq.read_table(T.objects_path(out), columns=[col])[col]
        valid = base & np.asarray(col_arr.is_valid())
        rows = np.flatnonzero(valid)
        classes, counts = np.unique(labels_all[rows], return_counts=True)
        small = {str(c): int(n) for c, n in zip(classes, counts) if n < threshold}
        for c, n in small.items():
            dropped[c] = max(dropped.get(c, 0), n)
        keep_classes = [str(c) for c, n in zip(classes, counts) if n >= threshold]
        rows = rows[np.isin(labels_all[rows], keep_classes)]
        rec: dict = {"stage": T.stage_label(col), "column": col, "n_total": int(valid.sum())}
        if len(keep_classes) < 2:
            messages.append(
                f"{T.stage_label(col)}: fewer than 2 classes of {label!r} have at least {threshold} objects "
                f"({len(keep_classes)} left{': ' + ', '.join(keep_classes) if keep_classes else ''}); "
                "separability metrics need at least 2 classes"
            )
            rec.update(n=int(len(rows)), n_classes=len(keep_classes), dims=_dims(col_arr))
            rows_out.append(rec)
            continue
        sel = T.stratified_sample(labels_all[rows], sample, seed=seed, min_per_class=threshold)
        rows = rows[sel]
        y_names = labels_all[rows]
        cls, y = np.unique(y_names, return_inverse=True)
        for c, n in zip(*np.unique(y_names, return_counts=True)):
            kept[str(c)] = max(kept.get(str(c), 0), int(n))
        X = T.embeddings_to_numpy(col_arr.take(pa.array(rows)))
        rec.update(n=int(len(rows)), n_classes=int(len(cls)), dims=int(X.shape[1]), chance=M.chance_accuracy(y))
        ests = {
            "knn_acc": M.knn_accuracy(X, y, k=k, n_folds=n_folds, seed=seed, n_boot=n_boot),
            "probe_acc": M.probe_accuracy(X, y, n_folds=n_folds, seed=seed, n_boot=n_boot),
            "silhouette": M.silhouette(X, y, n_boot=n_boot, seed=seed),
            "davies_bouldin": M.davies_bouldin(X, y, n_boot=min(n_boot, 200), seed=seed),
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
            ok_valid = np.asarray(col_arr.take(pa.array(trows)).is_valid())
            if ok_valid.sum() < 10:
                continue
            Xt = T.embeddings_to_numpy(col_arr.take(pa.array(trows[ok_valid])))
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
    )
    message = "; ".join(messages) or None
    best, text = recommend(df, params, dropped, message)
    report = StageReport(df, best, text, dropped, kept, message, {}, params)
    report.params["seconds"] = round(time.perf_counter() - t0, 2)
    if save:
        write_report(report, out, chart_format=chart_format)
    return report


def _dims(col_arr) -> int | None:
    t = col_arr.type
    return int(t.list_size) if pa.types.is_fixed_size_list(t) else None


def recommend(df: pd.DataFrame, params: dict, dropped: dict, message: str | None) -> tuple[str | None, str]:
    """Pick the stage with the highest k-NN accuracy and write one paragraph saying how sure that is."""
    parts: list[str] = []
    scored = df[np.isfinite(df["knn_acc"].astype(float))] if len(df) else df
    if message and len(scored) == 0:
        text = f"No recommendation: {message}."
        if dropped:
            text += " Dropped classes (objects): " + _fmt_counts(dropped) + "."
        return None, text
    if len(scored) == 0:
        return None, "No recommendation: no stage could be scored."
    order = scored.sort_values("knn_acc", ascending=False)
    b = order.iloc[0]
    best = str(b["stage"])
    parts.append(
        f"Best stage: {best} ({b['column']}), k-NN accuracy {b['knn_acc']:.3f} (95% CI {b['knn_acc_lo']:.3f}-"
        f"{b['knn_acc_hi']:.3f}), linear probe {b['probe_acc']:.3f} ({b['probe_acc_lo']:.3f}-{b['probe_acc_hi']:.3f}), "
        f"on {int(b['n'])} objects of {int(b['n_classes'])} classes of {params['label']!r} "
        f"(origin {params['origin']}; chance, always guessing the commonest class, {b['chance']:.3f})."
    )
    if len(order) == 1:
        parts.append("Only one stage was scored, so there is nothing to compare it with.")
    else:
        overl = [r for _, r in order.iloc[1:].iterrows() if r["knn_acc_hi"] >= b["knn_acc_lo"]]
        runner = order.iloc[1]
        if overl:
            names = ", ".join(f"{r['stage']} ({r['knn_acc']:.3f}, {r['knn_acc_lo']:.3f}-{r['knn_acc_hi']:.3f})" for r in overl)
            parts.append(
                f"Not a clear winner: its CI overlaps with {names}, so the data do not separate "
                f"{'these stages' if len(overl) > 1 else 'the two'}; any of them is a reasonable choice."
            )
        else:
            parts.append(
                f"It is clearly ahead: its CI does not overlap any other stage's (runner-up {runner['stage']} "
                f"{runner['knn_acc']:.3f}, {runner['knn_acc_lo']:.3f}-{runner['knn_acc_hi']:.3f})."
            )
        pb = scored.sort_values("probe_acc", ascending=False).iloc[0]
        sb = scored.sort_values("silhouette", ascending=False).iloc[0]
        agree = [n for n, s in (("linear probe", pb["stage"]), ("silhouette", sb["stage"])) if s == best]
        disagree = [f"{n} prefers {s}" for n, s in (("linear probe", pb["stage"]), ("silhouette", sb["stage"])) if s != best]
        if agree and not disagree:
            parts.append("The linear probe and the silhouette agree.")
        elif disagree:
            parts.append("Other metrics: " + "; ".join(disagree) + (f" (the {agree[0]} agrees)" if agree else "") + ".")
    if scored["n"].nunique() > 1:
        parts.append(
            "Stages were scored on different objects (an embedding can be missing on some rows, e.g. emb_coef on gt "
            "rows): " + ", ".join(f"{r['stage']} n={int(r['n'])}" for _, r in scored.iterrows()) + "."
        )
    if b["knn_acc_lo"] <= b["chance"] + 1e-9:
        parts.append("Caution: even the best stage is not clearly above chance.")
    if dropped:
        parts.append(f"Dropped classes with fewer than {params['min_class_count']} objects: {_fmt_counts(dropped)}.")
    if message:
        parts.append(f"Note: {message}.")
    parts.append(CI_NOTE)
    return best, " ".join(parts)


def _fmt_counts(d: dict) -> str:
    return ", ".join(f"{k} ({v})" for k, v in sorted(d.items(), key=lambda kv: (-kv[1], kv[0])))


def stage_chart(df: pd.DataFrame, params: dict):
    """Matplotlib figure: one panel per metric, metric vs stage with 95% CI error bars."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    panels = [(m, t, hb) for m, t, hb in METRICS]
    trust_cols = [c for c in df.columns if c.startswith("trust_")]
    if trust_cols:
        panels.append(("trust", "trustworthiness of 2-D projections", True))
    ncols = 2
    nrows = int(np.ceil(len(panels) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(11, 3.6 * nrows), squeeze=False)
    x = np.arange(len(df))
    stages_ = df["stage"].astype(str).tolist()
    for ax, (m, title, higher_better) in zip(axes.ravel(), panels):
        if m == "trust":
            for j, c in enumerate(trust_cols):
                ax.plot(x, df[c].astype(float), marker="o", label=c.removeprefix("trust_"))
            ax.legend(fontsize=8)
        else:
            v = df[m].astype(float).to_numpy()
            lo = df[f"{m}_lo"].astype(float).to_numpy()
            hi = df[f"{m}_hi"].astype(float).to_numpy()
            err = np.vstack([np.clip(v - lo, 0, None), np.clip(hi - v, 0, None)])
            ax.errorbar(x, v, yerr=err, marker="o", capsize=4, lw=1.5, color="C0")
            if m.endswith("_acc") and "chance" in df:
                ax.plot(x, df["chance"].astype(float), ls="--", color="grey", lw=1, label="chance (commonest class)")
                ax.legend(fontsize=8, loc="best")
            if np.isfinite(v).any():
                best = int(np.nanargmax(v) if higher_better else np.nanargmin(v))
                ax.plot([x[best]], [v[best]], marker="*", ms=16, color="C3", zorder=5)
            if m.endswith("_acc"):
                ax.set_ylim(-0.02, 1.05)
        ax.set_title(title, fontsize=11)
        ax.set_xticks(x, stages_)
        ax.set_xlabel("stage")
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(panels) :]:
        ax.set_visible(False)
    n = int(df["n"].max()) if "n" in df and len(df) else 0
    fig.suptitle(
        f"Stage report - label {params['label']!r}, origin {params['origin']}, n<={n} objects per stage, "
        f"{params['n_folds']}-fold CV, 95% bootstrap CIs (star = best)",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return fig


def write_report(report: StageReport, out: str | os.PathLike, chart_format: str = "png") -> dict:
    """Write ``stages.csv``, ``stages.<png|svg>`` and ``stages.md`` into ``OUT`` (atomically)."""
    import matplotlib.pyplot as plt

    d = T.out_dir(out)
    csv_path = d / "stages.csv"
    with atomic_path(csv_path) as tmp:
        report.table.to_csv(tmp, index=False, float_format="%.6g")
    chart_path = d / f"stages.{chart_format}"
    fig = stage_chart(report.table, report.params)
    save_figure(fig, chart_path, dpi=120)
    plt.close(fig)
    md_path = d / "stages.md"
    cols = ["stage", "n", "n_classes", "knn_acc", "probe_acc", "silhouette", "davies_bouldin"]
    lines = ["# Stage report", "", report.recommendation, "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in report.table.iterrows():
        cells = []
        for c in cols:
            v = r.get(c)
            if c in ("knn_acc", "probe_acc", "silhouette", "davies_bouldin"):
                cells.append("n/a" if pd.isna(v) else f"{v:.3f} [{r[c + '_lo']:.3f}, {r[c + '_hi']:.3f}]")
            else:
                cells.append("" if pd.isna(v) else str(int(v)) if c != "stage" else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"![stage metrics]({chart_path.name})", ""]
    write_text(md_path, "\n".join(lines))
    report.paths = {"csv": csv_path, "chart": chart_path, "md": md_path}
    return report.paths
