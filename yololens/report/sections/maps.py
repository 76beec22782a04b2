"""Stage feature maps (``yololens maps``) of ``--max-images`` images spread over the source order."""

from __future__ import annotations

from yololens.report.context import MAPS_DIR, Context, Section
from yololens.types import LayerId

MAP_CHANNELS = 8


def map_layers(ctx: Context) -> list:
    """``--map-layers``, else the last backbone layer at strides 4, 8 and 16, then the embedding layers."""
    from yololens.model.catalogue import resolve_layers

    if ctx.opts.map_layers:
        return resolve_layers(ctx.model, ctx.opts.map_layers, allow_proto=True)
    picks: dict[int, int] = {}
    for r in ctx.catalogue():
        if r.role == "backbone" and isinstance(r.index, int) and r.stride in (4, 8, 16):
            picks[r.stride] = r.index
    emb = ctx.layer_ids or resolve_layers(ctx.model, ctx.opts.layers)
    return sorted(set(picks.values()) | {x for x in emb if isinstance(x, int)}) + [x for x in emb if not isinstance(x, int)]


def run_maps(ctx: Context) -> Section:
    from yololens.jobs.maps import maps, stage_stem

    o = ctx.opts
    layers = map_layers(ctx)
    res = maps(ctx.model, ctx.spread_images(), layers, ctx.out / MAPS_DIR, imgsz=o.imgsz, batch=o.batch,
               channels=MAP_CHANNELS, npy=False, progress=o.progress, workers=o.workers, backend=o.backend,
               threads=o.threads)
    ctx.skips.extend(str(s) for s in res.skips if str(s) not in ctx.skips)
    stems = {}
    for r in ctx.catalogue():
        stems[r.index] = (stage_stem(r.index, r.module), r)
    images = []
    for im in res.images:
        folder = ctx.out / MAPS_DIR / im.folder
        files = set(im.files)
        per_layer = []
        for layer in res.layers:
            stem, info = stems.get(layer, (f"L{layer}", None))
            links = [(kind, ctx.rel(folder / f"{stem}_{suffix}.png")) for kind, suffix in
                     (("channels", "channels"), ("heatmap", "overlay"), ("PCA", "pca")) if f"{stem}_{suffix}.png" in files]
            per_layer.append({"label": f"{LayerId.of(layer)} {info.module}" if info else str(LayerId.of(layer)),
                              "shape": info.shape_text if info else "", "stride": info.stride if info else "",
                              "links": links})
        images.append({"name": im.name, "overview": ctx.rel(folder / "overview.png") if "overview.png" in files else None,
                       "layers": per_layer})
    layer_text = ",".join(map(str, layers))
    summary = f"{len(images)} images × {len(layers)} layers"
    return Section(command=f"yololens maps --model {ctx.model_arg()} --source IMAGE --layers {layer_text} --out {MAPS_DIR}",
                   data={"images": images, "layers": [str(LayerId.of(x)) for x in layers], "summary": summary,
                         "manifest": ctx.rel(ctx.out / MAPS_DIR / "manifest.json")})
