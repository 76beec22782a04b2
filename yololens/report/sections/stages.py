"""Which stage separates the classes best? (``yololens stages``), shown as a table with CIs and the chart."""

from __future__ import annotations

from yololens.report.context import EXTRACT_DIR, LABEL, Context, Section
from yololens.types import BoxMode, Origin, SectionStatus


def run_stages(ctx: Context) -> Section:
    import numpy as np
    import pandas as pd
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from yololens.analysis import table as T
    from yololens.analysis.stages import CI_NOTE, METRICS
    from yololens.jobs.stages import stages

    skip = ctx.no_objects()
    if skip:
        return skip
    o = ctx.opts
    schema = T.read_schema(ctx.extract_dir)
    origin = Origin.GT if ctx.boxes in (BoxMode.GT, BoxMode.BOTH) else Origin.ALL
    cols = T.embedding_columns(schema)
    if origin == Origin.GT:  # label classes are the truth; gt rows have no mask coefficients
        org = pq.read_table(T.objects_path(ctx.extract_dir), columns=["origin"])
        is_gt = np.asarray(pc.fill_null(pc.equal(org["origin"], "gt"), False))
        cols = [c for c in cols if (is_gt & T.valid_embedding_mask(ctx.extract_dir, c)).any()]
    rep = stages(ctx.extract_dir, label=LABEL, layers=cols, origin=origin, seed=o.seed)
    command = f"yololens stages {EXTRACT_DIR} --origin {origin}"
    if rep.insufficient:  # not an answer: skipped, with the line `stages` prints
        return Section(status=SectionStatus.SKIPPED, note=rep.insufficient, command=command)
    df = rep.table

    from yololens.analysis.metrics import Estimate
    from yololens.analysis.stage_writer import best_per_metric
    from yololens.analysis.verdict import stage_title

    best_at = best_per_metric(df)

    def ci(r, m, pos, digits=3):
        e = Estimate.of(r, m)
        if pd.isna(e.value):
            return None
        return {"value": f"{e.value:.{digits}f}", "best": best_at.get(m) == pos,
                "ci": f"{e.lo:.{digits}f}–{e.hi:.{digits}f}" if e.has_interval else None}

    trust_cols = [c for c in df.columns if c.startswith("trust_")]
    rows = []
    for pos, (_, r) in enumerate(df.iterrows()):
        rows.append({
            "stage": stage_title(r["stage"], r.get("role")), "dims": "" if pd.isna(r.get("dims")) else int(r["dims"]),
            "n": "" if pd.isna(r.get("n")) else int(r["n"]),
            "classes": "" if pd.isna(r.get("n_classes")) else int(r["n_classes"]),
            "chance": None if pd.isna(r.get("chance", np.nan)) else f"{r['chance']:.3f}",
            "metrics": [ci(r, m, pos) for m, _, _ in METRICS],
            "trust": [None if pd.isna(r.get(c)) else f"{r[c]:.3f}" for c in trust_cols],
            "best": r["stage"] == rep.best,
        })
    chart = rep.paths.get("chart")
    summary = rep.verdict.text
    return Section(command=command, data={"verdict": rep.verdict.text, "details": rep.details,
        "rows": rows, "metrics": [t for _, t, _ in METRICS], "trust": [c.removeprefix("trust_") for c in trust_cols],
        "best": rep.best, "recommendation": rep.details.replace(CI_NOTE, "").strip(),
        "ci_note": CI_NOTE if CI_NOTE in rep.details else None, "message": rep.message,
        "dropped": rep.dropped_classes, "kept": rep.kept_classes, "threshold": rep.params.get("min_class_count"),
        "origin": origin, "chart": ctx.rel(chart) if chart else None,
        "csv": ctx.rel(rep.paths["csv"]) if "csv" in rep.paths else None, "summary": summary})
