"""The stages job (``yololens stages``): compute the stage report, then write ``stages.csv``, the chart and
``stages.md`` into the run folder (all atomically)."""

from __future__ import annotations

import os

from yololens.analysis import table as T
from yololens.analysis.run import run_folder
from yololens.analysis.stage_writer import markdown_table
from yololens.analysis.stages import StageReport, compute_stages
from yololens.analysis.suspects_eval import angle_markdown, stage_angle
from yololens.store.atomic import atomic_path, save_figure, write_text


def stages(out: str | os.PathLike, *, save: bool = True, chart_format: str = "png", **options) -> StageReport:
    """:func:`~yololens.analysis.stages.compute_stages` on the run folder ``out`` (``options`` are its keyword
    arguments: label, layers, origin, group_by, sample, n_folds, ...); ``save``: also write the files
    (``report.paths`` names them)."""
    out = run_folder(out)
    report = compute_stages(out, **options)
    if save:
        write_report(report, out, chart_format=chart_format)
    return report


def write_report(report, out: str | os.PathLike, chart_format: str = "png") -> dict:
    """Write the files of ``report`` into the run folder ``out``; returns ``{csv, chart, md}`` paths. When the data
    cannot answer (``report.insufficient``) there is no chart (a chart from an earlier run is removed, so no
    stale answer is left beside the new line) and ``stages.md`` is that one line."""
    import matplotlib.pyplot as plt

    from yololens.figures.stage_chart import stage_chart

    d = T.out_dir(out)
    csv_path = d / "stages.csv"
    with atomic_path(csv_path) as tmp:
        report.table.to_csv(tmp, index=False, float_format="%.6g")
    md_path = d / "stages.md"
    chart_path = d / f"stages.{chart_format}"
    if report.insufficient:
        for old in (d / "stages.png", d / "stages.svg"):
            old.unlink(missing_ok=True)
        write_text(md_path, f"# Stage report\n\n{report.insufficient}\n")
        report.paths = {"csv": csv_path, "md": md_path}
        return report.paths
    fig = stage_chart(report.table, report.params, report.verdict)
    save_figure(fig, chart_path, dpi=120)
    plt.close(fig)
    lines = ["# Stage report", "", report.verdict.text, "", report.details, "", *markdown_table(report.table), "",
             f"![stage metrics]({chart_path.name})", ""]
    angle = stage_angle(d)  # the third angle, when `suspects --inject-noise` ran
    if angle is not None:
        lines += [*angle_markdown(angle), ""]
    write_text(md_path, "\n".join(lines))
    report.paths = {"csv": csv_path, "chart": chart_path, "md": md_path}
    return report.paths
