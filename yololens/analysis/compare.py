"""What changed between two checkpoints? Two runs of two models on the same labelled source (``--boxes both``).

* Transitions: every gt object (``image``, ``gt_id``) with its status in each run (``TP``/``FN`` from that run's
  own matching against the same labels, through its own class map, so two models with different class lists
  compare fine; ``absent`` when a run does not hold the object), counted per label class; plus each run's false
  positives per (its own) class. The gt counts add up to the number of gt objects.
* Stage metrics on the same objects: for each same-role layer pair (backbone end, P3, P4, P5, from the manifests'
  aliases), k-NN and linear-probe accuracy of the label class for both models with the same grouped folds
  (by video, else image), and a paired bootstrap 95% interval of the difference B - A (whole groups resampled).
* The cross-model linear CKA of each same-role pair (:mod:`yololens.analysis.similarity`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from yololens import reprs
from yololens.analysis import metrics as M
from yololens.analysis import table as T
from yololens.analysis.grouping import group_codes, resolve_grouping
from yololens.analysis.run import Run, open_run
from yololens.analysis.similarity import align, check_same_input, compute_similarity
from yololens.analysis.verdict import enough_classes, not_enough_line, role_columns, stage_roles, stage_title
from yololens.errors import InputError

ABSENT = "absent"
#: The accuracy metrics compared (per-object correctness, so the bootstrap can pair the two models).
PAIRED_METRICS = (("knn_acc", "k-NN"), ("probe_acc", "linear probe"))


@dataclass
class CompareResult:
    """Result of :func:`compare_runs`.

    objects: one row per gt object (``image``, ``gt_id``, ``class_name``, ``status_a``, ``status_b``, ``row_a``,
    ``row_b``); transitions: the long table written to ``transitions.csv`` (``kind`` gt: ``class_name, from,
    to, count``; ``kind`` fp: ``run, class_name, count``); stages: per same-role pair, both models' metrics with
    their intervals and the paired difference; cka: ``{role: CKA}``; metrics_note: why the stage metrics are
    missing (too few objects), else None.
    """

    run_a: Path
    run_b: Path
    objects: pd.DataFrame
    transitions: pd.DataFrame
    stages: pd.DataFrame
    cka: dict = field(default_factory=dict)
    metrics_note: str | None = None
    notes: list[str] = field(default_factory=list)
    paths: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)

    @property
    def name_a(self) -> str:
        return self.run_a.name

    @property
    def name_b(self) -> str:
        return self.run_b.name if self.run_b.name != self.run_a.name else str(self.run_b)

    def moved(self, src: str, dst: str) -> int:
        g = self.transitions[self.transitions["kind"] == "gt"]
        return int(g.loc[(g["from"] == src) & (g["to"] == dst), "count"].sum())

    @property
    def headline(self) -> str:
        """The answer first: how many gt objects each run finds, the moves, and the clearest stage difference."""
        n = len(self.objects)
        tp_a, tp_b = int((self.objects["status_a"] == "TP").sum()), int((self.objects["status_b"] == "TP").sum())
        line = (f"{self.name_b} finds {tp_b} of {n} gt objects, {self.name_a} {tp_a} ({tp_b - tp_a:+d}): "
                f"FN->TP {self.moved('FN', 'TP')}, TP->FN {self.moved('TP', 'FN')}")
        fp = self.transitions[self.transitions["kind"] == "fp"].groupby("run")["count"].sum()
        line += f"; false positives {int(fp.get(self.name_a, 0))} -> {int(fp.get(self.name_b, 0))}"
        if len(self.stages) and "knn_acc_diff" in self.stages:
            r = self.stages.iloc[int(np.nanargmax(np.abs(self.stages["knn_acc_diff"].to_numpy(dtype=float))))]
            line += (f"; k-NN at {r['role']} (B - A) {r['knn_acc_diff']:+.2f} [{r['knn_acc_diff_lo']:+.2f}, "
                     f"{r['knn_acc_diff_hi']:+.2f}]")
        elif self.metrics_note:
            line += f"; {self.metrics_note}"
        return line

    def __str__(self) -> str:
        return self.headline

    def __repr__(self) -> str:
        return reprs.text("CompareResult", self.headline, {k: str(v) for k, v in self.paths.items()})

    def _repr_html_(self) -> str:
        cols = [c for c in ("role", "stage_a", "stage_b", "n", "knn_acc_a", "knn_acc_b", "knn_acc_diff",
                            "knn_acc_diff_lo", "knn_acc_diff_hi", "cka") if c in self.stages]
        moves = self.transitions[self.transitions["kind"] == "gt"]
        return reprs.block(self.headline, reprs.table_html(self.stages.round(3).to_dict("records"), cols),
                           reprs.table_html(moves.to_dict("records"), ["class_name", "from", "to", "count"]),
                           reprs.link(self.paths["html"], "compare.html") if "html" in self.paths else "")


def _gt_frame(run: Run) -> pd.DataFrame:
    need = [c for c in ("image", "gt_id", "origin", "status", "class_name") if c not in run.schema.names]
    if need:
        raise InputError(f"{run.objects_path}: no {need[0]!r} column; compare needs runs extracted with --boxes both")
    df = pq.read_table(run.objects_path, columns=["image", "gt_id", "origin", "status", "class_name"]).to_pandas()
    if not (df["origin"] == "gt").any():
        raise InputError(f"{run.objects_path}: no ground-truth rows; compare needs runs extracted with labels and "
                         "--boxes both")
    return df


def gt_objects(a: Run, b: Run) -> pd.DataFrame:
    """One row per gt object of either run: ``image, gt_id, class_name, status_a, status_b, row_a, row_b``
    (``absent`` / -1 where a run does not hold it)."""
    frames = []
    for tag, run in (("a", a), ("b", b)):
        df = _gt_frame(run)
        gt = df[(df["origin"] == "gt") & df["gt_id"].notna()]
        gt = gt[~gt.duplicated(["image", "gt_id"], keep=False)]
        frames.append(pd.DataFrame({"image": gt["image"].astype(str), "gt_id": gt["gt_id"].astype(str),
                                    f"class_{tag}": gt["class_name"], f"status_{tag}": gt["status"].fillna(ABSENT),
                                    f"row_{tag}": gt.index.to_numpy(dtype=np.int64)}))
    obj = frames[0].merge(frames[1], on=["image", "gt_id"], how="outer")
    obj["class_name"] = obj["class_a"].fillna(obj["class_b"]).astype(str)
    for tag in ("a", "b"):
        obj[f"status_{tag}"] = obj[f"status_{tag}"].fillna(ABSENT)
        obj[f"row_{tag}"] = obj[f"row_{tag}"].fillna(-1).astype(np.int64)
    return obj.drop(columns=["class_a", "class_b"]).sort_values(["row_a", "row_b"]).reset_index(drop=True)


def transition_table(obj: pd.DataFrame, a: Run, b: Run, name_a: str, name_b: str) -> pd.DataFrame:
    """The long table of ``transitions.csv``: gt moves per label class, then false positives per run and class."""
    moves = (obj.groupby(["class_name", "status_a", "status_b"]).size().reset_index(name="count")
             .rename(columns={"status_a": "from", "status_b": "to"}))
    moves.insert(0, "kind", "gt")
    moves.insert(1, "run", "")
    fps = []
    for run, name in ((a, name_a), (b, name_b)):
        df = _gt_frame(run)
        fp = df[(df["origin"] == "pred") & (df["status"] == "FP")].groupby("class_name").size()
        fps.append(pd.DataFrame({"kind": "fp", "run": name, "class_name": fp.index.astype(str), "from": "",
                                 "to": "", "count": fp.to_numpy()}))
    return pd.concat([moves, *fps], ignore_index=True)[["kind", "run", "class_name", "from", "to", "count"]]


def paired_stage_metrics(a: Run, b: Run, pairs: dict[str, tuple[str, str]], *, n_folds: int = 5, k: int = 10,
                         n_boot: int = 1000, seed: int = 0, sample: int | None = 5000) -> tuple[pd.DataFrame, str | None]:
    """Per same-role pair ``{role: (column of A, column of B)}``: k-NN and linear-probe accuracy of both models on
    the same gt objects with the same grouped folds, and the paired bootstrap interval of B - A. Returns the table
    and, when fewer than 2 label classes have ``n_folds`` objects, the one line saying so instead."""
    meta = T.read_meta(a.path, [c for c in ("image", "video", "class_name", "origin") if c in a.schema.names])
    present = {c: bool(meta[c].notna().any()) for c in meta.columns}
    grouping = resolve_grouping("auto", list(a.schema.names), present)
    recs, note = [], None
    for role, (ca, cb) in pairs.items():
        ok_a = (meta["origin"] == "gt").to_numpy() & T.valid_embedding_mask(a.path, ca) & T.finite_mask(a.path, ca)
        ok_b = T.valid_embedding_mask(b.path, cb) & T.finite_mask(b.path, cb)
        ra, rb = align(a, b, ok_a, ok_b)
        labels = meta["class_name"].astype(str).to_numpy()[ra]
        counts = dict(zip(*np.unique(labels, return_counts=True)))
        if not enough_classes(counts, n_folds):
            note = not_enough_line({str(c): int(v) for c, v in counts.items()}, n_folds)
            continue
        keep = np.isin(labels, [c for c, v in counts.items() if v >= n_folds])
        ra, rb, labels = ra[keep], rb[keep], labels[keep]
        sel = np.sort(T.stratified_sample(labels, sample, seed=seed, min_per_class=n_folds))
        ra, rb, labels = ra[sel], rb[sel], labels[sel]
        _, y = np.unique(labels, return_inverse=True)
        groups = group_codes(meta[grouping.column].to_numpy()[ra]) if grouping.column else None
        folds = n_folds if groups is None else min(n_folds, len(np.unique(groups)))
        if folds < 2:
            groups, folds = None, n_folds
        Xa, Xb = T.read_embeddings(a.path, ca, ra), T.read_embeddings(b.path, cb, rb)
        rec = {"role": role, "stage_a": stage_title(T.stage_label(ca), _role(a, ca)),
               "stage_b": stage_title(T.stage_label(cb), _role(b, cb)), "n": int(len(y)), "n_classes": int(y.max() + 1),
               "grouping": grouping.column or "none"}
        for m, _ in PAIRED_METRICS:
            fn = M.knn_cv_predictions if m == "knn_acc" else M.probe_cv_predictions
            kw = {"k": k} if m == "knn_acc" else {}
            right = [(fn(X, y, n_folds=folds, seed=seed, groups=groups, **kw)[0] == y).astype(float) for X in (Xa, Xb)]
            for tag, r in zip("ab", right):
                rec[f"{m}_{tag}"] = float(r.mean())
                rec[f"{m}_{tag}_lo"], rec[f"{m}_{tag}_hi"] = M.bootstrap_mean(r, n_boot, seed, groups=groups)
            diff = right[1] - right[0]
            rec[f"{m}_diff"] = float(diff.mean())
            rec[f"{m}_diff_lo"], rec[f"{m}_diff_hi"] = M.bootstrap_mean(diff, n_boot, seed, groups=groups)
        recs.append(rec)
    return pd.DataFrame(recs), (note if not recs else None)


def _role(run: Run, col: str) -> str:
    return stage_roles(run).get(col, "")


def compare_runs(run_a, run_b, *, n_boot: int = 1000, seed: int = 0, n_folds: int = 5, k: int = 10,
                 sample: int | None = 5000, cka_batch: int = 256) -> CompareResult:
    """Compare two runs of two models on the same labelled source (see the module doc); writes nothing."""
    a, b = open_run(run_a), open_run(run_b)
    if a.path == b.path:
        raise InputError(f"{b.path}: the same run twice; compare needs two runs")
    check_same_input(a, b)
    obj = gt_objects(a, b)
    name_a, name_b = a.path.name, (b.path.name if b.path.name != a.path.name else str(b.path))
    trans = transition_table(obj, a, b, name_a, name_b)
    ra, rb = role_columns(a), role_columns(b)
    pairs = {r: (ra[r], rb[r]) for r in ra if r in rb and ra[r] in a.schema.names and rb[r] in b.schema.names}
    notes = [] if pairs else ["no same-role layers (sppf/p3/p4/p5) in both manifests: no stage comparison"]
    stages, note = paired_stage_metrics(a, b, pairs, n_folds=n_folds, k=k, n_boot=n_boot, seed=seed, sample=sample)
    cka: dict[str, float] = {}
    if pairs:
        sim = compute_similarity(a, b, layers=[c for c, _ in pairs.values()], layers_b=[c for _, c in pairs.values()],
                                 origin="gt", batch=cka_batch)
        if not sim.insufficient:
            cka = {r: float(sim.matrix.loc[T.stage_label(ca), T.stage_label(cb)]) for r, (ca, cb) in pairs.items()}
        else:
            notes.append(sim.insufficient)
    if len(stages):
        stages["cka"] = stages["role"].map(cka)
    params = {"n_boot": n_boot, "seed": seed, "n_folds": n_folds, "k": k, "sample": sample}
    return CompareResult(a.path, b.path, obj, trans, stages, cka, note, notes, {}, params)

