"""``yololens extract``: object embeddings at chosen layers, to Parquet."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from yololens.cli.common import (
    BackendOpt,
    DEFAULT_MAX_IMAGE_BYTES,
    BatchOpt,
    DeviceOpt,
    ExecutorOpt,
    SourceFormatOpt,
    CalibrationOpt,
    HalfOpt,
    PrecisionOpt,
    ImgszOpt,
    MaxImageBytesOpt,
    ModelOpt,
    ProgressOpt,
    RayAddressOpt,
    SourceOpt,
    ThreadsOpt,
    WorkersOpt,
    cli_errors,
    exit_for_skips,
)
from yololens.options import typer_bounds
from yololens.types import Backend, BoxMode, ExecutorKind


def register(app: typer.Typer) -> None:
    app.command("extract")(extract_command)


@cli_errors
def extract_command(
    source: SourceOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder: objects.parquet, manifest.json, crops/.")] = Path("yololens-out"),
    model: ModelOpt = None,
    labels: Annotated[Optional[str], typer.Option(help="Labels: BDD100K/Scalabel JSON, COCO JSON, or a YOLO labels folder. Image names resolve against --source.")] = None,
    source_format: SourceFormatOpt = None,
    layers: Annotated[Optional[str], typer.Option(help="Layer indices or names (sppf, p3, p4, p5), comma-separated. Default: SPPF + the neck outputs feeding the head (v8: 9,15,18,21; 11/26: 9,16,19,22).")] = None,
    boxes: Annotated[BoxMode, typer.Option(help="pred: detections; gt: label boxes; both: both, predictions matched to labels (TP/FP/FN).")] = BoxMode.PRED,
    imgsz: ImgszOpt = 640,
    batch: BatchOpt = 8,
    conf: Annotated[float, typer.Option(**typer_bounds("conf"), help="Confidence threshold for predictions.")] = 0.25,
    iou: Annotated[float, typer.Option(**typer_bounds("iou"), help="NMS IoU threshold.")] = 0.7,
    max_det: Annotated[int, typer.Option(**typer_bounds("max_det"), help="Maximum detections per image.")] = 300,
    match_iou: Annotated[float, typer.Option(**typer_bounds("match_iou"), help="IoU needed to match a prediction to a label box (--boxes both).")] = 0.5,
    device: DeviceOpt = None,
    precision: PrecisionOpt = None,
    half: HalfOpt = False,
    calibration: CalibrationOpt = 300,
    backend: BackendOpt = Backend.AUTO,
    threads: ThreadsOpt = 0,
    end2end: Annotated[Optional[bool], typer.Option("--end2end/--no-end2end", help="YOLO26: use the NMS-free one-to-one head (default: Ultralytics' predict default).")] = None,
    crops: Annotated[bool, typer.Option(help="Save object thumbnails to OUT/crops (for plots).")] = False,
    crop_size: Annotated[int, typer.Option(**typer_bounds("crop_size"), help="Thumbnail longest side, pixels.")] = 128,
    class_map: Annotated[Optional[Path], typer.Option("--class-map", help="YAML/JSON: label class -> model class, to match predictions to labels. Default: the shipped BDD100K -> COCO map (docs/COMMANDS.md).")] = None,
    pool: Annotated[str, typer.Option("--pool", help="What each embedding averages: box (inside the box: emb_L<idx>), mask (inside the instance mask: emb_L<idx>_mask, box where there is none, see mask_fallback) or both (docs/COMMANDS.md).")] = "box",
    pool_size: Annotated[int, typer.Option(**typer_bounds("pool_size"), help="RoIAlign bins per side (>= 1); the embedding is their mean.")] = 7,
    workers: WorkersOpt = 2,
    window: Annotated[int, typer.Option(**typer_bounds("window"), help="Images per durable part (an interrupted run loses at most the windows in flight). Like --batch it can move embeddings by float rounding (~1e-6).")] = 64,
    max_image_bytes: MaxImageBytesOpt = DEFAULT_MAX_IMAGE_BYTES,
    strict: Annotated[bool, typer.Option(help="Stop at the first bad input instead of skipping it.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Discard earlier results in --out instead of resuming.")] = False,
    progress: ProgressOpt = True,
    executor: ExecutorOpt = ExecutorKind.LOCAL,
    ray_address: RayAddressOpt = None,
) -> None:
    """Pool every object's features inside its box at the chosen layers and write OUT/objects.parquet.

    One row per object (ground truth and/or predictions) with its box in original pixels,
    class, score, match status, frame/label attributes, and one embedding column per layer
    (emb_L<idx>; emb_coef with the mask coefficients for seg models). Rerunning into the
    same --out resumes: finished images are skipped.

    Example (BDD100K): yololens extract --source bdd100k/images/100k/val --labels det_val.json --boxes both
    """
    from yololens.jobs.extract import extract

    result = extract(
        model, source, labels, out=out, layers=layers, boxes=boxes, source_format=source_format, imgsz=imgsz, batch=batch, conf=conf,
        iou=iou, max_det=max_det, device=device, half=half, end2end=end2end, backend=backend, threads=threads,
        precision=precision, calibration=calibration, match_iou=match_iou,
        class_map=class_map, pool=pool, pool_size=pool_size, crops=crops, crop_size=crop_size, workers=workers,
        window=window, max_image_bytes=max_image_bytes, strict=strict,
        overwrite=overwrite, progress=progress, executor=executor, ray_address=ray_address,
    )
    c, t = result.counts, result.manifest["timings_s"]
    idle = c.nothing_to_do()
    typer.echo(
        f"extract: {idle} -> {result.table_path or out}" if idle else
        f"extract: {c.images_processed} images processed ({c.images_resumed} already done), "
        f"{c.objects_written} objects written ({c.objects_total or 0} in table), "
        f"{c.skipped} skipped, {t['total']:.1f}s -> {result.table_path or out}"
    )
    for skip in result.skips:
        typer.echo(f"  skipped {skip}", err=True)
    exit_for_skips(len(result.skips))
