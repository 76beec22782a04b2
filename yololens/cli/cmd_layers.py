"""``yololens layers MODEL`` (or ``--model MODEL``): the layer catalogue."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from yololens.cli.common import cli_errors


def register(app: typer.Typer) -> None:
    app.command("layers")(layers_command)


@cli_errors
def layers_command(
    model_arg: Annotated[Optional[str], typer.Argument(metavar="[MODEL]", show_default=False,
                                                       help="Checkpoint (.pt) or model yaml, e.g. yolov8n-seg.yaml.")] = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", show_default=False,
                                                 help="The same, as an option (as every other command takes it).")] = None,
    imgsz: Annotated[int, typer.Option(help="Square input size used to compute output shapes.")] = 640,
    as_json: Annotated[bool, typer.Option("--json", help="Print the catalogue as JSON.")] = False,
    device: Annotated[str, typer.Option(help="Torch device the model is built on to measure each layer's output: cpu, cuda, cuda:0 ...")] = "cpu",
) -> None:
    """Print one row per layer: index, module, C×H×W at --imgsz, stride, P-level, role and aliases.

    Layers are accepted elsewhere (--layers) by these indices or by the aliases shown
    (sppf, p3, p4, p5, proto for seg models).
    """
    from yololens.errors import InputError
    from yololens.model.catalogue import build_catalogue
    from yololens.types import PROTO
    from yololens.model.loading import load_model

    if model_arg and model and model_arg != model:
        raise InputError(f"two models given: {model_arg} and --model {model}")
    model = model_arg or model
    if not model:
        raise InputError("no model: give one, e.g. `yololens layers yolov8n-seg.yaml` or `--model best.pt`")
    loaded = load_model(model, device=device)
    rows = build_catalogue(loaded, imgsz=imgsz)
    if as_json:
        # "index" is always an integer; the seg prototypes (no index of their own) are the "proto" field
        layers = [r.as_dict() for r in rows if r.index != PROTO]
        proto = next(({k: v for k, v in r.as_dict().items() if k != "index"} for r in rows if r.index == PROTO), None)
        typer.echo(json.dumps({"model": loaded.describe(), "imgsz": imgsz, "layers": layers, "proto": proto},
                              indent=2))
        return
    typer.echo(f"{loaded.source}  task={loaded.task}  family={loaded.family}  imgsz={imgsz}"
               f"{'' if loaded.trained else '  (untrained weights)'}")
    typer.echo(f"{'idx':>5}  {'module':<12} {'from':<14} {'C×H×W':<14} {'stride':>6}  {'P':<3} {'role':<8} aliases")
    for r in rows:
        level = f"P{r.level}" if r.level is not None else "-"
        stride = str(r.stride) if r.stride else "-"
        typer.echo(f"{str(r.index):>5}  {r.module:<12} {str(r.from_):<14} {r.shape_text:<14} {stride:>6}  "
                   f"{level:<3} {r.role:<8} {', '.join(r.aliases)}")
