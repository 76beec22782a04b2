"""Label-error suspects of a whole run: every stage's neighbour disagreement (:mod:`yololens.analysis.suspects`),
the detector evidence (:mod:`yololens.analysis.suspect_detector`) and, with injected noise, the validation
(:mod:`yololens.analysis.suspects_eval`). Computes; :mod:`yololens.jobs.suspects` writes the files.

Only gt rows are scored by neighbours (a label is what can be wrong); their neighbours are gt rows too, so the
votes are labels, in one vocabulary. Above ``exact_max`` objects a stage is first reduced to :data:`PCA_DIMS`
dimensions (PCA fitted on a sample, applied chunk by chunk) so the approximate index fits in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from yololens import reprs
from yololens.analysis import table as T
from yololens.analysis.grouping import group_codes, resolve_grouping
from yololens.analysis.neighbours import EXACT_MAX, N_NEIGHBOURS
from yololens.analysis.run import open_run
from yololens.analysis.suspect_detector import NEEDED, detector_confidence, detector_suspects
from yololens.analysis.suspects import NeighbourSuspects, class_codes, ranks
from yololens.analysis.suspects_eval import DETECTOR, N_BOOT, RANDOM, best_line, class_similarity, evaluate_rankings, inject_noise
from yololens.errors import InputError
from yololens.types import NoiseKind, SuspectKind

PCA_DIMS = 64
PCA_FIT_SAMPLE = 50_000
DETECTOR_LAYER = "detector"
COLUMNS = ["object_id", "layer", "score", "label", "suggested", "margin", "kind", "rank"]
#: A class suspect is counted when the neighbours prefer another class (margin < 0) and its score is at least this.
SUSPECT_SCORE = 0.5


@dataclass
class SuspectsReport:
    """What :func:`compute_suspects` found. ``table``: every scored row (:data:`COLUMNS`); ``primary``: the stage
    whose suspects lead the CSV and the finding; ``finding``: how many labels look wrong, and the top one;
    ``headline``: the first printed line (the evaluation's answer when there is one, else the finding);
    ``evaluation``: the injected-noise table (or None); ``unscored``: per stage, gt objects with no class norm (NaN
    score); ``grouping``: which neighbours count."""

    out: Path
    table: pd.DataFrame
    primary: str | None
    headline: str
    n_gt: int
    stages: list[str]
    grouping: str
    unscored: dict[str, int] = field(default_factory=dict)
    evaluation: pd.DataFrame | None = None
    evaluation_line: str | None = None
    finding: str = ""
    paths: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return self.headline

    def __repr__(self) -> str:
        return reprs.text("Suspects", self.headline, {"finding": self.finding if self.evaluation_line else None,
                                                      "stages": ", ".join(self.stages), "neighbours": self.grouping,
                                                      **{k: str(v) for k, v in self.paths.items()}})

    def top(self, n: int = 20, layer: str | None = None) -> pd.DataFrame:
        """The ``n`` most suspect rows of ``layer`` (default: the primary stage)."""
        t = self.table[self.table["layer"] == (layer or self.primary)]
        return t.sort_values("rank").head(n)

    def _repr_html_(self) -> str:
        rows = self.top(10).to_dict("records")
        ev = None if self.evaluation is None else reprs.table_html(
            self.evaluation.to_dict("records"), ["noise", "ranking", "precision_at_k", "precision_at_k_lo",
                                                 "precision_at_k_hi", "ap"])
        return reprs.block("Label-error suspects", self.finding,
                           reprs.table_html(rows, ["rank", "object_id", "label", "suggested", "score", "margin"]),
                           self.evaluation_line or "", ev or "")


def _read(run, group_by: str):
    """``(run, meta of every row, gt mask, group codes of the gt rows, grouping phrase)``."""
    r = open_run(run)
    names = r.schema.names
    cols = [c for c in dict.fromkeys(["object_id", "image", "origin", "class_name", "video", *NEEDED]) if c in names]
    if "origin" not in names or "class_name" not in names:
        raise InputError(f"{r.objects_path}: no origin/class_name columns: not an objects table of yololens extract")
    meta = r.objects(cols).to_pandas()
    gt = ((meta["origin"] == "gt") & meta["class_name"].notna()).to_numpy()
    if not gt.any():
        raise InputError(f"{r.objects_path}: no ground-truth rows: suspects judges labels; extract with --labels "
                         "and --boxes gt or both")
    present = {c: bool(meta.loc[gt, c].notna().any()) for c in meta.columns}
    grouping = resolve_grouping(group_by, list(names), present)
    groups = group_codes(meta.loc[gt, grouping.column]) if grouping.column else np.arange(int(gt.sum()))
    return r, meta, gt, groups, grouping


def _stage_embeddings(r, column: str, gt_rows: np.ndarray, exact_max: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(positions into the gt rows, X)``: the gt rows whose ``column`` is present and finite; above
    ``exact_max`` rows reduced to :data:`PCA_DIMS` by a PCA fitted on a sample. One streamed pass over the column:
    NaN/inf survive the (linear) reduction, so finiteness is checked on the result."""
    pos = np.flatnonzero(T.valid_embedding_mask(r.path, column)[gt_rows])
    rows = gt_rows[pos]
    width = T.embedding_width(r.schema, column) or 0
    reduce = None
    if len(rows) > exact_max and width > PCA_DIMS:
        from sklearn.decomposition import PCA

        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(rows, size=min(PCA_FIT_SAMPLE, len(rows)), replace=False))
        S = T.read_embeddings(r.path, column, sample)
        S = S[np.isfinite(S).all(axis=1)]
        S /= np.maximum(np.linalg.norm(S, axis=1, keepdims=True), 1e-12)  # cosine: the directions, not the lengths
        pca = PCA(n_components=PCA_DIMS, random_state=seed).fit(S)

        def reduce(block: np.ndarray) -> np.ndarray:
            return pca.transform(block / np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-12))

    X = T.read_embeddings(r.path, column, rows, transform=reduce)
    pa.default_memory_pool().release_unused()  # the streamed chunks' pages, before the neighbour search needs them
    finite = np.isfinite(X).all(axis=1)
    return (pos, X) if finite.all() else (pos[finite], X[finite])


