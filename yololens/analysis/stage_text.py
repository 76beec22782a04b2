"""The stage report's words: metric names, what the intervals cover, the best stage per metric, and the paragraph
of details under the verdict (:mod:`yololens.analysis.verdict`)."""

from __future__ import annotations

import pandas as pd

from yololens.analysis.verdict import Verdict, best_position, stage_verdict

CI_NOTE = (
    "95% CIs: k-NN and linear-probe accuracy - percentile bootstrap of the out-of-fold (CV) predictions, "
    "i.e. test-set sampling only (refitting variation is not included; fold std is in stages.csv); silhouette - "
    "bootstrap of per-object silhouette values; Davies-Bouldin - bootstrap with the index recomputed per resample, "
    "shown only when the interval contains the point value (resampling biases it). With grouped folds every "
    "bootstrap resamples whole groups, not objects. All on one fixed sample of the table."
)

#: ``(column, title, higher is better)`` of every scored metric, in display order.
METRICS = (
    ("knn_acc", "k-NN accuracy (cosine, k=10)", True),
    ("probe_acc", "linear-probe accuracy", True),
    ("silhouette", "silhouette (cosine)", True),
    ("davies_bouldin", "Davies-Bouldin (lower is better)", False),
)


def best_per_metric(df: pd.DataFrame) -> dict[str, int]:
    """``{metric: row position}`` of the best value of each metric (max, or min for Davies-Bouldin): the rule the
    table's bold, the chart and the verdict share (:func:`~yololens.analysis.verdict.best_position`)."""
    best = {}
    for m, _, higher in METRICS:
        pos = best_position(df[m], higher) if m in df else None
        if pos is not None:
            best[m] = pos
    return best


def recommend(df: pd.DataFrame, params: dict, dropped: dict, message: str | None) -> tuple[Verdict, str]:
    """The verdict (:func:`~yololens.analysis.verdict.stage_verdict`) and the paragraph of details under it.

    The paragraph names what was scored, the vocabulary, the fold grouping and the class map (``params`` keys
    ``label``, ``origin``, ``vocabulary``, ``grouping``, ``grouping_warning``, ``vocabulary_warning``,
    ``class_map``), the stage each other metric ranks first (the same stage the table marks) and what the intervals
    cover, so every page showing it says what was measured.
    """
    verdict = stage_verdict(df)
    setup = _setup_sentences(params)
    if verdict.best is None:
        text = f"Why: {message}." if message else "No stage could be scored."
        if dropped:
            text += " Dropped classes (objects): " + fmt_counts(dropped) + "."
        return verdict, " ".join([text, *setup])
    b = df[df["stage"].astype(str) == verdict.best].iloc[0]
    parts = [f"Scored on {int(b['n'])} objects of {int(b['n_classes'])} classes of {params['label']!r} "
             f"(origin {params['origin']}; chance, always guessing the commonest class, {b['chance']:.3f})."]
    parts.extend(setup)
    if len(df) > 1:
        parts.append(_other_metrics(df, verdict.best))
    if df["n"].nunique() > 1:
        parts.append(
            "Stages were scored on different objects (an embedding can be missing on some rows, e.g. emb_coef on gt "
            "rows): " + ", ".join(f"{r['stage']} n={int(r['n'])}" for _, r in df.iterrows()) + "."
        )
    if dropped:
        parts.append(f"Dropped classes with fewer than {params['min_class_count']} objects: {fmt_counts(dropped)}.")
    if message:
        parts.append(f"Note: {message}.")
    parts.append(CI_NOTE)
    return verdict, " ".join(p for p in parts if p)


def _other_metrics(df: pd.DataFrame, best: str) -> str:
    """Which stage each other metric ranks first (the one the table marks), said against the verdict's stage."""
    best_at = best_per_metric(df)
    said = []
    for m, title, _ in METRICS[1:]:
        if m in best_at:
            leader = str(df.iloc[best_at[m]]["stage"])
            said.append(f"{title.split(' (')[0]} {leader}" + (" (as k-NN)" if leader == best else ""))
    return ("First by the other metrics: " + ", ".join(said) + ".") if said else ""


def _setup_sentences(params: dict) -> list[str]:
    """What was scored: vocabulary, grouping (and its warning), class map; empty when not known."""
    out = []
    if params.get("vocabulary"):
        out.append(f"StageOrigin: {params['vocabulary']}.")
    if params.get("vocabulary_warning"):
        out.append(f"Warning: {params['vocabulary_warning']}.")
    if params.get("grouping"):
        folds = params.get("n_folds_used")
        out.append(f"Evaluation: {params['grouping']}" + (f", {folds} folds." if folds else "."))
    if params.get("grouping_warning"):
        out.append(f"Warning: {params['grouping_warning']}.")
    cmap = params.get("class_map")
    if cmap:
        matched = cmap.get("matched") or {}
        pairs = ", ".join(f"{k} ({v})" for k, v in matched.items()) or "none"
        out.append(f"Predictions were matched to labels with the class map {cmap.get('name')}; matched class pairs: "
                   f"{pairs}.")
    return out


def fmt_counts(d: dict) -> str:
    """``{"car": 4, "bus": 9}`` -> ``"bus (9), car (4)"`` (largest first)."""
    return ", ".join(f"{k} ({v})" for k, v in sorted(d.items(), key=lambda kv: (-kv[1], kv[0])))
