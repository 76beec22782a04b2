"""The report's sections: each runs one existing yololens job and returns what the template shows.

No analysis lives here: the sections call ``extract``, ``maps``, ``plot``, ``stages``, ``protos`` and the
coefficient report, and only choose settings that suit the data at hand (e.g. a t-SNE perplexity for a
handful of objects) and collect the files they wrote as paths relative to the report folder.
"""

from __future__ import annotations

import json
import os
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path

from yololens.report.build import ReportOptions, Section

TITLES = {
    "extract": "Object embeddings",
    "catalogue": "Layer catalogue",
    "maps": "Stage feature maps",
    "projection": "Objects in 2-D, per stage",
    "stages": "Which stage separates the classes best?",
    "seg": "Seg internals: prototypes × coefficients",
    "manifest": "Run manifest",
}
PHASE_TEXT = {
    "catalogue": "layer catalogue (yololens layers)",
    "maps": "stage feature maps (yololens maps)",
    "projection": "2-D maps of the object embeddings (yololens plot)",
    "stages": "stage report (yololens stages)",
    "seg": "mask prototypes and coefficients (yololens protos, coef-report)",
}
EXTRACT_DIR, MAPS_DIR, SEG_DIR = "extract", "maps", "seg"
LABEL = "class_name"
MAP_CHANNELS = 8
MIN_TSNE = 10  # fewer objects than this: PCA (t-SNE needs perplexity < n and then shows nothing useful)
THUMB_PX = 64
PANEL_PX = 270  # bokeh panel side in the page (the standalone HTML keeps its own size)
SINGLE_THREAD_TSNE = 5000  # openTSNE's thread pool costs more than it gains below this many points


@dataclass
class Context:
    """What the sections share: the loaded model, the source, the options and earlier results."""

    out: Path
    model: object
    opts: ReportOptions
    log: object = print
    device: str | None = None
    source: object = None
    labels: object = None
    source_arg: str | None = None
    boxes: str = "pred"
    layer_ids: list = field(default_factory=list)
    extract: object = None
    n_objects: int = 0
    skips: list = field(default_factory=list)
    _catalogue: list | None = None

    @property
    def extract_dir(self) -> Path:
        return self.out / EXTRACT_DIR

    @property
    def is_seg(self) -> bool:
        return self.model.task == "segment"

    def rel(self, path: str | os.PathLike) -> str:
        """``path`` relative to the report folder, with forward slashes (for href/src)."""
        return Path(os.path.relpath(Path(path), self.out)).as_posix()

    def catalogue(self) -> list:
        if self._catalogue is None:
            from yololens.model.catalogue import build_catalogue

            self._catalogue = build_catalogue(self.model, imgsz=self.opts.imgsz)
        return self._catalogue

    def model_arg(self) -> str:
        return shlex.quote(str(self.model.path or self.model.source))

    def source_args(self) -> str:
        src = self.source_arg
        if src is None:
            return "--source IMAGES"
        text = f"--source {shlex.quote(str(src))}"
        return text + (f" --labels {shlex.quote(str(self.labels))}" if self.labels else "")


# ----------------------------------------------------------------------------------------- setup


def load(model, device):
    from yololens.model.loading import LoadedModel, load_model

    return model if isinstance(model, LoadedModel) else load_model(model, device=device)


def model_line(lm) -> str:
    weights = "trained weights" if lm.trained else "UNTRAINED weights (random)"
    return f"{lm.source}: {lm.task}, {lm.family}, {lm.nc} classes, {weights}, on {lm.device}"


def open_source(source, labels, fmt):
    from yololens.sources.records import ImageRecord, Source

    if isinstance(source, Source):
        return source
    if isinstance(source, (list, tuple)):
        return Source([ImageRecord(i, Path(p), Path(p).name) for i, p in enumerate(source)], format="list")
    if source is None:
        from yololens.errors import InputError

        raise InputError("no --source given")
    from yololens.sources.resolve import open_source as _open

    return _open(source, labels=labels, fmt=fmt)


def _first_images(ctx: Context):
    from yololens.sources.records import Source

    return Source(list(ctx.source.records[: ctx.opts.max_images]), format=ctx.source.format)


# --------------------------------------------------------------------------------------- extract


