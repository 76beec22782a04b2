"""The extract step: the object embeddings every later section reads (``yololens extract``)."""

from __future__ import annotations

from yololens.report.context import EXTRACT_DIR, Context, Section
from yololens.types import BoxMode, LayerId, ReportBoxMode


def run_extract(ctx: Context) -> Section:
    from yololens.jobs.extract import extract
    from yololens.model.catalogue import resolve_layers

    o = ctx.opts
    ctx.boxes = BoxMode(o.boxes) if o.boxes != ReportBoxMode.AUTO else (
        BoxMode.BOTH if ctx.source.has_labels else BoxMode.PRED)
    ctx.layer_ids = resolve_layers(ctx.model, o.layers)
    res = extract(ctx.model, ctx.source, out=ctx.extract_dir, layers=ctx.layer_ids, boxes=ctx.boxes, imgsz=o.imgsz,
                  batch=o.batch, conf=o.conf, iou=o.iou, max_det=o.max_det, crops=True, workers=o.workers,
                  overwrite=o.overwrite, progress=o.progress, class_map=o.class_map,
                  backend=o.backend, threads=o.threads)
    ctx.extract = res
    ctx.skips.extend(str(s) for s in res.skips)
    counts = res.counts
    ctx.n_objects = int(counts.objects_total or 0) if res.table_path else 0
    layers = ", ".join(str(LayerId.of(x)) for x in ctx.layer_ids)
    cmd = (f"yololens extract --model {ctx.model_arg()} {ctx.source_args()} --boxes {ctx.boxes} "
           f"--layers {','.join(map(str, ctx.layer_ids))} --conf {o.conf:g} --crops --out {EXTRACT_DIR}"
           + (f" --class-map {o.class_map}" if o.class_map else ""))
    params = res.manifest.get("params", {})  # which backend and precision made the numbers
    note = (f"{ctx.n_objects} objects from {counts.images_in_source} images at {layers} "
            f"({params.get('backend')}, {params.get('precision')})")
    return Section(note=note, command=cmd,
                   data={"summary": note, "counts": counts.to_dict(), "boxes": ctx.boxes, "layers": list(ctx.layer_ids),
                         "table": ctx.rel(res.table_path) if res.table_path else None,
                         "manifest": ctx.rel(ctx.extract_dir / "manifest.json")})
