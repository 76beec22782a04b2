"""``yololens project``, ``yololens plot`` and ``yololens stages``: 2-D projections, scatter plots, stage report."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from yololens.cli.common import EXIT_SKIPPED, cli_errors, exit_for_skips
from yololens.options import typer_bounds
from yololens.types import Method, Origin, StageOrigin

RUN_HELP = "Run folder: the output folder of `yololens extract` (holds objects.parquet); results are written into it."
LAYER_HELP = "Embedding column: 9 -> emb_L9, coef -> emb_coef; several as 9,15,21 or 'all'."
METHOD_HELP = "tsne (openTSNE), umap (needs: pip install \"yololens\\[umap]\") or pca."
SEED_HELP = "Random seed: the same seed gives identical coordinates and samples."
STAGES_SEED_HELP = "Random seed of the sampling, the cross-validation folds and the bootstrap: the same seed gives identical scores."
SAMPLE_HELP = "Class-stratified sample of this many objects (deterministic with --seed; 0 = all)."
ORIGIN_HELP = "Which objects: all, gt or pred."
STAGES_ORIGIN_HELP = ("Which objects' classes are scored: auto (default: gt, the label classes, when the table has "
                      "ground truth, else all), gt, pred, or all (mixes label and model vocabularies on --boxes both "
                      "tables; said in the report).")
GROUP_BY_HELP = ("Keep objects sharing this column's value on one side of every fold (and resample those groups in "
                 "the bootstrap): auto (default: video when the table has one, else image), image, video, track_id, "
                 "any other column, or none.")
STRICT_HELP = ("Refuse (exit 2) rows whose embedding holds NaN/inf; without it they are left out with one line "
               "naming the column and the count, and the command exits 1.")
LABEL_HELP = "Class column used for stratified sampling (and for the stage metrics)."
KL_TOL_HELP = ("Stop t-SNE once KL falls by less than this fraction per 25 iterations (default 0.005; 0 = run "
               "every --n-iter).")
EXAG_HELP = "t-SNE early-exaggeration iterations (default 100; openTSNE's own default is 250)."
LARGE_N_HELP = ("Above this many objects, fit a class-stratified sample (--fit-sample) and place the rest with the "
                "fitted model's transform, in chunks (0 = always fit every object).")


def _sample(n: Optional[int]) -> Optional[int]:
    return None if n is None or n == 0 else n  # 0 = all; a negative count is refused by the range table


def _layers(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def register(app: typer.Typer) -> None:
    """Add ``project``, ``plot`` and ``stages`` to ``app``."""

    @app.command("project")
    @cli_errors
    def project_cmd(
        out: Path = typer.Argument(..., metavar="RUN", help=RUN_HELP, show_default=False),
        layer: str = typer.Option("9", "--layer", "-l", help=LAYER_HELP),
        method: Method = typer.Option(Method.TSNE, "--method", help=METHOD_HELP),
        seed: int = typer.Option(0, "--seed", help=SEED_HELP),
        sample: Optional[int] = typer.Option(None, "--sample", help=SAMPLE_HELP),
        origin: Origin = typer.Option(Origin.ALL, "--origin", help=ORIGIN_HELP),
        label: str = typer.Option("class_name", "--label", help=LABEL_HELP),
        pca_dims: int = typer.Option(50, "--pca-dims", help="PCA pre-reduction before t-SNE/UMAP (0 = off)."),
        normalize: bool = typer.Option(False, "--normalize/--no-normalize", help="L2-normalise embeddings first."),
        perplexity: float = typer.Option(30.0, "--perplexity", help="t-SNE perplexity."),
        n_neighbors: int = typer.Option(15, "--n-neighbors", help="UMAP n_neighbors."),
        min_dist: float = typer.Option(0.1, "--min-dist", help="UMAP min_dist."),
        jobs: int = typer.Option(-1, "--jobs", "-j", help="Threads for t-SNE (-1 = all cores)."),
        gradient: str = typer.Option("auto", "--gradient", help="t-SNE gradient: fft, bh or auto (bh below 10k points)."),
        n_iter: int = typer.Option(500, "--n-iter", help="t-SNE iterations after early exaggeration (at most, with --kl-tol)."),
        exaggeration_iter: Optional[int] = typer.Option(None, "--exaggeration-iter", help=EXAG_HELP),
        kl_tol: Optional[float] = typer.Option(None, "--kl-tol", help=KL_TOL_HELP),
        large_n: int = typer.Option(200_000, "--large-n", help=LARGE_N_HELP),
        fit_sample: Optional[int] = typer.Option(None, "--fit-sample",
                                                 help="Objects fitted in large-N mode (default: --large-n)."),
        strict: bool = typer.Option(False, "--strict", help=STRICT_HELP),
    ) -> None:
        """Project object embeddings to 2-D; writes OUT/projections/<stage>_<method>.parquet (+ .json).

        Above --large-n objects it fits a class-stratified sample and places the rest with the fitted model
        (the projection's parameters and the plot say so).
        """
        from yololens.analysis.projection import project
        from yololens.analysis.table import resolve_columns

        route = {k: v for k, v in (("exaggeration_iter", exaggeration_iter), ("kl_tol", kl_tol)) if v is not None}
        if route.get("kl_tol") == 0:
            route["kl_tol"] = None
        skips: list[str] = []
        for col in resolve_columns(out, layer):
            res = project(
                out, col, method, seed=seed, sample=_sample(sample), origin=origin, label=label,
                pca_dims=pca_dims or None, normalize=normalize, perplexity=perplexity, n_neighbors=n_neighbors,
                min_dist=min_dist, n_jobs=jobs, gradient=gradient, n_iter=n_iter, large_n=large_n,
                fit_sample=_sample(fit_sample), strict=strict, **route,
            )
            secs = sum(v for k, v in res.timings.items() if k.endswith("_s"))
            typer.echo(f"{res.column}: {len(res):,} objects -> {res.path} ({secs:.1f} s)")
            skips.extend(res.skips)
        for line in skips:
            typer.echo(f"skipped {line}", err=True)
        exit_for_skips(len(skips))

    @app.command("plot")
    @cli_errors
    def plot_cmd(
        out: Path = typer.Argument(..., metavar="RUN", help=RUN_HELP, show_default=False),
        layer: str = typer.Option("9", "--layer", "-l", help=LAYER_HELP + " Several -> small multiples."),
        method: Method = typer.Option(Method.TSNE, "--method", help=METHOD_HELP),
        color: str = typer.Option("class_name", "--color", "-c",
                                  help="Colour column: class_name, status, origin, size_bin, attr_weather, score, ..."),
        fmt: str = typer.Option("png", "--format", help="Static figure format: png or svg."),
        html: bool = typer.Option(True, "--html/--no-html",
                                  help="Also write the interactive HTML (bokeh, offline; a Suspects list after `suspects`)."),
        thumbnails: int = typer.Option(0, "--thumbnails", help="Object crops drawn on the static plot, per panel (0 = none)."),
        hover_thumbnails: int = typer.Option(1000, "--hover-thumbnails", help="Crops embedded for hover in the HTML."),
        thumb_size: int = typer.Option(64, "--thumb-size", help="Thumbnail size in pixels (longest side)."),
        images_root: Optional[Path] = typer.Option(None, "--images-root",
                                                   help="Folder the table's relative image paths are under."),
        seed: int = typer.Option(0, "--seed", help=SEED_HELP),
        sample: Optional[int] = typer.Option(None, "--sample", help=SAMPLE_HELP),
        origin: Origin = typer.Option(Origin.ALL, "--origin", help=ORIGIN_HELP),
        label: str = typer.Option("class_name", "--label", help=LABEL_HELP),
        max_categories: int = typer.Option(20, "--max-categories", help="More values than this are folded into 'other'."),
        pca_dims: int = typer.Option(50, "--pca-dims", help="PCA pre-reduction before t-SNE/UMAP (0 = off)."),
        normalize: bool = typer.Option(False, "--normalize/--no-normalize", help="L2-normalise embeddings first."),
        perplexity: float = typer.Option(30.0, "--perplexity", help="t-SNE perplexity."),
        n_iter: int = typer.Option(500, "--n-iter", help="t-SNE iterations after early exaggeration."),
        strict: bool = typer.Option(False, "--strict", help=STRICT_HELP),
        max_points: Optional[int] = typer.Option(None, "--max-points", **typer_bounds("max_points"),
                                                 help="Points drawn (hover, click, select) in the HTML. Default: "
                                                      "140,000 for one stage, fewer for several (the page stays under "
                                                      "25 MB); above it a class-stratified sample over a density "
                                                      "image of every object."),
        keep: Optional[str] = typer.Option(None, "--keep",
                                           help="Objects always among the HTML's points: a filter on the table's "
                                                "columns (comparisons, in, and/or/not, isna/notna; never code), "
                                                "e.g. \"class_name == 'train' or status == 'FN'\"."),
    ) -> None:
        """Scatter plot of a projection (PNG/SVG + interactive HTML); reuses or computes the projection.

        Several layers draw one panel per stage over the same objects; with --layer all a stage that only some
        objects have (emb_coef: predictions only) is left out with a note, never silently.
        """
        from yololens.jobs.plot import plot

        res = plot(
            out, layer, method, color, seed=seed, sample=_sample(sample), origin=origin, label=label, fmt=fmt,
            html=html, thumbnails=thumbnails, hover_thumbnails=hover_thumbnails, thumb_size=thumb_size,
            images_root=images_root, max_categories=max_categories,
            projection=dict(pca_dims=pca_dims or None, normalize=normalize, perplexity=perplexity, n_iter=n_iter),
            strict=strict, max_points=max_points, keep=keep,
        )
        for note in res.notes:
            typer.echo(f"note: {note}")
        for kind, path in res.paths.items():
            typer.echo(f"{kind}: {path}")
        for line in res.skips:
            typer.echo(f"skipped {line}", err=True)
        exit_for_skips(len(res.skips))

    @app.command("stages")
    @cli_errors
    def stages_cmd(
        out: Path = typer.Argument(..., metavar="RUN", help=RUN_HELP, show_default=False),
        label: str = typer.Option("class_name", "--label", help="Class column the stages are scored on."),
        layer: Optional[str] = typer.Option(None, "--layer", "-l", help="Only these stages (default: every emb_*)."),
        origin: StageOrigin = typer.Option(StageOrigin.AUTO, "--origin", help=STAGES_ORIGIN_HELP),
        group_by: str = typer.Option("auto", "--group-by", help=GROUP_BY_HELP),
        sample: int = typer.Option(5000, "--sample", help="Class-stratified cap on objects per stage (0 = all)."),
        folds: int = typer.Option(5, "--folds", help="Stratified (grouped) cross-validation folds."),
        k: int = typer.Option(10, "--k", help="Neighbours for k-NN accuracy and trustworthiness."),
        min_class_count: Optional[int] = typer.Option(None, "--min-class-count",
                                                      help="Drop classes with fewer objects (at least --folds)."),
        bootstrap: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples for the 95% CIs."),
        seed: int = typer.Option(0, "--seed", help=STAGES_SEED_HELP),
        trust_sample: int = typer.Option(2000, "--trust-sample", help="Objects used for trustworthiness."),
        trust_method: Optional[str] = typer.Option(None, "--trust-method",
                                                   help="Also project the trust sample with tsne/umap/pca."),
        fmt: str = typer.Option("png", "--format", help="Chart format: png or svg."),
        strict: bool = typer.Option(False, "--strict", help=STRICT_HELP),
    ) -> None:
        """Stage report: k-NN / linear-probe accuracy, silhouette, Davies-Bouldin per stage with 95% CIs.

        Folds are grouped (by video, else image) and the ground-truth classes are scored when the table has
        ground truth; the report says which grouping, vocabulary and class map were used.
        """
        from yololens.jobs.stages import stages

        rep = stages(
            out, label=label, layers=_layers(layer) if layer else None, origin=origin, group_by=group_by,
            sample=_sample(sample), n_folds=folds, k=k, min_class_count=min_class_count, n_boot=bootstrap, seed=seed,
            trust_sample=trust_sample, trust_method=trust_method, chart_format=fmt, strict=strict,
        )
        typer.echo(rep.verdict.text)  # the answer first; when the data cannot answer, that one line and exit 1
        if rep.insufficient:
            raise typer.Exit(EXIT_SKIPPED)
        typer.echo(rep.details)
        for kind, path in rep.paths.items():
            typer.echo(f"{kind}: {path}")
        for line in rep.skips:
            typer.echo(f"skipped {line}", err=True)
        exit_for_skips(len(rep.skips))