def run_extract(ctx: Context) -> Section:
    from yololens.engine.extract import extract
    from yololens.model.catalogue import resolve_layers

    o = ctx.opts
    ctx.boxes = o.boxes if o.boxes != "auto" else ("both" if ctx.source.has_labels else "pred")
    ctx.layer_ids = resolve_layers(ctx.model, o.layers)
    res = extract(ctx.model, ctx.source, out=ctx.extract_dir, layers=ctx.layer_ids, boxes=ctx.boxes, imgsz=o.imgsz,
                  batch=o.batch, conf=o.conf, iou=o.iou, max_det=o.max_det, crops=True, workers=o.workers,
                  overwrite=o.overwrite, progress=o.progress, backend=o.backend, threads=o.threads)
    ctx.extract = res
    ctx.skips.extend(str(s) for s in res.skips)
    counts = res.manifest.get("counts", {})
    ctx.n_objects = int(counts.get("objects_total") or 0) if res.table_path else 0
    layers = ", ".join(f"L{x}" for x in ctx.layer_ids)
    cmd = (f"yololens extract --model {ctx.model_arg()} {ctx.source_args()} --boxes {ctx.boxes} "
           f"--layers {','.join(map(str, ctx.layer_ids))} --conf {o.conf:g} --crops --out {EXTRACT_DIR}")
    note = f"{ctx.n_objects} objects from {counts.get('images_in_source', len(ctx.source))} images at {layers}"
    return Section("extract", TITLES["extract"], note=note, command=cmd,
                   data={"summary": note, "counts": counts, "boxes": ctx.boxes, "layers": list(ctx.layer_ids),
                         "table": ctx.rel(res.table_path) if res.table_path else None,
                         "manifest": ctx.rel(ctx.extract_dir / "manifest.json")})


def _no_objects(ctx: Context, key: str) -> Section | None:
    """A ``skipped`` section when extract produced no objects (or failed), else None."""
    if ctx.extract is None:
        return Section(key, TITLES[key], status="skipped", note="the extract step failed, so there are no objects")
    if ctx.n_objects == 0:
        why = (" (untrained weights score every box near zero; lower --conf to see the plumbing)"
               if not ctx.model.trained else "; lower --conf or use more images")
        return Section(key, TITLES[key], status="skipped",
                       note=f"the model detected no objects at confidence {ctx.opts.conf:g}{why}")
    return None


# ------------------------------------------------------------------------------------- catalogue


def run_catalogue(ctx: Context) -> Section:
    from yololens.model.catalogue import default_layers

    rows = ctx.catalogue()
    emb = set(ctx.layer_ids or default_layers(ctx.model))
    maps_layers = set(_map_layers(ctx))
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
    return Section("catalogue", TITLES["catalogue"], command=f"yololens layers {ctx.model_arg()}",
                   data={"rows": table, "summary": summary, "params": f"{n_params / 1e6:.2f} M", "roles": roles})


# ------------------------------------------------------------------------------------------ maps


def _map_layers(ctx: Context) -> list:
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
    from yololens.engine.maps import maps

    o = ctx.opts
    src = _first_images(ctx)
    layers = _map_layers(ctx)
    res = maps(ctx.model, src, layers, ctx.out / MAPS_DIR, imgsz=o.imgsz, batch=o.batch, channels=MAP_CHANNELS,
               npy=False, progress=o.progress, workers=o.workers, backend=o.backend, threads=o.threads)
    ctx.skips.extend(str(s) for s in res.skips if str(s) not in ctx.skips)
    stems = {}
    for r in ctx.catalogue():
        stems[r.index] = ("proto" if r.index == "proto" else f"L{r.index}_{r.module}", r)
    images = []
    for im in res.images:
        folder = ctx.out / MAPS_DIR / im.folder
        files = set(im.files)
        per_layer = []
        for layer in res.layers:
            stem, info = stems.get(layer, (f"L{layer}", None))
            links = [(kind, ctx.rel(folder / f"{stem}_{suffix}.png")) for kind, suffix in
                     (("channels", "channels"), ("heatmap", "overlay"), ("PCA", "pca")) if f"{stem}_{suffix}.png" in files]
            per_layer.append({"label": f"L{layer} {info.module}" if info else str(layer),
                              "shape": info.shape_text if info else "", "stride": info.stride if info else "",
                              "links": links})
        images.append({"name": im.name, "overview": ctx.rel(folder / "overview.png") if "overview.png" in files else None,
                       "layers": per_layer})
    layer_text = ",".join(map(str, layers))
    summary = f"{len(images)} images × {len(layers)} layers"
    return Section("maps", TITLES["maps"], command=f"yololens maps --model {ctx.model_arg()} --source IMAGE "
                   f"--layers {layer_text} --out {MAPS_DIR}",
                   data={"images": images, "layers": [f"L{x}" for x in layers], "summary": summary,
                         "manifest": ctx.rel(ctx.out / MAPS_DIR / "manifest.json")})