def compute_suspects(run, *, layer="all", k: int = N_NEIGHBOURS, group_by: str = "auto", inject: float | None = None,
                     seed: int = 0, exact_max: int = EXACT_MAX, conf: float = 0.5, n_boot: int = N_BOOT,
                     primary: str | None = None, n_jobs: int = -1) -> SuspectsReport:
    """Score every gt label of ``run`` at the stages ``layer`` names (``all``, ``15``, ``sppf,p3`` ...); with
    ``inject`` (a share) also validate the rankings on injected flips. ``primary``: the stage that leads (default:
    the best stage of the evaluation, else of ``stages.csv``, else the first); ``n_jobs``: threads of the
    approximate neighbour search (-1: all cores)."""
    r, meta, gt, groups, grouping = _read(run, group_by)
    columns = r.columns(layer)
    gt_rows = np.flatnonzero(gt)
    labels, classes = class_codes(meta["class_name"].to_numpy()[gt])
    n_classes = len(classes)
    oid = meta["object_id"].astype(str).to_numpy()[gt]
    has_pred = bool((meta["origin"] == "pred").any())
    cmap = _class_map(r) if has_pred else None
    det = detector_suspects(meta, cmap, conf=conf)
    # text columns as categoricals over one vocabulary each, so that the stages' parts concatenate without turning
    # back into per-row objects: at 1.8M objects x 4 stages a text column of objects is 58 MB, codes 7 MB
    vocab = TextVocabulary([T.stage_label(c) for c in columns], classes, det)
    if not inject:  # the metadata serves the detector evidence (done) and the validation (not asked): let it go
        meta = None
    parts, fitted, unscored = [], {}, {}
    for col in list(columns):
        pos, X = _stage_embeddings(r, col, gt_rows, exact_max, seed)
        if len(pos) < 2:  # e.g. emb_coef: mask coefficients exist on predictions only
            columns.remove(col)
            continue
        # copy=False: X is read for this stage only (kept for the noise similarity, where only directions count)
        est = NeighbourSuspects(k, exact_max=exact_max, seed=seed, n_jobs=n_jobs, copy=False).fit(X, groups[pos])
        s = est.score(labels[pos], n_classes)
        stage = T.stage_label(col)
        unscored[stage] = int(np.isnan(s.score).sum())
        parts.append(vocab.frame(object_id=oid[pos], layer=stage, score=s.score, label=labels[pos],
                                 suggested=s.suggested, margin=s.margin, kind=SuspectKind.CLASS, rank=ranks(s.score)))
        if inject:  # the neighbours (N x k) are kept only to score the flipped labellings
            fitted[stage] = (est, pos, X)
        del est, X
    if len(det):
        parts.append(vocab.frame(object_id=det["object_id"].to_numpy(), layer=DETECTOR_LAYER,
                                 score=det["score"].to_numpy(np.float32), label=det["label"].to_numpy(),
                                 suggested=det["suggested"].to_numpy(), margin=det["margin"].to_numpy(np.float32),
                                 kind=det["kind"].to_numpy(), rank=ranks(det["score"].to_numpy(np.float64))))
    if not columns:
        raise InputError(f"{r.objects_path}: no stage has embeddings on the ground-truth rows")
    table = pd.concat(parts, ignore_index=True)[COLUMNS]
    del parts
    evaluation = line = None
    if inject:
        evaluation = _evaluate(fitted, labels, n_classes, groups, meta, gt, classes, cmap, inject, seed, n_boot)
        line = best_line(evaluation)
    stages = [T.stage_label(c) for c in columns]
    primary = primary or _primary(r, evaluation, stages)
    where = (f"neighbours from other {grouping.column}s than the object's own" if grouping.column
             else "neighbours from any object but itself")
    report = SuspectsReport(r.path, table, primary, "", len(gt_rows), stages, where, unscored, evaluation, line)
    report.finding = finding(report)
    report.headline = line or report.finding
    return report


