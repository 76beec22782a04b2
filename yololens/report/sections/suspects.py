"""Which labels are probably wrong? (``yololens suspects``): the top 20 suspects as crops with their given and
suggested labels, and which stage finds injected flips best (a third angle on "which stage?")."""

from __future__ import annotations

from yololens.report.context import EXTRACT_DIR, Context, Section
from yololens.types import BoxMode, SectionStatus

TOP = 20
NOISE = 0.1
#: Above this many labelled objects the report ranks the labels but does not validate the ranking on injected
#: flips: the validation keeps every stage's neighbours and embeddings in memory (at 1.8M objects, gigabytes) and
#: scores every flipped labelling; `yololens suspects --inject-noise` still does it when asked.
VALIDATE_MAX = 200_000


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
    run = open_run(ctx.extract_dir)
    n_gt = int(run.objects(["origin"]).to_pandas()["origin"].eq("gt").sum())
    noise = NOISE if n_gt <= VALIDATE_MAX else None
    rep = suspects(ctx.extract_dir, inject_noise=noise, seed=ctx.opts.seed)
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
    unvalidated = None if noise else (f"{n_gt:,} labelled objects: more than the report validates "
                                      f"({VALIDATE_MAX:,}); `yololens suspects {EXTRACT_DIR} --inject-noise "
                                      f"{NOISE:g}` measures how well each stage finds flipped labels")
    flags = f" --inject-noise {NOISE:g} --seed {ctx.opts.seed}" if noise else ""
    return Section(command=f"yololens suspects {EXTRACT_DIR}{flags}", data={
        "finding": rep.finding, "answer": rep.evaluation_line, "stage": rep.primary, "rows": rows,
        "unvalidated": unvalidated, "noise_pct": round(NOISE * 100),
        "grouping": rep.grouping, "detector": det, "angle": angle, "unscored": rep.unscored,
        "csv": ctx.rel(rep.paths["csv"]), "eval_csv": ctx.rel(rep.paths["eval"]) if "eval" in rep.paths else None,
        "summary": rep.finding})
