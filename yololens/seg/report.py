"""Coefficient analytics over a ``coefficients`` table (either layout).

Writes to ``OUT``:

* ``histograms.png``: one panel per coefficient, per-class histograms (the seed's view);
* ``class_mean.png`` + ``class_mean.csv``: class x prototype mean coefficient;
* ``usage.png`` + ``usage.csv``: per class and prototype, mean ``|c|`` and the share of
  instances with a positive vs negative coefficient;
* ``ablation.png`` + ``ablation.csv`` (when the per-instance ablation table exists): mean
  mask-IoU drop when one coefficient is zeroed, per class and prototype (prototype
  resolution, inside the box; see :mod:`yololens.seg.ablation`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from yololens.errors import InputError
from yololens.store.atomic import write_text
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


@dataclass
class ReportResult:
    out: Path
    files: list[Path] = field(default_factory=list)


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


def coef_report(table_path: str | Path, out: str | Path, ablation: str | Path | None = None,
                max_classes: int = 8) -> ReportResult:
    """Write the analytics for ``table_path`` into ``out`` (see the module docstring).

    ``ablation`` defaults to ``<table stem>_ablation.parquet`` beside the table, if present.
    ``max_classes``: classes drawn separately in the histograms (the rest are pooled).
    """
    from yololens.figures.coef_report import ablation_figure, class_mean_figure, histograms_figure, usage_figure
    from yololens.seg.protos import save_fig

    table_path, out = Path(table_path), Path(out)
    table = CoefTable.read(table_path)
    if len(table.classes) == 0:
        raise InputError(f"{table_path}: no instances to report on")
    result = ReportResult(out)

    def save_csv(df: pd.DataFrame, name: str) -> None:
        write_text(out / name, df.to_csv(index=False))
        result.files.append(out / name)

    def save(fig, name: str) -> None:
        save_fig(fig, out / name)
        result.files.append(out / name)

    save(histograms_figure(table, max_classes), "histograms.png")
    usage = usage_table(table)
    mean = usage.pivot(index="class_name", columns="prototype", values="mean")
    save_csv(mean.reset_index(), "class_mean.csv")
    save(class_mean_figure(usage, table.class_order()), "class_mean.png")
    save_csv(usage, "usage.csv")
    save(usage_figure(usage, table.class_order()), "usage.png")
    abl_path = Path(ablation) if ablation else table_path.with_name(f"{table_path.stem}_ablation.parquet")
    if abl_path.exists():
        abl = ablation_table(abl_path)
        save_csv(abl, "ablation.csv")
        save(ablation_figure(abl, table.class_order()), "ablation.png")
    return result
