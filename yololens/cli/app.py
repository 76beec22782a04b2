"""The ``yololens`` console script: registers every command module on one Typer app."""

from __future__ import annotations

import gc
import sys

import typer
from typer.exceptions import TyperException

from yololens.cli import (
    cmd_coefficients,
    cmd_compare,
    cmd_demo,
    cmd_export,
    cmd_extract,
    cmd_layers,
    cmd_maps,
    cmd_project,
    cmd_protos,
    cmd_report,
    cmd_similarity,
    cmd_suspects,
)
from yololens.cli.common import EXIT_FATAL, EXIT_INTERRUPTED, EXIT_OK, PlainFlagsGroup

app = typer.Typer(
    name="yololens",
    cls=PlainFlagsGroup,
    help="Open up Ultralytics YOLO models (v8, 11, 26; detect and seg) and show what they learned.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)



def versions_line() -> str:
    """``yololens X (ultralytics Y, torch Z, openvino W)``: what ``--version`` prints (``not installed`` when absent)."""
    from importlib.metadata import PackageNotFoundError, version

    def v(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    parts = ", ".join(f"{name} {v(name)}" for name in ("ultralytics", "torch", "torchvision", "openvino"))
    return f"yololens {v('yololens')} ({parts})"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(versions_line())
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                       help="Print yololens, Ultralytics, torch and backend versions, then exit.")) -> None:
    """Open up Ultralytics YOLO models (v8, 11, 26; detect and seg) and show what they learned."""


for _module in (cmd_layers, cmd_extract, cmd_maps, cmd_project, cmd_protos, cmd_coefficients, cmd_report, cmd_export,
                cmd_demo, cmd_similarity, cmd_compare, cmd_suspects):
    _module.register(app)


def main() -> None:
    """The console script: like ``app()``, but a bad option value (typer's range and type checks) is one
    line, ``error: ...``, with exit 2, as every other refusal (click would print a usage box)."""
    try:
        code = app(standalone_mode=False)
    except TyperException as exc:  # click's usage errors (typer vendors click: catch them by typer's base)
        ctx = getattr(exc, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        typer.echo(f"error: {' '.join(message.split())}{hint}", err=True)
        sys.exit(EXIT_FATAL)
    except typer.Abort:
        typer.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    finally:
        settle_for_exit()
    sys.exit(code if isinstance(code, int) else EXIT_OK)


def settle_for_exit() -> None:
    """Move every live object out of the cyclic collector's reach before the process ends: interpreter shutdown
    otherwise walks torch's and Ultralytics' whole object graph (about 1 s: 1.4-1.8 s -> 0.55-0.87 s from the end
    of an ``extract`` to the process exit, AMD EPYC Zen 3; docs/PRECISION.md). Only for the console script, which
    exits next: in a notebook, frozen objects would never be collected."""
    gc.freeze()


if __name__ == "__main__":
    main()
