"""The stage verdict: the one sentence that answers "which stage should I take features from?".

Computed once, from the stage table (:func:`stage_verdict`), and shown word for word by every view of the stage
report: the first line of ``yololens stages``, ``stages.md``, the notebook repr, the chart's title and the top of
the report's stage section. Other angles on the stage table (e.g. ``suspects``) call :func:`stage_verdict` too.

Stage names carry what a stage is: ``L15 (P3 neck, stride 8)`` (:func:`stage_roles`, from the run manifest's
layers: the aliases extract records and the stride).

When the data cannot answer (fewer than :data:`MIN_CLASSES` classes with enough objects), there is no verdict but
one line, :func:`not_enough_line`, and no chart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Classes that need enough objects before stages can be compared.
MIN_CLASSES = 2
#: What the verdict ranks by, and its name in the sentence.
VERDICT_METRIC, VERDICT_METRIC_NAME = "knn_acc", "k-NN"

#: Alias recorded by extract -> what the layer is (``sppf`` -> "SPPF, backbone end").
ROLE_NAMES = {
    "sppf": "SPPF, backbone end",
    "c2psa": "C2PSA, backbone end",
    "p3": "P3 neck",
    "p4": "P4 neck",
    "p5": "P5 neck",
    "head": "head",
}
#: The same-role layers two models share (backbone end, then the three head inputs), in that order.
SHARED_ROLES = ("backbone", "p3", "p4", "p5")


def best_position(values, higher: bool = True) -> int | None:
    """Row position of the best finite value (the first one on ties), or ``None`` when none is finite. The one
    rule every "best" in the stage report follows (table bold, chart mark, verdict)."""
    v = np.asarray(values, dtype=float)
    if not np.isfinite(v).any():
        return None
    return int(np.nanargmax(v) if higher else np.nanargmin(v))


def _layer_entries(run) -> list[dict]:
    from yololens.analysis.run import open_run

    layers = open_run(run).manifest.get("layers")
    return [e for e in layers if isinstance(e, dict)] if isinstance(layers, list) else []


def stage_roles(run) -> dict[str, str]:
    """``{column: role}`` for the run's embedding columns (``emb_L15`` -> ``"P3 neck, stride 8"``, ``emb_L4`` ->
    ``"stride 8"``, ``emb_coef`` -> ``"mask coefficients"``); columns the manifest does not describe get ``""``.
    ``run``: a path, a :class:`~yololens.analysis.run.Run` or a result with ``.out``."""
    roles: dict[str, str] = {"emb_coef": "mask coefficients"}
    for e in _layer_entries(run):
        col = e.get("column")
        if not isinstance(col, str):
            continue
        aliases = [a.lower() for a in e.get("aliases") or [] if isinstance(a, str)]
        parts = [ROLE_NAMES[a] for a in aliases if a in ROLE_NAMES][:1]
        stride = e.get("stride")
        if isinstance(stride, (int, float)) and not isinstance(stride, bool) and stride > 0:
            parts.append(f"stride {int(stride)}")
        if col.endswith("_mask"):
            parts.append("mask-pooled")
        roles[col] = ", ".join(parts)
    return roles


def role_columns(run) -> dict[str, str]:
    """``{role: column}`` for :data:`SHARED_ROLES` (``backbone`` is the SPPF/C2PSA output; box-pooled columns
    only): what makes layers of two different models comparable."""
    found: dict[str, str] = {}
    for e in _layer_entries(run):
        col = e.get("column")
        if not isinstance(col, str) or col.endswith("_mask"):
            continue
        for a in (a.lower() for a in e.get("aliases") or [] if isinstance(a, str)):
            role = "backbone" if a in ("sppf", "c2psa") else a
            if role in SHARED_ROLES:
                found.setdefault(role, col)
    return {r: found[r] for r in SHARED_ROLES if r in found}


def stage_title(stage: str, role: str | None) -> str:
    """``L15 (P3 neck, stride 8)``; the bare stage when the role is not known."""
    return f"{stage} ({role})" if isinstance(role, str) and role else stage


def stage_tick(stage: str, role: str | None) -> str:
    """A short two-line axis label: ``L15`` over ``P3 · s8``."""
    if not isinstance(role, str) or not role:
        return stage
    bits = []
    for part in role.split(", "):
        if part.startswith("stride "):
            bits.append("s" + part.removeprefix("stride "))
        elif part.endswith(" neck"):
            bits.append(part.removesuffix(" neck"))
        elif part.endswith("backbone end"):
            bits.append("backbone")
        elif part == "mask-pooled":
            bits.append("mask")
        elif part == "mask coefficients":
            bits.append("coef")
    return f"{stage}\n{' · '.join(bits)}" if bits else stage


def not_enough_line(counts: dict[str, int], threshold: int, need: int = MIN_CLASSES) -> str:
    """``not enough objects to compare stages: car 4, traffic light 5, traffic sign 1 (need >= 5 in >= 2
    classes)``; ``counts``: objects per class (sorted by name in the line)."""
    items = [f"{k} {v}" for k, v in sorted(counts.items())]
    shown = ", ".join(items[:20]) + (f" and {len(items) - 20} more" if len(items) > 20 else "")
    return f"not enough objects to compare stages: {shown or 'no labelled objects'} (need >= {threshold} in >= {need} classes)"


def enough_classes(counts: dict[str, int], threshold: int) -> bool:
    """At least :data:`MIN_CLASSES` classes with ``threshold`` objects or more."""
    return sum(int(v) >= threshold for v in counts.values()) >= MIN_CLASSES


@dataclass(frozen=True)
class Verdict:
    """The answer of the stage report.

    text: the sentence (``Verdict: use L15 (P3 neck, stride 8): k-NN 0.83 [0.79, 0.86], ahead of L9 by 0.04
    (intervals do not overlap)``); best: the stage it names (the highest k-NN accuracy; ``None`` when nothing
    could be scored); clear: its interval overlaps no other stage's; tied: the stages whose intervals overlap the
    best one's (best included), in table order.
    """

    text: str
    best: str | None = None
    clear: bool = False
    tied: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.text


def _ci(r: pd.Series, m: str) -> str:
    lo, hi = r.get(f"{m}_lo"), r.get(f"{m}_hi")
    if pd.isna(lo) or pd.isna(hi):
        return f"{r[m]:.2f}"
    return f"{r[m]:.2f} [{lo:.2f}, {hi:.2f}]"


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def stage_verdict(df: pd.DataFrame, metric: str = VERDICT_METRIC, metric_name: str = VERDICT_METRIC_NAME) -> Verdict:
    """The verdict on a stage table (rows: ``stage``, optional ``role``, ``metric`` with ``_lo``/``_hi``, optional
    ``chance``). Two stages are told apart only when their 95% intervals do not overlap."""
    if metric not in df or not len(df):
        return Verdict("No verdict: no stage could be scored.")
    pos = best_position(df[metric])
    if pos is None:
        return Verdict("No verdict: no stage could be scored.")
    b = df.iloc[pos]
    best = str(b["stage"])
    title = stage_title(best, b.get("role"))
    scored = df[np.isfinite(df[metric].astype(float))]
    lo, hi = float(b.get(f"{metric}_lo", np.nan)), float(b.get(f"{metric}_hi", np.nan))
    tied = [str(r["stage"]) for _, r in scored.iterrows()
            if str(r["stage"]) == best or (np.isfinite(lo) and np.isfinite(hi)
                                           and r[f"{metric}_hi"] >= lo and r[f"{metric}_lo"] <= hi)]
    caution = ""
    chance = b.get("chance")
    if chance is not None and np.isfinite(float(chance)) and not float(b.get(f"{metric}_lo", np.nan)) > chance:
        caution = f"; not clearly above chance ({float(chance):.2f})"
    if len(scored) == 1:
        return Verdict(f"Verdict: use {title}: {metric_name} {_ci(b, metric)} (the only stage scored){caution}",
                       best, False, (best,))
    if len(tied) == 1:
        others = scored[scored["stage"].astype(str) != best]
        runner = others.iloc[best_position(others[metric])]
        gap = float(b[metric]) - float(runner[metric])
        return Verdict(f"Verdict: use {title}: {metric_name} {_ci(b, metric)}, ahead of {runner['stage']} by "
                       f"{gap:.2f} (intervals do not overlap){caution}", best, True, (best,))
    return Verdict(f"Verdict: no clear winner: {_and(tied)} overlap on {metric_name} (highest {title}, "
                   f"{_ci(b, metric)}){caution}", best, False, tuple(tied))
