"""Coefficient analytics: a ``coefficients`` table (either layout) read back as a :class:`CoefTable`, and the
per-class and per-prototype statistics (usage, ablation drop) that :mod:`yololens.jobs.coef_report` draws
and writes. Arrays and frames only: no figures, no files written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from yololens.errors import InputError
from yololens.store.table import read_table

ALL = "(all)"


@dataclass
class CoefTable:
    """A coefficients table in long-independent form.

    Attributes:
        classes: ``(n,)`` class name per instance.
        indices: the 0-based prototype index of each column of ``values``.
        values: ``(n, len(indices))`` float32 coefficients.
    """

    classes: np.ndarray
    indices: list[int]
    values: np.ndarray

    @classmethod
    def read(cls, path: str | Path) -> "CoefTable":
        df = read_table(path).to_pandas()
        if "class_name" in df.columns:
            class_col, pattern, offset = "class_name", r"coef_(\d+)$", 0
        elif "type" in df.columns:
            class_col, pattern, offset = "type", r"mask_(\d+)$", -1  # seed layout: mask_k is coefficient k-1
        else:
            raise InputError(f"{path}: not a coefficients table (no class_name or type column)")
        cols = [(int(m.group(1)) + offset, c) for c in df.columns if (m := re.match(pattern, c))]
        if not cols:
            raise InputError(f"{path}: no coefficient columns (coef_<k> or mask_<k>)")
        cols.sort()
        return cls(df[class_col].astype(str).to_numpy(), [k for k, _ in cols],
                   df[[c for _, c in cols]].to_numpy(np.float32))

    def class_order(self) -> list[str]:
        """Classes by instance count, most frequent first."""
        names, counts = np.unique(self.classes, return_counts=True)
        return [str(names[i]) for i in np.argsort(-counts, kind="stable")]


def usage_table(table: CoefTable) -> pd.DataFrame:
    """Per class (and ``(all)``) and prototype: ``n, mean, mean_abs, pos_share, neg_share``."""
    rows = []
    for name in [ALL] + table.class_order():
        sel = table.values if name == ALL else table.values[table.classes == name]
        for j, k in enumerate(table.indices):
            v = sel[:, j]
            rows.append({"class_name": name, "prototype": k, "n": len(v), "mean": float(v.mean()),
                         "mean_abs": float(np.abs(v).mean()), "pos_share": float((v > 0).mean()),
                         "neg_share": float((v < 0).mean())})
    return pd.DataFrame(rows)


def ablation_table(path: str | Path) -> pd.DataFrame:
    """Mean IoU drop per class (and ``(all)``) and prototype from the per-instance ablation table."""
    df = read_table(path).to_pandas()
    drop_cols = sorted((int(c.split("_")[1]), c) for c in df.columns if re.match(r"drop_\d+$", c))
    rows = []
    groups = [(ALL, df)] + [(str(k), g) for k, g in df.groupby("class_name", sort=False)]
    for name, g in groups:
        for k, col in drop_cols:
            rows.append({"class_name": name, "prototype": k, "n": len(g), "mean_iou_drop": float(g[col].mean())})
    return pd.DataFrame(rows)
