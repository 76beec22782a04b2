"""Objects in 2-D, per stage (``yololens plot``): t-SNE small multiples with settings that suit small sets."""

from __future__ import annotations

from yololens.report.context import EXTRACT_DIR, LABEL, Context, Section
from yololens.types import BoxMode, Method, Origin, SectionStatus

MIN_TSNE = 10  # fewer objects than this: PCA (t-SNE needs perplexity < n and then shows nothing useful)
THUMB_PX = 64
PANEL_PX = 300  # bokeh panel side in the page: three beside the controls at 1440 px, two at 1024
SINGLE_THREAD_TSNE = 5000  # openTSNE's thread pool costs more than it gains below this many points


def _projection_columns(ctx: Context) -> list[str]:
    """Embedding columns for the small multiples: every ``emb_L*``, plus ``emb_coef`` when every object has
    one (seg models, predictions only), so that all panels show the same objects."""
    from yololens.analysis import table as T

    cols = T.embedding_columns(T.read_schema(ctx.extract_dir))
    # the validity masks come from the Parquet statistics (or a streamed scan): no column is read whole
    return [c for c in cols if c.startswith("emb_L") or T.valid_embedding_mask(ctx.extract_dir, c).all()]


def tsne_settings(n: int, method: str) -> tuple[Method, dict, str | None]:
    """Method and projection keyword arguments for ``n`` objects, and a note when they differ from the defaults.

    t-SNE lowers its perplexity for few objects (one rule with ``plot``:
    :func:`~yololens.analysis.projection.effective_perplexity`); below :data:`MIN_TSNE` objects
    the report uses PCA. openTSNE runs single-threaded below :data:`SINGLE_THREAD_TSNE` points (faster there).
    """
    note = None
    method = Method(method)
    if method == Method.TSNE and n < MIN_TSNE:
        return Method.PCA, {}, f"PCA instead of t-SNE: only {n} objects (t-SNE needs at least {MIN_TSNE} to mean anything)"
    kw: dict = {}
    if method == Method.TSNE:
        from yololens.analysis.projection import effective_perplexity, perplexity_note

        kw = {"perplexity": round(effective_perplexity(30.0, n), 2), "n_jobs": 1 if n <= SINGLE_THREAD_TSNE else -1}
        note = perplexity_note(30.0, n)
    elif method == Method.UMAP:
        kw = {"n_neighbors": int(max(2, min(15, n - 1)))}
    return method, kw, note


def run_projection(ctx: Context) -> Section:
    from yololens.analysis import table as T
    from yololens.analysis.projection import select_rows
    from yololens.figures.coloring import METHOD_TITLES
    from yololens.jobs.plot import plot

    skip = ctx.no_objects()
    if skip:
        return skip
    o = ctx.opts
    cols = _projection_columns(ctx)
    rows, _ = select_rows(ctx.extract_dir, cols[0], origin=Origin.ALL, sample=o.sample, seed=o.seed, label=LABEL,
                          require=cols[1:])
    n = len(rows)
    if n < 3:
        return Section(status=SectionStatus.SKIPPED,
                       note=f"only {n} objects: a 2-D map needs at least 3")
    method, kw, note = tsne_settings(n, o.method)
    res = plot(ctx.extract_dir, cols, method, LABEL, seed=o.seed, sample=o.sample, origin=Origin.ALL, label=LABEL,
               html=True, hover_thumbnails=o.hover_thumbnails, thumb_size=THUMB_PX, projection=kw)
    script, div = _embed(ctx, res, method)
    stages = [T.stage_label(c) for c in cols]
    extra = f" --perplexity {kw['perplexity']:g}" if "perplexity" in kw else ""
    cmd = (f"yololens plot {EXTRACT_DIR} --layer {','.join(stages)} --method {method}{extra}"
           + (f" --sample {o.sample}" if o.sample else ""))
    summary = f"{METHOD_TITLES[method]} of {len(stages)} stages, {n} objects"
    return Section(command=cmd, data={
        "script": script, "div": div, "n": n, "method": METHOD_TITLES[method], "stages": stages, "note": note,
        "summary": summary, "png": ctx.rel(res.paths[next(k for k in res.paths if k != "html")]),
        "html": ctx.rel(res.paths["html"]) if "html" in res.paths else None,
        "n_total": ctx.n_objects, "sampled": n < ctx.n_objects, "has_gt": ctx.boxes is not BoxMode.PRED,
        "hover": min(o.hover_thumbnails, n)})


def _embed(ctx: Context, res, method: str) -> tuple[str, str]:
    """The same bokeh layout as the standalone HTML (yololens.figures.scatter_html), sized for the page."""
    from bokeh.embed import components

    from yololens.analysis import table as T
    from yololens.analysis.suspect_columns import page_suspects
    from yololens.figures.coloring import METHOD_TITLES
    from yololens.figures.explorer_layout import build_layout
    from yololens.figures.scatter_html import interactive_points

    o = ctx.opts
    ids = res.projections[0].object_ids
    stage_labels = [T.stage_label(p.column) for p in res.projections]
    # the suspects section ran first (RUN_ORDER): its scores and the ranked panel, as in `plot`'s page
    meta, suspects = page_suspects(T.read_meta(ctx.extract_dir), ctx.extract_dir, stage_labels)
    meta = meta.set_index("object_id", drop=False).reindex(ids).reset_index(drop=True)
    lay = interactive_points(ctx.extract_dir, res.projections, meta, label=LABEL, seed=o.seed,
                            hover_thumbnails=o.hover_thumbnails, thumb_size=THUMB_PX,
                            image_paths={r.name: r.path for r in ctx.source.records})
    title = f"{METHOD_TITLES[method]} of {', '.join(stage_labels)}: {len(meta):,} objects"
    layout = build_layout(lay.projs, lay.meta, initial=LABEL, label=LABEL, thumbs=lay.thumbs, seed=o.seed,
                          title=title, selection_name="report_selection.csv", explorer=lay.explorer,
                          density=lay.density, n_total=lay.n_total,
                          panel_px=PANEL_PX if len(res.projections) > 1 else 2 * PANEL_PX,
                          wheel_zoom=False,  # the wheel scrolls the report; the toolbar button turns zoom on
                          suspects=suspects)
    return components(layout)
