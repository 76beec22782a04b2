"""Which objects must stay on one side of a cross-validation split, and which label vocabulary is scored.

On video frames the nearest neighbour of an object is mostly the same physical object in another frame, so
folds that split objects freely measure "have I seen this car before", not class separability. The stage
report therefore groups its folds (and resamples groups in its bootstrap): by ``video`` when the table has
one, else by ``image``; ``--group-by COLUMN`` picks any column (``track_id``, ``video``, ``image``) or
``none``.

A table from ``--boxes both`` holds two vocabularies: label classes on gt rows (BDD ``pedestrian``) and
model classes on pred rows (COCO ``person``). Scored together they are different classes the probe must
tell apart, so the default scores the ground truth when there is any.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from yololens.errors import InputError
from yololens.types import Origin, StageOrigin


class GroupMode(StrEnum):
    """The special values of ``--group-by``; anything else names a column."""

    AUTO = "auto"
    NONE = "none"


#: ``auto`` picks the first of these the table has (with at least one non-null value).
AUTO_ORDER = ("video", "image")


@dataclass(frozen=True)
class Grouping:
    """The resolved ``--group-by``.

    Attributes:
        column: the column whose values form the groups, or None (ungrouped folds).
        requested: what the user asked for (``auto``, ``none`` or a column).
        warning: set when a grouping was possible but not used (said in the report).
    """

    column: str | None
    requested: str
    warning: str | None = None

    def describe(self) -> str:
        """One phrase for the report: ``folds grouped by video`` / ``ungrouped folds``."""
        if self.column is None:
            return "ungrouped folds (objects split freely)"
        how = " (auto)" if self.requested == GroupMode.AUTO else ""
        return f"folds grouped by {self.column}{how}: objects of one {self.column} never straddle a split"


def resolve_grouping(requested: str | None, columns: list[str], present: dict[str, bool]) -> Grouping:
    """Turn ``--group-by`` into a :class:`Grouping`.

    ``columns``: the table's columns; ``present``: column -> has at least one non-null value.
    """
    req = (requested or GroupMode.AUTO).strip()
    usable = [c for c in AUTO_ORDER if present.get(c)]
    if req == GroupMode.AUTO:
        return Grouping(usable[0] if usable else None, req)
    if req == GroupMode.NONE:
        warning = (f"folds are not grouped although the table has {' and '.join(usable)}: copies of one object "
                   "in several frames can sit on both sides of a split and inflate the accuracies") if usable else None
        return Grouping(None, req, warning)
    if req not in columns:
        raise InputError(f"--group-by {req!r}: no such column (use auto, none, or one of: "
                         f"{', '.join(c for c in ('video', 'track_id', 'image') if c in columns) or 'none'})")
    warning = None
    if req == "image" and present.get("video"):
        warning = ("folds are grouped by image although the table has a video column: the same object in other "
                   "frames of its video can sit on the other side of a split (--group-by video avoids it)")
    return Grouping(req, req, warning)


def group_codes(values: pd.Series | np.ndarray) -> np.ndarray:
    """``(N,)`` int64 group codes; every missing value is a group of its own (an untracked object)."""
    s = pd.Series(np.asarray(values, dtype=object))
    codes, _ = pd.factorize(s, use_na_sentinel=True)
    codes = codes.astype(np.int64)
    missing = codes < 0
    codes[missing] = codes.max(initial=-1) + 1 + np.arange(int(missing.sum()))
    return codes


def resolve_origin(requested: str, origins: pd.Series | None) -> tuple[Origin, str, str | None]:
    """``(origin filter, vocabulary phrase, warning)`` for ``--origin``.

    ``origins``: the table's ``origin`` column (None when it has none).
    """
    try:
        req = StageOrigin(requested)
    except ValueError:
        raise InputError(f"--origin must be one of {', '.join(v.value for v in StageOrigin)}, not {requested!r}") from None
    kinds = set() if origins is None else set(origins.dropna().astype(str))
    if req is StageOrigin.AUTO:
        req = StageOrigin.GT if Origin.GT in kinds else StageOrigin.ALL
    if req is StageOrigin.GT:
        return Origin.GT, "the label classes (ground-truth rows)", None
    if req is StageOrigin.PRED:
        return Origin.PRED, "the model's classes (predicted rows)", None
    if {Origin.GT, Origin.PRED} <= kinds:
        return Origin.ALL, "gt label classes and predicted model classes together", (
            "scoring gt and pred rows together mixes two vocabularies (a label 'pedestrian' and a model 'person' "
            "are different classes here); --origin gt or pred scores one")
    only = next(iter(kinds), None)
    phrase = {"gt": "the label classes (ground-truth rows)", "pred": "the model's classes (predicted rows)"}
    return Origin.ALL, phrase.get(only, "the table's classes"), None
