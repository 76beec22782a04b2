"""``OUT/report.json``: the run manifest of a report (model hash, versions, settings, timings, sections, skips)."""

from __future__ import annotations

import time

from yololens.report.context import EXTRACT_DIR, MAPS_DIR, Context
from yololens.report.sections.maps import map_layers


def manifest(ctx: Context, sections: dict, timings: dict, title: str | None, notes: list) -> dict:
    import bokeh
    import jinja2
    import matplotlib
    import sklearn

    from yololens.store.manifest import versions

    o = ctx.opts
    vers = versions()
    vers.update({"bokeh": bokeh.__version__, "jinja2": jinja2.__version__, "matplotlib": matplotlib.__version__,
                 "scikit-learn": sklearn.__version__})
    try:
        import openTSNE

        vers["openTSNE"] = openTSNE.__version__
    except ImportError:
        pass
    files = {"index": "index.html", "report": "report.json"}
    for key, rel in (("extract_manifest", f"{EXTRACT_DIR}/manifest.json"), ("maps_manifest", f"{MAPS_DIR}/manifest.json"),
                     ("objects", f"{EXTRACT_DIR}/objects.parquet")):
        if (ctx.out / rel).exists():
            files[key] = rel
    return {
        "command": "report",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "title": title,
        "notes": notes,
        "params": {
            "source": ctx.source_arg or f"{len(ctx.source)} images given as a list", "labels": str(ctx.labels) if ctx.labels else None,
            "format": ctx.source.format, "out": str(ctx.out), "boxes": ctx.boxes, "conf": o.conf, "iou": o.iou,
            "max_det": o.max_det, "imgsz": o.imgsz, "batch": o.batch, "device": str(ctx.model.device),
            "layers": [str(x) for x in ctx.layer_ids], "map_layers": [str(x) for x in _safe_map_layers(ctx)],
            "max_images": o.max_images, "method": o.method, "sample": o.sample, "seed": o.seed,
            "hover_thumbnails": o.hover_thumbnails, "seg_instances": o.seg_instances, "sections": list(o.sections),
        },
        "model": ctx.model.describe(),
        "versions": vers,
        "counts": {"images": len(ctx.source), "objects": ctx.n_objects, "skipped": len(ctx.skips)},
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "sections": {k: s.summary() for k, s in sections.items()},
        "skipped": list(ctx.skips),
        "files": files,
    }


def _safe_map_layers(ctx: Context) -> list:
    try:
        return map_layers(ctx)
    except Exception:  # the manifest must not fail because of an option another section already reported
        return []
