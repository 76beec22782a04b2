"""``yololens demo``: the full report on the images that ship with Ultralytics (no data needed)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from yololens.cli.common import DeviceOpt, cli_errors


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)


@cli_errors
def demo_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Report folder (index.html inside).")] = Path("yololens-demo"),
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Model; default $YOLOLENS_MODEL, else yolov8n-seg.pt (online), else untrained yolov8n-seg.yaml.")] = None,
    device: DeviceOpt = None,
    progress: Annotated[bool, typer.Option(help="Show progress (a line per phase and the progress bars).")] = True,
) -> None:
    """Run `yololens report` on Ultralytics' bus.jpg and zidane.jpg and print where index.html is.

    The model: --model, else $YOLOLENS_MODEL, else yolov8n-seg.pt through Ultralytics (needs internet);
    when none can be had it says so and falls back to the untrained yolov8n-seg.yaml, and the report is
    marked "untrained weights" throughout.
    """
    from yololens.cli.cmd_report import print_result
    from yololens.report.demo import run_demo

    result = run_demo(model, out, device=device, progress=progress,
                      echo=lambda msg: typer.echo(msg, err=True))
    print_result(result)
    if result.untrained:
        typer.echo("note: untrained weights (random); see the banner in the report", err=True)
    sys.stdout.flush()
