"""Which labels are probably wrong? (``yololens suspects``): the top 20 suspects as crops with their given and
suggested labels, and which stage finds injected flips best (a third angle on "which stage?")."""

from __future__ import annotations

from yololens.report.context import EXTRACT_DIR, Context, Section
from yololens.types import BoxMode, SectionStatus

TOP = 20
NOISE = 0.1


def run_suspects(ctx: Context) -> Section:
    import pandas as pd

    from yololens.analysis.run import open_run
    from yololens.analysis.suspects_run import DETECTOR_LAYER
    from yololens.jobs.suspects import suspects

    skip = ctx.no_objects()
    if skip:
        return skip
    if ctx.boxes not in (BoxMode.GT, BoxMode.BOTH):
        return Section(status=SectionStatus.SKIPPED, note="no labels (--labels): suspects judges ground-truth labels")
    rep = suspects(ctx.extract_dir, inject_noise=NOISE, seed=ctx.opts.seed)
    run = open_run(ctx.extract_dir)
    cols = [c for c in ("object_id", "image", "crop") if c in run.schema.names]
    meta = run.objects(cols).to_pandas().drop_duplicates("object_id")
    top = rep.top(TOP).merge(meta, on="object_id", how="left")
    rows = [{"rank": int(r["rank"]), "object_id": r["object_id"], "image": r.get("image"),
             "label": r["label"], "suggested": r["suggested"],
             "score": "–" if pd.isna(r["score"]) else f"{r['score']:.2f}",
             "crop": ctx.rel(ctx.extract_dir / r["crop"]) if isinstance(r.get("crop"), str) else None}
            for _, r in top.iterrows()]
    det = {str(k): int(v) for k, v in rep.table[rep.table["layer"] == DETECTOR_LAYER]["kind"].value_counts().items() if v}
    ev = rep.evaluation
    angle = [] if ev is None else [
        {"noise": r["noise"], "ranking": r["ranking"],
         "precision": f"{r['precision_at_k']:.2f} [{r['precision_at_k_lo']:.2f}, {r['precision_at_k_hi']:.2f}]",
         "ap": f"{r['ap']:.2f} [{r['ap_lo']:.2f}, {r['ap_hi']:.2f}]"} for _, r in ev.iterrows()]
    return Section(command=f"yololens suspects {EXTRACT_DIR} --inject-noise {NOISE:g} --seed {ctx.opts.seed}", data={
        "finding": rep.finding, "answer": rep.evaluation_line, "stage": rep.primary, "rows": rows,
        "grouping": rep.grouping, "detector": det, "angle": angle, "unscored": rep.unscored,
        "csv": ctx.rel(rep.paths["csv"]), "eval_csv": ctx.rel(rep.paths["eval"]) if "eval" in rep.paths else None,
        "summary": rep.finding})
