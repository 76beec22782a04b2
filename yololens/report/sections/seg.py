"""Seg internals: the prototype x coefficient decomposition (``yololens protos``) of the first images, and
the class x prototype coefficient heatmap (``yololens coef-report``) over every predicted object."""

from __future__ import annotations

from pathlib import Path

from yololens.report.context import SEG_DIR, Context, Section
from yololens.types import SectionStatus

COEF_TABLE = "coefficients.parquet"


def run_seg(ctx: Context) -> Section:
    if not ctx.is_seg:
        return Section(status=SectionStatus.SKIPPED, note=f"{ctx.model.task} model: no mask prototypes")
    from yololens.jobs.protos import protos

    o = ctx.opts
    src = ctx.first_images()
    out = ctx.out / SEG_DIR
    res = protos(ctx.model, src, out / "protos", max_instances=o.seg_instances, conf=o.conf, iou=o.iou,
                 imgsz=o.imgsz, max_det=o.max_det, batch=1, progress=o.progress, workers=o.workers,
                 backend=o.backend, threads=o.threads)
    images = []
    for record in src.records:
        page = res.pages.get(record.name)  # what protos wrote for this image (folder names made unique there)
        if page is None:
            continue
        figs = [{"src": ctx.rel(f.path), "instance": f.instance, "class_name": f.class_name, "score": f"{f.score:.2f}"}
                for f in page.instances]
        images.append({"name": record.name, "masks": ctx.rel(page.masks), "instances": figs,
                       "n_instances": page.n_instances})
    coef = _coefficient_report(ctx, out)
    n_fig = sum(len(i["instances"]) for i in images)
    summary = f"{n_fig} instance decompositions from {len(images)} images" + (
        f", coefficient heatmap of {coef['n']} instances" if coef.get("heatmap") else "")
    return Section(command=f"yololens protos --model {ctx.model_arg()} --source IMAGE "
                   f"--max-instances {o.seg_instances} --conf {o.conf:g} --out {SEG_DIR}/protos", data={
                       "images": images, "coef": coef, "nm": ctx.model.nm, "summary": summary,
                       "per_image": o.seg_instances})


def _coefficient_report(ctx: Context, out: Path) -> dict:
    """``yololens coef-report`` over the mask coefficients (``emb_coef``) of every predicted object of the
    extract table, written as ``OUT/seg/coefficients.parquet`` first.

    The per-coefficient histograms are left out (they take longer than the rest of the section);
    ``yololens coef-report OUT/seg/coefficients.parquet`` draws them too."""
    import numpy as np
    import pandas as pd

    from yololens.analysis import table as T
    from yololens.jobs.coef_report import coef_report
    from yololens.store.atomic import atomic_path

    if ctx.extract is None or ctx.n_objects == 0:
        return {"note": "no predicted objects, so no coefficients"}
    if "emb_coef" not in T.read_schema(ctx.extract_dir).names:
        return {"note": "the extract table has no mask coefficients"}
    tbl = ctx.extract.table(columns=["image", "class_name", "score", "emb_coef"])
    keep = np.asarray(tbl["emb_coef"].is_valid())
    if not keep.any():
        return {"note": "no predicted objects, so no coefficients"}
    tbl = tbl.filter(keep)
    X = T.embeddings_to_numpy(tbl["emb_coef"])
    df = pd.DataFrame({"image_name": tbl["image"].to_pandas(), "class_name": tbl["class_name"].to_pandas().astype(str),
                       "score": tbl["score"].to_numpy(zero_copy_only=False)})
    df = pd.concat([df, pd.DataFrame(X, columns=[f"coef_{k}" for k in range(X.shape[1])])], axis=1)
    table_path = out / COEF_TABLE
    with atomic_path(table_path) as tmp:
        df.to_parquet(tmp, index=False)
    rep = coef_report(table_path, out / "coef_report", histograms=False)
    return {"n": rep.n_instances, "classes": rep.n_classes, "heatmap": ctx.rel(rep.file("class_mean.png")),
            "usage": ctx.rel(rep.file("usage.png")), "usage_csv": ctx.rel(rep.file("usage.csv")),
            "table": ctx.rel(table_path), "command": f"yololens coef-report {SEG_DIR}/{COEF_TABLE}"}
