"""Pieces shared by every CLI command: error handling, exit codes and common options."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TypeVar

import typer

from yololens.errors import YololensError

# Exit codes, documented in the README.
EXIT_OK = 0
EXIT_SKIPPED = 1  # finished, but some inputs were skipped (see the summary / manifest.json)
EXIT_FATAL = 2  # could not run: bad model, bad option, empty source, ...
EXIT_LOCKED = 3  # another run holds the output directory
EXIT_INTERRUPTED = 130  # Ctrl-C; rerun the same command to resume

F = TypeVar("F", bound=Callable)


def cli_errors(fn: F) -> F:
    """Turn yololens errors into a one-line message and an exit code, and Ctrl-C into 130."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except YololensError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("interrupted: finished work is saved; rerun the same command to resume", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return wrapper  # type: ignore[return-value]


def exit_for_skips(n_skipped: int) -> None:
    """Exit 1 when anything was skipped, so scripts can tell a partial run from a clean one."""
    if n_skipped:
        raise typer.Exit(EXIT_SKIPPED)


def parse_layers(text: str | None) -> list[str] | None:
    """``"9,15,sppf"`` -> ``["9", "15", "sppf"]``; resolution against the model happens later."""
    if text is None or not text.strip():
        return None
    return [t.strip() for t in text.split(",") if t.strip()]


def echo_err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# Shared option declarations keep the help texts identical across commands.
MODEL_HELP = (
    "Ultralytics model: a .pt checkpoint, a model yaml (e.g. yolov8n-seg.yaml builds untrained weights), "
    "or an official name such as yolov8n-seg.pt (downloaded by Ultralytics when online)."
)
DEVICE_HELP = "Torch device: cpu, cuda, cuda:0 ... (default: cuda:0 when available, else cpu)."
IMGSZ_HELP = "Inference size (pixels, longest side) as in Ultralytics predict."
BATCH_HELP = "Images per forward pass."
