"""The stage report's words: metric names, what the intervals cover, and the recommendation paragraph."""

from __future__ import annotations

import numpy as np
import pandas as pd

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


def recommend(df: pd.DataFrame, params: dict, dropped: dict, message: str | None) -> tuple[str | None, str]:
    """Pick the stage with the highest k-NN accuracy and write one paragraph saying how sure that is.

    The paragraph names the vocabulary scored, the fold grouping and the class map (``params`` keys
    ``vocabulary``, ``grouping``, ``grouping_warning``, ``vocabulary_warning``, ``class_map``), so every page
    showing it says what was measured.
    """
    setup = _setup_sentences(params)
    parts: list[str] = []
    scored = df[np.isfinite(df["knn_acc"].astype(float))] if len(df) else df
    if message and len(scored) == 0:
        text = f"No recommendation: {message}."
        if dropped:
            text += " Dropped classes (objects): " + fmt_counts(dropped) + "."
        return None, " ".join([text, *setup])
    if len(scored) == 0:
        return None, " ".join(["No recommendation: no stage could be scored.", *setup])
    order = scored.sort_values("knn_acc", ascending=False)
    b = order.iloc[0]
    best = str(b["stage"])
    parts.append(
        f"Best stage: {best} ({b['column']}), k-NN accuracy {b['knn_acc']:.3f} (95% CI {b['knn_acc_lo']:.3f}-"
        f"{b['knn_acc_hi']:.3f}), linear probe {b['probe_acc']:.3f} ({b['probe_acc_lo']:.3f}-{b['probe_acc_hi']:.3f}), "
        f"on {int(b['n'])} objects of {int(b['n_classes'])} classes of {params['label']!r} "
        f"(origin {params['origin']}; chance, always guessing the commonest class, {b['chance']:.3f})."
    )
    parts.extend(setup)
    if len(order) == 1:
        parts.append("Only one stage was scored, so there is nothing to compare it with.")
    else:
        parts.extend(_comparison(order, scored, best))
    if scored["n"].nunique() > 1:
        parts.append(
            "Stages were scored on different objects (an embedding can be missing on some rows, e.g. emb_coef on gt "
            "rows): " + ", ".join(f"{r['stage']} n={int(r['n'])}" for _, r in scored.iterrows()) + "."
        )
    if b["knn_acc_lo"] <= b["chance"] + 1e-9:
        parts.append("Caution: even the best stage is not clearly above chance.")
    if dropped:
        parts.append(f"Dropped classes with fewer than {params['min_class_count']} objects: {fmt_counts(dropped)}.")
    if message:
        parts.append(f"Note: {message}.")
    parts.append(CI_NOTE)
    return best, " ".join(parts)


def _comparison(order: pd.DataFrame, scored: pd.DataFrame, best: str) -> list[str]:
    parts = []
    b = order.iloc[0]
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
    return parts


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