# ------------------------------------------------------------------------------------ projection


def _projection_columns(ctx: Context) -> list[str]:
    """Embedding columns for the small multiples: every ``emb_L*``, plus ``emb_coef`` when every object has
    one (seg models, predictions only), so that all panels show the same objects."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from yololens.analysis import table as T

    cols = T.embedding_columns(T.read_schema(ctx.extract_dir))
    keep = []
    for c in cols:
        arr = pq.read_table(T.objects_path(ctx.extract_dir), columns=[c])[c]
        if c.startswith("emb_L") or pc.all(pc.is_valid(arr)).as_py():
            keep.append(c)
    return keep


def tsne_settings(n: int, method: str) -> tuple[str, dict, str | None]:
    """Method and projection keyword arguments for ``n`` objects, and a note when they differ from the defaults.

    t-SNE needs perplexity < n (perplexity = max(2, min(30, (n - 1) / 3))); below :data:`MIN_TSNE` objects
    the report uses PCA. openTSNE runs single-threaded below :data:`SINGLE_THREAD_TSNE` points (faster there).
    """
    note = None
    if method == "tsne" and n < MIN_TSNE:
        return "pca", {}, f"PCA instead of t-SNE: only {n} objects (t-SNE needs at least {MIN_TSNE} to mean anything)"
    kw: dict = {}
    if method == "tsne":
        perplexity = max(2.0, min(30.0, (n - 1) / 3.0))
        kw = {"perplexity": round(perplexity, 2), "n_jobs": 1 if n <= SINGLE_THREAD_TSNE else -1}
        if perplexity < 30:
            note = f"t-SNE perplexity {perplexity:.1f} (the usual 30 needs more than 91 objects; here n = {n})"
    elif method == "umap":
        kw = {"n_neighbors": int(max(2, min(15, n - 1)))}
    return method, kw, note


def run_projection(ctx: Context) -> Section:
    from yololens.analysis import table as T
    from yololens.analysis.projection import select_rows
    from yololens.figures.scatter import METHOD_TITLES, plot

    skip = _no_objects(ctx, "projection")
    if skip:
        return skip
    o = ctx.opts
    cols = _projection_columns(ctx)
    rows, _ = select_rows(ctx.extract_dir, cols[0], origin="all", sample=o.sample, seed=o.seed, label=LABEL,
                          require=cols[1:])
    n = len(rows)
    if n < 3:
        return Section("projection", TITLES["projection"], status="skipped",
                       note=f"only {n} objects: a 2-D map needs at least 3")
    method, kw, note = tsne_settings(n, o.method)
    res = plot(ctx.extract_dir, cols, method, LABEL, seed=o.seed, sample=o.sample, origin="all", label=LABEL,
               html=True, hover_thumbnails=o.hover_thumbnails, thumb_size=THUMB_PX, projection=kw)
    script, div = _embed(ctx, res, method)
    stages = [T.stage_label(c) for c in cols]
    extra = f" --perplexity {kw['perplexity']:g}" if "perplexity" in kw else ""
    cmd = (f"yololens plot {EXTRACT_DIR} --layer {','.join(stages)} --method {method}{extra}"
           + (f" --sample {o.sample}" if o.sample else ""))
    summary = f"{METHOD_TITLES[method]} of {len(stages)} stages, {n} objects"
    return Section("projection", TITLES["projection"], command=cmd, data={
        "script": script, "div": div, "n": n, "method": METHOD_TITLES[method], "stages": stages, "note": note,
        "summary": summary, "png": ctx.rel(res.paths[next(k for k in res.paths if k != "html")]),
        "html": ctx.rel(res.paths["html"]) if "html" in res.paths else None,
        "n_total": ctx.n_objects, "sampled": n < ctx.n_objects, "has_gt": ctx.boxes != "pred",
        "hover": min(o.hover_thumbnails, n)})


def _embed(ctx: Context, res, method: str) -> tuple[str, str]:
    """The same bokeh layout as the standalone HTML (yololens.figures.scatter_html), sized for the page."""
    from bokeh.embed import components
    from bokeh.models import Plot

    from yololens.analysis import table as T
    from yololens.figures.scatter import METHOD_TITLES
    from yololens.figures.scatter_html import build_layout, hover_thumbnail_uris

    o = ctx.opts
    ids = res.projections[0].object_ids
    meta = T.read_meta(ctx.extract_dir).set_index("object_id", drop=False).reindex(ids).reset_index(drop=True)
    thumbs = hover_thumbnail_uris(ctx.extract_dir, meta, LABEL, o.hover_thumbnails, THUMB_PX, o.seed)
    stages = ", ".join(T.stage_label(p.column) for p in res.projections)
    title = f"{METHOD_TITLES[method]} of {stages}: {len(meta):,} objects"
    layout = build_layout(res.projections, meta, initial=LABEL, label=LABEL, thumbs=thumbs, seed=o.seed, title=title,
                          selection_name="report_selection.csv")
    for fig in layout.select({"type": Plot}):
        fig.width = fig.height = PANEL_PX if len(res.projections) > 1 else 2 * PANEL_PX
    return components(layout)


# ---------------------------------------------------------------------------------------- stages


def run_stages(ctx: Context) -> Section:
    import numpy as np
    import pandas as pd
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from yololens.analysis import table as T
    from yololens.analysis.stages import CI_NOTE, METRICS, stages

    skip = _no_objects(ctx, "stages")
    if skip:
        return skip
    o = ctx.opts
    schema = T.read_schema(ctx.extract_dir)
    origin = "gt" if ctx.boxes in ("gt", "both") else "all"
    cols = T.embedding_columns(schema)
    if origin == "gt":  # label classes are the truth; gt rows have no mask coefficients
        org = pq.read_table(T.objects_path(ctx.extract_dir), columns=["origin", *cols])
        is_gt = pc.equal(org["origin"], "gt")
        cols = [c for c in cols if pc.any(pc.and_(is_gt, pc.is_valid(org[c]))).as_py()]
    rep = stages(ctx.extract_dir, label=LABEL, layers=cols, origin=origin, seed=o.seed)
    df = rep.table

    def ci(r, m, digits=3):
        v = r.get(m)
        if v is None or pd.isna(v):
            return None
        return {"value": f"{v:.{digits}f}", "ci": f"{r[m + '_lo']:.{digits}f}–{r[m + '_hi']:.{digits}f}"}

    trust_cols = [c for c in df.columns if c.startswith("trust_")]
    rows = []
    for _, r in df.iterrows():
        rows.append({
            "stage": r["stage"], "dims": "" if pd.isna(r.get("dims")) else int(r["dims"]),
            "n": "" if pd.isna(r.get("n")) else int(r["n"]),
            "classes": "" if pd.isna(r.get("n_classes")) else int(r["n_classes"]),
            "chance": None if pd.isna(r.get("chance", np.nan)) else f"{r['chance']:.3f}",
            "metrics": [ci(r, m) for m, _, _ in METRICS],
            "trust": [None if pd.isna(r.get(c)) else f"{r[c]:.3f}" for c in trust_cols],
            "best": r["stage"] == rep.best,
        })
    chart = rep.paths.get("chart")
    summary = f"best stage {rep.best}" if rep.best else "no recommendation (too few objects per class)"
    return Section("stages", TITLES["stages"], command=f"yololens stages {EXTRACT_DIR} --origin {origin}", data={
        "rows": rows, "metrics": [t for _, t, _ in METRICS], "trust": [c.removeprefix("trust_") for c in trust_cols],
        "best": rep.best, "recommendation": rep.recommendation.replace(CI_NOTE, "").strip(),
        "ci_note": CI_NOTE if CI_NOTE in rep.recommendation else None, "message": rep.message,
        "dropped": rep.dropped_classes, "kept": rep.kept_classes, "threshold": rep.params.get("min_class_count"),
        "origin": origin, "chart": ctx.rel(chart) if chart else None,
        "csv": ctx.rel(rep.paths["csv"]) if "csv" in rep.paths else None, "summary": summary})


# ------------------------------------------------------------------------------------------- seg


def run_seg(ctx: Context) -> Section:
    if not ctx.is_seg:
        return Section("seg", TITLES["seg"], status="skipped", note=f"{ctx.model.task} model: no mask prototypes")
    try:
        from yololens.seg.protos import protos
    except ImportError as exc:  # the seg commands are optional building blocks
        return Section("seg", TITLES["seg"], status="skipped", note=f"seg figures unavailable ({exc})")
    o = ctx.opts
    src = _first_images(ctx)
    out = ctx.out / SEG_DIR
    res = protos(ctx.model, src, out / "protos", max_instances=o.seg_instances, conf=o.conf, iou=o.iou,
                 imgsz=o.imgsz, max_det=o.max_det, batch=1, progress=o.progress, workers=o.workers,
                 backend=o.backend, threads=o.threads)
    images = []
    for record in src.records:
        folder = res.folders.get(record.name)  # the folder protos actually wrote (names made unique there)
        if folder is None or not folder.is_dir():
            continue
        meta = _read_json(folder / "meta.json")
        inst_meta = {m["instance"]: m for m in meta.get("instances", [])}
        figs = []
        for path in sorted(folder.glob("instance_*.png")):
            try:
                i = int(path.stem.split("_")[1])
            except (IndexError, ValueError):
                continue
            m = inst_meta.get(i, {})
            figs.append({"src": ctx.rel(path), "instance": i, "class_name": m.get("class_name", ""),
                         "score": f"{m['score']:.2f}" if "score" in m else ""})
        masks = folder / "masks.png"
        images.append({"name": record.name, "masks": ctx.rel(masks) if masks.exists() else None,
                       "instances": figs, "n_instances": len(inst_meta)})
    coef = _coefficient_report(ctx, out)
    n_fig = sum(len(i["instances"]) for i in images)
    summary = f"{n_fig} instance decompositions from {len(images)} images" + (
        f", coefficient heatmap of {coef['n']} instances" if coef.get("heatmap") else "")
    return Section("seg", TITLES["seg"], command=f"yololens protos --model {ctx.model_arg()} --source IMAGE "
                   f"--max-instances {o.seg_instances} --conf {o.conf:g} --out {SEG_DIR}/protos", data={
                       "images": images, "coef": coef, "nm": ctx.model.nm, "summary": summary,
                       "per_image": o.seg_instances})


def _coefficient_report(ctx: Context, out: Path) -> dict:
    """The class x prototype coefficient heatmap and usage figures of ``yololens coef-report``
    (:mod:`yololens.seg.report`), over every predicted object of the extract table (``emb_coef``).

    Only those two figures are drawn (the per-coefficient histograms take longer than the rest of the
    section); ``yololens coef-report OUT/seg/coefficients.parquet`` draws them all."""
    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq

    from yololens.analysis import table as T

    if ctx.extract is None or ctx.n_objects == 0:
        return {"note": "no predicted objects, so no coefficients"}
    try:
        from yololens.figures.coef_report import class_mean_figure, usage_figure
        from yololens.seg.protos import save_fig
        from yololens.seg.report import CoefTable, usage_table
    except ImportError as exc:
        return {"note": f"coefficient report unavailable ({exc})"}
    schema = T.read_schema(ctx.extract_dir)
    if "emb_coef" not in schema.names:
        return {"note": "the extract table has no mask coefficients"}
    tbl = pq.read_table(T.objects_path(ctx.extract_dir), columns=["image", "class_name", "score", "emb_coef"])
    keep = np.asarray(tbl["emb_coef"].is_valid())
    if not keep.any():
        return {"note": "no predicted objects, so no coefficients"}
    tbl = tbl.filter(keep)
    X = T.embeddings_to_numpy(tbl["emb_coef"])
    classes = tbl["class_name"].to_pandas().astype(str)
    df = pd.DataFrame({"image_name": tbl["image"].to_pandas(), "class_name": classes,
                       "score": tbl["score"].to_numpy(zero_copy_only=False)})
    df = pd.concat([df, pd.DataFrame(X, columns=[f"coef_{k}" for k in range(X.shape[1])])], axis=1)
    from yololens.store.atomic import atomic_path, write_text

    table_path = out / "coefficients.parquet"
    with atomic_path(table_path) as tmp:
        df.to_parquet(tmp, index=False)
    table = CoefTable(classes.to_numpy(), list(range(X.shape[1])), X)
    usage = usage_table(table)
    folder = out / "coef_report"
    write_text(folder / "usage.csv", usage.to_csv(index=False))
    save_fig(class_mean_figure(usage, table.class_order()), folder / "class_mean.png")
    save_fig(usage_figure(usage, table.class_order()), folder / "usage.png")
    return {"n": int(len(df)), "classes": int(classes.nunique()), "heatmap": ctx.rel(folder / "class_mean.png"),
            "usage": ctx.rel(folder / "usage.png"), "usage_csv": ctx.rel(folder / "usage.csv"),
            "table": ctx.rel(table_path), "command": f"yololens coef-report {SEG_DIR}/coefficients.parquet"}


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


# -------------------------------------------------------------------------------------- manifest


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
        "sections": {k: {**s.summary(), **({"traceback": s.data["traceback"]} if "traceback" in s.data else {})}
                     for k, s in sections.items()},
        "skipped": list(ctx.skips),
        "files": files,
    }


def _safe_map_layers(ctx: Context) -> list:
    try:
        return _map_layers(ctx)
    except Exception:  # the manifest must not fail because of an option another section already reported
        return []
