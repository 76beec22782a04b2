"""How alike are the stages? (``yololens similarity``): linear CKA between every pair of embedding stages, as a
heatmap and its answer line."""

from __future__ import annotations

from yololens.report.context import EXTRACT_DIR, Context, Section
from yololens.types import SectionStatus


def run_similarity(ctx: Context) -> Section:
    from yololens.analysis.verdict import stage_title
    from yololens.jobs.similarity import similarity

    skip = ctx.no_objects()
    if skip:
        return skip
    res = similarity(ctx.extract_dir, seed=ctx.opts.seed)
    command = f"yololens similarity {EXTRACT_DIR}"
    if res.insufficient:
        return Section(status=SectionStatus.SKIPPED, note=res.insufficient, command=command)
    m = res.matrix
    rows = [{"stage": stage_title(s, res.roles_a.get(s)),
             "cells": [None if v != v else f"{v:.2f}" for v in m.loc[s].to_numpy()]} for s in m.index]
    return Section(command=command, data={
        "headline": res.headline, "columns": list(m.columns), "rows": rows, "n": res.n, "origin": res.origin,
        "batches": res.n_batches, "notes": res.notes, "heatmap": ctx.rel(res.paths["heatmap"]),
        "csv": ctx.rel(res.paths["csv"]), "summary": res.headline})
