"""The coef-report job: coefficient analytics of a ``coefficients`` table, drawn and written to ``OUT``:

* ``histograms.png``: one panel per coefficient, per-class histograms (the seed's view);
* ``class_mean.png`` + ``class_mean.csv``: class x prototype mean coefficient;
* ``usage.png`` + ``usage.csv``: per class and prototype, mean ``|c|`` and the share of
  instances with a positive vs negative coefficient;
* ``ablation.png`` + ``ablation.csv`` (when the per-instance ablation table exists): mean
  mask-IoU drop when one coefficient is zeroed, per class and prototype (prototype
  resolution, inside the box; see :mod:`yololens.seg.ablation`).

The statistics live in :mod:`yololens.analysis.coef_stats`, the figures in :mod:`yololens.figures.coef_figures`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from yololens.analysis.coef_stats import CoefTable, ablation_table, usage_table
from yololens.errors import InputError
from yololens.figures.coef_figures import ablation_figure, class_mean_figure, histograms_figure, usage_figure
from yololens.store.atomic import save_fig, write_text


@dataclass
class CoefReportResult:
    """What :func:`coef_report` wrote: ``out`` and every file in it (CSVs and figures)."""

    out: Path
    files: list[Path] = field(default_factory=list)
    n_instances: int = 0
    n_classes: int = 0

    def file(self, name: str) -> Path | None:
        """The written file called ``name`` (``usage.png``), or None."""
        return next((f for f in self.files if f.name == name), None)


def coef_report(table_path: str | Path, out: str | Path, ablation: str | Path | None = None,
                max_classes: int = 8, histograms: bool = True) -> CoefReportResult:
    """Write the coefficient analytics of ``table_path`` into ``out`` (see the module docstring).

    ``ablation`` defaults to ``<table stem>_ablation.parquet`` beside the table, if present.
    ``max_classes``: classes drawn separately in the histograms (the rest are pooled); ``histograms=False``
    skips that figure (the slowest one; the HTML report shows only the heatmaps).
    """
    table_path, out = Path(table_path), Path(out)
    table = CoefTable.read(table_path)
    if len(table.classes) == 0:
        raise InputError(f"{table_path}: no instances to report on")
    result = CoefReportResult(out, n_instances=len(table.classes), n_classes=len(table.class_order()))

    def save_csv(df: pd.DataFrame, name: str) -> None:
        write_text(out / name, df.to_csv(index=False))
        result.files.append(out / name)

    def save(fig, name: str) -> None:
        save_fig(fig, out / name)
        result.files.append(out / name)

    if histograms:
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
