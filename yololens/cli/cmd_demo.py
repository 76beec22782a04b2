"""``yololens demo``: yololens on the images that ship with Ultralytics."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from yololens.cli.common import DEVICE_HELP, cli_errors


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)


@cli_errors
def demo_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("yololens-demo"),
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Model; default $YOLOLENS_MODEL, else yolov8n-seg.pt (online), else untrained yolov8n-seg.yaml.")] = None,
    device: Annotated[Optional[str], typer.Option(help=DEVICE_HELP)] = None,
) -> None:
    """Extract object embeddings from Ultralytics' bus.jpg and zidane.jpg (no data needed)."""
    from yololens.demo import demo_images, resolve_demo_model
    from yololens.engine.extract import extract
    from yololens.sources.records import ImageRecord, Source

    chosen = resolve_demo_model(model, device)
    typer.echo(chosen.note, err=chosen.untrained)
    src = Source([ImageRecord(i, p, p.name) for i, p in enumerate(demo_images())], format="list")
    result = extract(chosen.model, src, out=out, crops=True, conf=0.05 if chosen.untrained else 0.25, overwrite=True)
    df = result.to_pandas(["image", "class_name", "score"]) if result.table_path else None
    typer.echo(f"demo: {0 if df is None else len(df)} objects from {len(src)} images -> {result.table_path}")
    if df is not None and len(df):
        typer.echo(df.groupby("image")["class_name"].value_counts().to_string())
