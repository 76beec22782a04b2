"""The explorer's "Suspects" panel (``yololens/figures/js/suspects.js``): which rows it lists and what it says.

The page ranks the objects that have a suspects row by ``suspect_score`` (highest first, NaN last; ties by row)
and lists the first :data:`SHOWN`. The same ranking here decides which objects are always among the drawn
points of a sampled page and always carry a crop, so that every listed entry can be clicked and shows a
thumbnail. "Suspects only" (in the page) keeps ``suspect_score >= SUSPECT_SCORE`` and, where a margin is known,
``suspect_margin < 0``: the rule of the ``suspects`` command (detector rows have no margin: their score alone).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from yololens.analysis.suspects_run import SUSPECT_SCORE

#: entries in the ranked list (the page says so)
SHOWN = 100
SCORE, KIND, SUGGESTED = "suspect_score", "suspect_kind", "suspect_suggested"


def has_suspects(meta: pd.DataFrame) -> bool:
    return SCORE in meta.columns and KIND in meta.columns


def ranked_rows(meta: pd.DataFrame, n: int = SHOWN) -> np.ndarray:
    """``(<= n,)`` int64: rows of ``meta`` that have a suspects row, by ``suspect_score`` descending (NaN last,
    ties by row): the order of the page's list."""
    if not has_suspects(meta):
        return np.zeros(0, np.int64)
    rows = np.flatnonzero(meta[KIND].notna().to_numpy())
    score = pd.to_numeric(meta[SCORE], errors="coerce").to_numpy(np.float64)[rows]
    key = np.where(np.isnan(score), np.inf, -score)  # NaN after every finite score
    return rows[np.lexsort((rows, key))][:n]  # lexsort: the last key sorts first


def panel_args(meta: pd.DataFrame, stage: str | None) -> dict:
    """The ``suspects`` argument of the page's script: empty (no panel) without suspect columns or a stage."""
    if stage is None or not has_suspects(meta):
        return {}
    n_rows = int(meta[KIND].notna().sum())
    how = ("labels by the detector's evidence (no stage has class rows)" if stage == "detector" else
           f"labels by neighbour disagreement at {stage}; objects without a row there (predictions with no label: "
           f"missing) by the detector's evidence")
    note = (f"Ranked by suspect_score: {how}. The {min(SHOWN, n_rows):,} most suspect of the {n_rows:,} scored "
            f"objects drawn here (at most {SHOWN} listed); click one to open it. Suspects only: score >= "
            f"{SUSPECT_SCORE} and, for a label, the neighbours prefer another class.")
    return {"stage": stage, "cap": SHOWN, "min_score": SUSPECT_SCORE, "note": note}
