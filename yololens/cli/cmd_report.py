"""``yololens report``: run the whole pipeline on a model and images and write one HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from yololens.cli.common import (BackendOpt, BatchOpt, DeviceOpt, SourceFormatOpt, ImgszOpt, ModelOpt, SourceOpt, ThreadsOpt,
                                 WorkersOpt,
                                 cli_errors)
from yololens.types import Backend, Method, ReportBoxMode

SECTION_OPTION = {
    "catalogue": "the layer catalogue",
    "maps": "the stage feature maps",
    "projection": "the per-stage 2-D maps of the objects (t-SNE)",
    "stages": "the stage report (which stage separates the classes best)",
    "similarity": "how alike the stages are (linear CKA between every pair)",
    "suspects": "the label-error suspects (with --labels)",
    "seg": "the seg sections (prototype decompositions, coefficient heatmap)",
}


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)


def print_result(result) -> None:
    """Print the summary and where the page is; exit 1 when inputs were skipped or a section failed."""
    from yololens.cli.common import exit_for_skips

    typer.echo(result.summary())
    typer.echo(f"open the report: {result.index.resolve().as_uri()}")
    exit_for_skips(len(result.skips) + len(result.failed))


@cli_errors
def report_command(
    source: SourceOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Report folder: index.html, report.json and the data behind every figure.")] = Path("yololens-report"),
    model: ModelOpt = None,
    labels: Annotated[Optional[str], typer.Option(help="Labels: BDD100K/Scalabel JSON, COCO JSON, or a YOLO labels folder (adds ground truth: TP/FP/FN colours, stage report on the true classes).")] = None,
    source_format: SourceFormatOpt = None,
    max_images: Annotated[int, typer.Option("--max-images", min=1, help="Images shown as feature maps and seg decompositions (the first ones of the source).")] = 3,
    layers: Annotated[Optional[str], typer.Option(help="Embedding layers (indices or names). Default: SPPF + the neck outputs feeding the head.")] = None,
    map_layers: Annotated[Optional[str], typer.Option("--map-layers", help="Layers of the feature-map figures. Default: the last backbone layer at strides 4, 8, 16, then the embedding layers.")] = None,
    boxes: Annotated[ReportBoxMode, typer.Option(help="auto (both with --labels, else pred), pred, gt or both.")] = ReportBoxMode.AUTO,
    conf: Annotated[float, typer.Option(help="Confidence threshold for predictions.")] = 0.25,
    iou: Annotated[float, typer.Option(help="NMS IoU threshold.")] = 0.7,
    max_det: Annotated[int, typer.Option("--max-det", help="Maximum detections per image.")] = 300,
    method: Annotated[Method, typer.Option(help="2-D map: tsne, umap (needs: pip install \"yololens\\[umap]\") or pca. Below 10 objects PCA is used.")] = Method.TSNE,
    sample: Annotated[int, typer.Option(help="Class-stratified cap on the objects in the 2-D maps (0 = all).")] = 2000,
    hover_thumbnails: Annotated[int, typer.Option("--hover-thumbnails", help="Object crops embedded for hovering.")] = 500,
    seg_instances: Annotated[int, typer.Option("--seg-instances", min=0, help="Seg models: instance decompositions per shown image.")] = 2,
    class_map: Annotated[Optional[Path], typer.Option("--class-map", help="YAML/JSON file: label class -> model class, used to match predictions to labels (as in `yololens extract`). Default: the shipped BDD100K -> COCO map. The stage report names the map and the pairs that matched.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed (samples, t-SNE).")] = 0,
    imgsz: ImgszOpt = 640,
    batch: BatchOpt = 8,
    device: DeviceOpt = None,
    backend: BackendOpt = Backend.AUTO,
    threads: ThreadsOpt = 0,
    catalogue: Annotated[bool, typer.Option("--catalogue/--no-catalogue", help=f"Include {SECTION_OPTION['catalogue']}.")] = True,
    maps: Annotated[bool, typer.Option("--maps/--no-maps", help=f"Include {SECTION_OPTION['maps']}.")] = True,
    projection: Annotated[bool, typer.Option("--projection/--no-projection", help=f"Include {SECTION_OPTION['projection']}.")] = True,
    stages: Annotated[bool, typer.Option("--stages/--no-stages", help=f"Include {SECTION_OPTION['stages']}.")] = True,
    similarity: Annotated[bool, typer.Option("--similarity/--no-similarity", help=f"Include {SECTION_OPTION['similarity']}.")] = True,
    suspects: Annotated[bool, typer.Option("--suspects/--no-suspects", help=f"Include {SECTION_OPTION['suspects']}.")] = True,
    seg: Annotated[bool, typer.Option("--seg/--no-seg", help=f"Include {SECTION_OPTION['seg']} (seg models only).")] = True,
    overwrite: Annotated[bool, typer.Option(help="Discard earlier object embeddings in --out instead of resuming them.")] = False,
    workers: WorkersOpt = 2,
    progress: Annotated[bool, typer.Option(help="Show progress (a line per phase and the progress bars).")] = True,
) -> None:
    """Everything yololens can tell about a model, on your images, in one self-contained HTML page.

    Runs the layer catalogue, extract, maps, plot (t-SNE small multiples with hover crops), stages and,
    for seg models, protos and the coefficient heatmap, then writes OUT/index.html (relative links only,
    opens offline; copy the whole folder). Every section has a --no-<section> switch.

    Example: yololens report --model best.pt --source images/ --labels det_val.json --out report
    """
    from yololens.report import build_report

    chosen = {"catalogue": catalogue, "maps": maps, "projection": projection, "stages": stages, "similarity": similarity,
              "suspects": suspects, "seg": seg}
    result = build_report(
        model, source, labels, out=out, source_format=source_format, layers=layers, map_layers=map_layers, max_images=max_images,
        boxes=boxes, conf=conf, iou=iou, max_det=max_det, imgsz=imgsz, batch=batch, device=device, backend=backend,
        threads=threads, method=method,
        sample=sample, seed=seed, hover_thumbnails=hover_thumbnails, seg_instances=seg_instances,
        sections=[k for k, on in chosen.items() if on], overwrite=overwrite, progress=progress, workers=workers,
        class_map=class_map,
    )
    print_result(result)