class TextVocabulary:
    """The categories of the suspects table's text columns (``layer``, ``label``/``suggested``, ``kind``), fixed
    before the parts are built so that every part's categoricals are alike and concatenate as categoricals."""

    def __init__(self, stages: list[str], classes: list[str], det: pd.DataFrame) -> None:
        extra = [str(v) for c in ("label", "suggested") for v in det[c].dropna().unique()] if len(det) else []
        self.classes = list(classes)
        self.names = list(dict.fromkeys([*classes, *sorted(set(extra) - set(classes))]))
        self.layers = list(dict.fromkeys([*stages, DETECTOR_LAYER]))
        self.kinds = [k.value for k in SuspectKind]

    def frame(self, *, object_id, layer: str, score, label, suggested, margin, kind, rank) -> pd.DataFrame:
        """One part: ``label``/``suggested`` as class codes (into ``classes``) or names; ``layer``/``kind`` one
        value for the part or names per row."""
        n = len(object_id)

        def names(v):
            v = np.asarray(v)
            if v.dtype.kind in "iu":  # codes into the stage vocabulary (classes come first in names)
                return pd.Categorical.from_codes(v, categories=self.names)
            return pd.Categorical(v, categories=self.names)

        def one(value, categories):
            value = value.value if isinstance(value, SuspectKind) else value
            if isinstance(value, str):
                return pd.Categorical.from_codes(np.full(n, categories.index(value), np.int8), categories=categories)
            return pd.Categorical(np.asarray(value, object), categories=categories)

        return pd.DataFrame({"object_id": object_id, "layer": one(layer, self.layers),
                             "score": np.asarray(score, np.float32), "label": names(label),
                             "suggested": names(suggested), "margin": np.asarray(margin, np.float32),
                             "kind": one(kind, self.kinds), "rank": np.asarray(rank, np.int64)})


def _class_map(r):
    from yololens.engine.matching import ClassMap, default_class_map

    pairs = (r.manifest.get("class_map") or {}).get("pairs") if isinstance(r.manifest.get("class_map"), dict) else None
    return ClassMap({str(a): str(b) for a, b in pairs.items()}) if isinstance(pairs, dict) else default_class_map()


def _primary(r, evaluation: pd.DataFrame | None, stages: list[str]) -> str | None:
    if evaluation is not None:  # the stage the answer line names: best on uniform flips
        part = evaluation[evaluation["ranking"].isin(stages) & (evaluation["noise"] == NoiseKind.UNIFORM)]
        if part["precision_at_k"].notna().any():
            return str(part.loc[part["precision_at_k"].idxmax(), "ranking"])
    st = r.stages()
    if st is not None and "knn_acc" in st and "stage" in st and st["knn_acc"].notna().any():
        best = str(st.loc[st["knn_acc"].idxmax(), "stage"])
        if best in stages:
            return best
    return stages[0] if stages else None


def finding(rep: SuspectsReport) -> str:
    """How many labels the primary stage doubts, and the top one (the first printed line, unless a validation
    with injected noise ran: then its answer comes first)."""
    t = rep.table[rep.table["layer"] == rep.primary]
    flagged = t[(t["score"] >= SUSPECT_SCORE) & (t["margin"] < 0)]
    if t["score"].isna().all():
        return (f"no label could be judged at {rep.primary}: no class has objects in more than one image/video "
                "(neighbours of the own image/video do not count)")
    top = t.sort_values("rank").iloc[0]
    lead = "top" if len(flagged) else "most doubtful"
    return (f"{len(flagged)} of {rep.n_gt} labels look wrong at {rep.primary} (neighbours prefer another class, "
            f"score >= {SUSPECT_SCORE}); {lead}: {top['object_id']} labelled {top['label']!s}, neighbours say "
            f"{top['suggested']!s} (score {top['score']:.2f})")


def _evaluate(fitted: dict, labels: np.ndarray, n_classes: int, groups: np.ndarray, meta: pd.DataFrame,
              gt: np.ndarray, classes: list[str], cmap, share: float, seed: int, n_boot: int) -> pd.DataFrame:
    """The injected-noise table (:mod:`yololens.analysis.suspects_eval`): per noise kind, one row per stage and
    per baseline."""
    sim = class_similarity([(X, labels[pos]) for _, pos, X in fitted.values()], n_classes)
    flipped, noisy = inject_noise(labels, share, n_classes, sim, seed)
    has_pred = (meta["origin"] == "pred").any()
    rng = np.random.default_rng(seed + 1)
    frames = []
    for kind, given in noisy.items():
        rankings = {}
        for stage, (est, pos, _) in fitted.items():
            score = np.full(len(labels), np.nan)
            score[pos] = est.score(given[pos], n_classes).score
            rankings[stage] = score
        rankings[RANDOM] = rng.random(len(labels))
        if has_pred:
            rankings[DETECTOR] = detector_confidence(meta, np.asarray(classes, object)[given], cmap)
        frames.append(evaluate_rankings(rankings, flipped, groups, n_boot=n_boot, seed=seed).assign(noise=kind.value))
    table = pd.concat(frames, ignore_index=True)
    return table[["noise", *[c for c in table.columns if c != "noise"]]]
