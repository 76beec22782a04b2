"""``yololens protos``: every instance's prototype x coefficient decomposition, as figures and arrays."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from yololens.cli.common import (BATCH_HELP, DEFAULT_MAX_IMAGE_BYTES, DEVICE_HELP, IMGSZ_HELP, MODEL_HELP,
                                  BackendOpt, HalfOpt, MaxImageBytesOpt, PrecisionOpt, ThreadsOpt, cli_errors, exit_for_skips)
from yololens.options import typer_bounds
from yololens.types import Backend


def register(app: typer.Typer) -> None:
    app.command("protos")(protos_command)


@cli_errors
def protos_command(
    source: Annotated[str, typer.Option("--source", "-s", help="Image, folder (recursive), .txt list of images, or YOLO data.yaml.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder: one sub-folder per image.")] = Path("yololens-protos"),
    model: Annotated[Optional[str], typer.Option("--model", "-m", help=MODEL_HELP + " Must be a seg model. Default: $YOLOLENS_MODEL, else yolov8n-seg.pt.")] = None,
    order: Annotated[str, typer.Option(help="Prototype order: abs (by |coefficient|, largest first) or index (0..nm-1, the seed's layout).")] = "abs",
    shared_scale: Annotated[bool, typer.Option("--shared-scale", help="One colour scale for all prototypes (default: each its own min..max).")] = False,
    retina_masks: Annotated[bool, typer.Option("--retina-masks", help="Final masks at the original resolution, as predict(retina_masks=True).")] = False,
    max_instances: Annotated[Optional[int], typer.Option(**typer_bounds("max_instances"), help="At most this many instance figures per image (default: all).")] = None,
    conf: Annotated[float, typer.Option(**typer_bounds("conf"), help="Confidence threshold (Ultralytics predict's default 0.25).")] = 0.25,
    iou: Annotated[float, typer.Option(**typer_bounds("iou"), help="NMS IoU threshold.")] = 0.7,
    imgsz: Annotated[int, typer.Option(**typer_bounds("imgsz"), help=IMGSZ_HELP)] = 640,
    batch: Annotated[int, typer.Option(**typer_bounds("batch"), help=BATCH_HELP + " Results do not depend on it.")] = 4,
    device: Annotated[Optional[str], typer.Option(help=DEVICE_HELP)] = None,
    backend: BackendOpt = Backend.AUTO,
    half: HalfOpt = False,
    precision: PrecisionOpt = None,
    threads: ThreadsOpt = 0,
    fig_format: Annotated[str, typer.Option("--format", help="Figure format: png or svg.")] = "png",
    source_format: Annotated[Optional[str], typer.Option("--source-format", help="Force the source format: image, folder, list, bdd, coco, yolo.")] = None,
    workers: Annotated[int, typer.Option(**typer_bounds("workers"), help="Image decoding threads.")] = 2,
    max_image_bytes: MaxImageBytesOpt = DEFAULT_MAX_IMAGE_BYTES,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Show how each instance's mask is built from the prototypes, for every image of --source.

    Written per image to OUT/<image>/: instance_<i>_<class>.png (prototypes titled with their
    coefficient, signed contributions c_k·P_k, positive and negative sums, logit, sigmoid, crop,
    final binary mask, the mask on the image), masks.png (all instances), protos.npy (nm×h×w,
    letterboxed grid), coefs.npy (n×nm, instance i = Results index i) and meta.json (letterbox,
    instance -> class/score/box/NMS index). Masks equal Ultralytics' own, pixel for pixel.

    Example: yololens protos -m yolov8n-seg.pt -s bus.jpg -o protos --order index
    """
    from tqdm import tqdm

    from yololens.jobs.protos import protos

    result = protos(model, source, out, order=order, shared_scale=shared_scale, retina_masks=retina_masks,
                    max_instances=max_instances, conf=conf, iou=iou, imgsz=imgsz, batch=batch, device=device,
                    backend=backend, half=half, precision=precision, threads=threads,
                    fmt=fig_format, workers=workers, progress=progress, source_format=source_format,
                    max_image_bytes=max_image_bytes)
    for skip in result.skips:
        tqdm.write(f"skipped {skip}")
    typer.echo(result.summary())
    exit_for_skips(len(result.skips))
