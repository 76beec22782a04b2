"""``yololens coefficients`` (per-instance mask coefficients table) and ``yololens coef-report``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from yololens.cli.common import (ExecutorOpt, RayAddressOpt, BATCH_HELP, DEFAULT_MAX_IMAGE_BYTES, DEVICE_HELP, IMGSZ_HELP, MODEL_HELP,
                                  BackendOpt, HalfOpt, MaxImageBytesOpt, PrecisionOpt, ThreadsOpt, cli_errors, exit_for_skips)
from yololens.errors import InputError
from yololens.types import Backend, CoefLayout, ExecutorKind
from yololens.options import typer_bounds


def register(app: typer.Typer) -> None:
    app.command("coefficients")(coefficients_command)
    app.command("coef-report")(coef_report_command)


@cli_errors
def coefficients_command(
    source: Annotated[Optional[str], typer.Option("--source", "--images_folder", "-s", help="Image, folder (recursive), .txt list of images, or YOLO data.yaml.")] = None,
    out: Annotated[Path, typer.Option("--out", "--save_folder", "-o", help="Output folder (locked during the run); the table, manifest.json and prototype PNGs go here.")] = Path("yololens-coefficients"),
    csv: Annotated[str, typer.Option("--csv", "--csv_filename", help="Table file name inside --out (or a path): .csv or .parquet.")] = "mask_coefficients.csv",
    model: Annotated[Optional[str], typer.Option("--model", "-m", help=MODEL_HELP + " Must be a seg model. Default: $YOLOLENS_MODEL, else yolov8n-seg.pt.")] = None,
    index: Annotated[Optional[list[str]], typer.Option("--index", "--coefficient_index", help="0-based coefficient index; repeat it or give a comma list (3,7). Default: all.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="All nm coefficients (the default when no --index is given).")] = False,
    table_format: Annotated[Optional[str], typer.Option("--format", help="csv or parquet (default: from the --csv suffix, else csv).")] = None,
    layout: Annotated[CoefLayout, typer.Option(help="yololens (image_name, instance, nms_index, class, score, box, mask_area, coef_<k>) or seed (image_name,type,mask_1..mask_32: the seed's mask_coefficients.csv).")] = CoefLayout.YOLOLENS,
    retina_masks: Annotated[bool, typer.Option("--retina-masks", help="Align rows with predict(retina_masks=True) instead of the default predict.")] = False,
    mask_area: Annotated[bool, typer.Option("--mask-area/--no-mask-area", help="mask_area column: pixels of the instance's mask at the original resolution (exactly Ultralytics' retina mask).")] = True,
    save_prototype_png: Annotated[bool, typer.Option("--save-prototype-png", help="Also save prototypes/<image>_p<k>.png per chosen index, titled with each instance's weight.")] = False,
    report: Annotated[bool, typer.Option("--report", help="Also compute prototype ablation and write the analytics to OUT/report (histograms, class heatmap, usage, ablation).")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Discard earlier results for this table instead of resuming.")] = False,
    conf: Annotated[float, typer.Option(**typer_bounds("conf"), help="Confidence threshold (Ultralytics predict's default 0.25).")] = 0.25,
    iou: Annotated[float, typer.Option(**typer_bounds("iou"), help="NMS IoU threshold.")] = 0.7,
    imgsz: Annotated[int, typer.Option(**typer_bounds("imgsz"), help=IMGSZ_HELP)] = 640,
    batch: Annotated[int, typer.Option(**typer_bounds("batch"), help=BATCH_HELP + " Results do not depend on it.")] = 8,
    device: Annotated[Optional[str], typer.Option(help=DEVICE_HELP)] = None,
    backend: BackendOpt = Backend.AUTO,
    half: HalfOpt = False,
    precision: PrecisionOpt = None,
    threads: ThreadsOpt = 0,
    source_format: Annotated[Optional[str], typer.Option("--source-format", help="Force the source format: image, folder, list, bdd, coco, yolo.")] = None,
    workers: Annotated[int, typer.Option(**typer_bounds("workers"), help="Image decoding threads.")] = 2,
    max_image_bytes: MaxImageBytesOpt = DEFAULT_MAX_IMAGE_BYTES,
    window: Annotated[Optional[int], typer.Option(**typer_bounds("window"), help="Consecutive source images per durable part (default max(8*batch, 64)); an interrupted run redoes at most the window in flight.")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    executor: ExecutorOpt = ExecutorKind.LOCAL,
    ray_address: RayAddressOpt = None,
) -> None:
    """One row per predicted instance (all of them, in Ultralytics' Results order) with its mask coefficients.

    Resumable: rerun the same command after an interruption and only the missing images are
    processed; the file is replaced atomically, never left half-written. The seed's flags
    work as aliases: --images_folder, --save_folder, --csv_filename, --coefficient_index.

    Example: yololens coefficients --model yolov8n-seg.pt --images_folder data --save_folder out
    --csv_filename mask_coefficient_31.csv --coefficient_index 31
    """
    from yololens.jobs.coefficients import coefficients

    if all_ and index:
        raise InputError("give either --index or --all, not both")
    result = coefficients(model, source, out, table=csv, indices=None if all_ else index, table_format=table_format,
                          layout=layout, retina_masks=retina_masks, mask_area=mask_area, conf=conf, iou=iou,
                          imgsz=imgsz, batch=batch, device=device, backend=backend, half=half, precision=precision,
                          threads=threads, workers=workers, window=window, max_image_bytes=max_image_bytes,
                          save_prototype_png=save_prototype_png, report=report, overwrite=overwrite,
                          progress=progress, source_format=source_format, executor=executor,
                          ray_address=ray_address)
    typer.echo(result.summary() + (f"; report -> {result.report}" if result.report else ""))
    for skip in result.skips:
        typer.echo(f"  skipped {skip}", err=True)
    exit_for_skips(len(result.skips))


@cli_errors
def coef_report_command(
    table: Annotated[Path, typer.Argument(help="A table written by `yololens coefficients` (.csv or .parquet, either layout).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder for the figures and CSVs.")] = Path("coef-report"),
    ablation: Annotated[Optional[Path], typer.Option(help="Per-instance ablation table (default: <table>_ablation.parquet beside it, written by coefficients --report).")] = None,
    max_classes: Annotated[int, typer.Option(help="Classes drawn separately in the histograms (the rest pooled as 'other').")] = 8,
) -> None:
    """Coefficient analytics from an existing table: per-class histograms, class x prototype mean
    heatmap, prototype usage (mean |c|, sign share), and prototype ablation when available."""
    from yololens.jobs.coef_report import coef_report

    if not table.exists():
        raise InputError(f"{table}: table not found")
    result = coef_report(table, out, ablation=ablation, max_classes=max_classes)
    typer.echo(f"coef-report: {len(result.files)} file(s) -> {result.out}")
