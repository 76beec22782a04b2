"""``yololens maps``: stage feature maps (tensors, channel grids, overlays, PCA-RGB, overview) per image."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from yololens.cli.common import (
    BackendOpt,
    DEFAULT_MAX_IMAGE_BYTES,
    BatchOpt,
    DeviceOpt,
    SourceFormatOpt,
    CalibrationOpt,
    HalfOpt,
    PrecisionOpt,
    ImgszOpt,
    MaxImageBytesOpt,
    ModelOpt,
    ProgressOpt,
    SourceOpt,
    ThreadsOpt,
    WorkersOpt,
    cli_errors,
    exit_for_skips,
)
from yololens.options import typer_bounds
from yololens.types import Backend


def register(app: typer.Typer) -> None:
    app.command("maps")(maps_command)


@cli_errors
def maps_command(
    source: SourceOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder: one sub-folder per image, plus manifest.json.")] = Path("yololens-maps"),
    model: ModelOpt = None,
    layers: Annotated[Optional[str], typer.Option(help="Comma-separated layer indices or names (sppf, p3, p4, p5, proto for seg prototypes), or 'all'. Default: SPPF + the neck outputs feeding the head (YOLOv8: 9,15,18,21). See `yololens layers MODEL`.")] = None,
    source_format: SourceFormatOpt = None,
    imgsz: ImgszOpt = 640,
    batch: BatchOpt = 8,
    device: DeviceOpt = None,
    precision: PrecisionOpt = None,
    half: HalfOpt = False,
    calibration: CalibrationOpt = 300,
    backend: BackendOpt = Backend.AUTO,
    threads: ThreadsOpt = 0,
    channels: Annotated[int, typer.Option(**typer_bounds("channels"), help="Channels shown in each layer's grid (top-K by --rank; 0: no grid).")] = 32,
    rank: Annotated[str, typer.Option(help="Channel ranking: energy (mean of squares), variance (spatial), or index.")] = "energy",
    shared_scale: Annotated[bool, typer.Option("--shared-scale", help="One colour scale for all tiles of a grid (default: each tile its own 1-99% range).")] = False,
    heatmap: Annotated[str, typer.Option(help="Overlay heatmap over channels: mean or energy (mean of squares).")] = "mean",
    dtype: Annotated[str, typer.Option(help="dtype of the saved .npy tensors: float16 or float32.")] = "float16",
    npy: Annotated[bool, typer.Option("--npy/--no-npy", help="Save the full C×H×W tensors (.npy + .json metadata).")] = True,
    figures: Annotated[bool, typer.Option("--figures/--no-figures", help="Save the PNGs (grid, overlay, PCA, overview).")] = True,
    workers: WorkersOpt = 2,
    max_image_bytes: MaxImageBytesOpt = DEFAULT_MAX_IMAGE_BYTES,
    progress: ProgressOpt = True,
) -> None:
    """Save what each requested layer sees, for every image of --source, from one forward pass per batch.

    Written per image to OUT/<image-stem>/ (repeated stems: <stem>_1, <stem>_2 ...), per layer:
    L<idx>_<Module>.npy: the full C×H×W activations (letterboxed), with a .json sidecar (letterbox gain/pad, shapes, stride, ranking);
    L<idx>_<Module>_channels.png: the top channels, padding cropped;
    L<idx>_<Module>_overlay.png: the channel heatmap over the image, at the original size;
    L<idx>_<Module>_pca.png: the first 3 principal components as RGB, at the original size;
    and overview.png with one row per layer. Seg prototypes are layer 'proto' (files proto.*).

    Example: yololens maps -m yolov8n-seg.pt -s bus.jpg --layers 2,4,6,9,15,18,21,proto -o maps
    """
    from tqdm import tqdm

    from yololens.jobs.maps import maps

    result = maps(
        model, source, layers, out, imgsz=imgsz, batch=batch, device=device, half=half, backend=backend,
        threads=threads, precision=precision, calibration=calibration, channels=channels,
        rank=rank, shared_scale=shared_scale, heatmap=heatmap, dtype=dtype, npy=npy, figures=figures,
        source_format=source_format,
        workers=workers, max_image_bytes=max_image_bytes, progress=progress, on_skip=lambda skip: tqdm.write(f"skipped {skip}"),
    )
    typer.echo(result.summary())
    exit_for_skips(len(result.skips))
