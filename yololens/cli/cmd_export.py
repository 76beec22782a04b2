"""``yololens export tensorboard|fiftyone``: a run folder in the formats of the tools users already have."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from yololens.cli.common import cli_errors, exit_for_skips
from yololens.types import ExportMedia

RUN_HELP = "Run folder of `yololens extract` (holds objects.parquet)."
LAYER_HELP = "Embedding column(s): 9 -> emb_L9, coef -> emb_coef; several as 9,15,21 or 'all'."
ROOT_HELP = "Folder the table's relative image paths are under (default: the run's source)."

export_app = typer.Typer(
    name="export", no_args_is_help=True,
    help="Export a run to TensorBoard's projector or to a FiftyOne dataset folder.",
)


def register(app: typer.Typer) -> None:
    """Add the ``export`` group (``export tensorboard``, ``export fiftyone``) to ``app``."""
    app.add_typer(export_app, name="export")


@export_app.command("tensorboard")
@cli_errors
def tensorboard_command(
    run: Annotated[Path, typer.Argument(help=RUN_HELP)],
    layer: Annotated[str, typer.Option("--layer", "-l", help=LAYER_HELP)] = "9",
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Log folder to write (default: RUN/tensorboard).")] = None,
    sample: Annotated[Optional[int], typer.Option(help="Class-stratified sample of this many objects (0 = all).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the samples.")] = 0,
    sprite: Annotated[bool, typer.Option("--sprite/--no-sprite", help="Write sprite.png of the crops (caps the objects, see below).")] = True,
    thumb_size: Annotated[int, typer.Option(help="Sprite cell size in pixels.")] = 64,
    images_root: Annotated[Optional[Path], typer.Option(help=ROOT_HELP)] = None,
) -> None:
    """Write the files TensorBoard's projector loads (open with: tensorboard --logdir OUT).

    OUT gets <stage>_tensors.tsv, metadata.tsv (every column), sprite.png and projector_config.pbtxt.

    The sprite is at most 8192x8192 px, so it holds at most (8192 // --thumb-size)^2 crops (16,384 at 64 px);
    above that a class-stratified sample of that many objects is exported (--no-sprite exports all).
    """
    from yololens.jobs.export_tensorboard import export_tensorboard

    res = export_tensorboard(run, layer, out=out, sample=sample or None, seed=seed, sprite=sprite,
                             thumb_size=thumb_size, images_root=images_root)
    typer.echo(res.summary())
    if res.missing_crops:
        typer.echo(f"note: {res.missing_crops:,} sprite cells are blank (image not found; try --images-root)")


@export_app.command("fiftyone")
@cli_errors
def fiftyone_command(
    run: Annotated[Path, typer.Argument(help=RUN_HELP)],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Dataset folder to write (default: RUN/fiftyone).")] = None,
    layer: Annotated[str, typer.Option("--layer", "-l", help=LAYER_HELP)] = "all",
    media: Annotated[ExportMedia, typer.Option(help="Images in the dataset folder: symlink (links) or copy.")] = ExportMedia.SYMLINK,
    images_root: Annotated[Optional[Path], typer.Option(help=ROOT_HELP)] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing dataset folder.")] = False,
) -> None:
    """Write a FiftyOne dataset folder (FiftyOneImageLabelsDataset) with the run's embeddings.

    OUT gets the images (links or copies), ground_truth and predictions detections (status, score, every
    attribute) and each layer's embeddings (embeddings/<stage>.npy + index.parquet).

    Load it with yololens.to_fiftyone(OUT) (needs: pip install "yololens[fiftyone]" and FiftyOne's database).
    """
    from yololens.jobs.export_fiftyone import export_fiftyone

    res = export_fiftyone(run, out, layers=layer, media=media, images_root=images_root, overwrite=overwrite)
    for skip in res.skips:
        typer.echo(f"skipped {skip}", err=True)
    typer.echo(res.summary())
    exit_for_skips(len(res.skips))
