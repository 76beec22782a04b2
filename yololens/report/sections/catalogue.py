"""The layer catalogue (``yololens layers``), marking the layers the other sections use."""

from __future__ import annotations

from yololens.report.context import Context, Section
from yololens.report.sections.maps import map_layers


def run_catalogue(ctx: Context) -> Section:
    from yololens.model.catalogue import default_layers

    rows = ctx.catalogue()
    emb = set(ctx.layer_ids or default_layers(ctx.model))
    maps_layers = set(map_layers(ctx))
    table = []
    for r in rows:
        d = r.as_dict()
        src = d["from"]
        table.append({
            "index": d["index"], "module": d["module"], "from": ",".join(map(str, src)) if isinstance(src, list) else src,
            "shape": r.shape_text, "stride": d["stride"] if d["stride"] is not None else "",
            "level": f"P{d['level']}" if d["level"] is not None else "", "role": d["role"],
            "aliases": ", ".join(d["aliases"]), "embedding": d["index"] in emb, "maps": d["index"] in maps_layers,
        })
    n_params = sum(p.numel() for p in ctx.model.net.parameters())
    roles = {role: sum(1 for r in rows if r.role == role) for role in ("backbone", "neck", "head")}
    summary = f"{len(rows)} layers ({roles['backbone']} backbone, {roles['neck']} neck, {roles['head']} head)"
    return Section(command=f"yololens layers {ctx.model_arg()}",
                   data={"rows": table, "summary": summary, "params": f"{n_params / 1e6:.2f} M", "roles": roles})
