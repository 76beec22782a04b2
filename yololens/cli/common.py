"""Pieces shared by every CLI command: error handling, exit codes and common options."""

from __future__ import annotations

import errno
import functools
import inspect
import signal
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional, TypeVar

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from yololens.errors import YololensError
from yololens.options import typer_bounds
from yololens.types import Backend, ExecutorKind, Precision

# Exit codes, documented in the README.
EXIT_OK = 0
EXIT_SKIPPED = 1  # finished, but some inputs were skipped (see the summary / manifest.json)
EXIT_FATAL = 2  # could not run: bad model, bad option, empty source, ...
EXIT_LOCKED = 3  # another run holds the output directory
EXIT_INTERRUPTED = 130  # Ctrl-C; rerun the same command to resume
EXIT_BUG = 70  # an unexpected exception (a yololens bug; the traceback is printed): sysexits' EX_SOFTWARE
EXIT_TERMINATED = 143  # SIGTERM (kill, a batch scheduler, docker stop): stopped like Ctrl-C, 128 + 15


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM, so a run stops exactly as on Ctrl-C (finished work kept)."""


def _on_sigterm(signum, frame) -> None:
    raise Terminated()


def _sigterm_stops_like_ctrl_c():
    """Install :func:`_on_sigterm` for the duration of a command; returns the previous handler (or None)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _on_sigterm)

F = TypeVar("F", bound=Callable)


def cli_errors(fn: F) -> F:
    """Turn yololens errors into a one-line message and an exit code, Ctrl-C into 130 and SIGTERM into 143
    (both print the same line; finished work is kept).

    An I/O failure that escaped the command (an output path under a regular file, a full disk,
    a read-only file system) becomes a one-line error with exit 2; any other unexpected exception
    prints its traceback and exits 70 (:data:`EXIT_BUG`), so that neither 1 ("finished, some inputs skipped")
    nor 2 ("could not run", the user's to fix) ever hides a crash.
    """

    # `project`, `plot` and `stages` write beside the table they read: they have no --out to change
    has_out = "out" in inspect.signature(fn).parameters
    elsewhere = "choose another --out" if has_out else "copy the table to a writable folder and run there"

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        previous = _sigterm_stops_like_ctrl_c()
        try:
            return fn(*args, **kwargs)
        except YololensError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt as exc:
            typer.echo("interrupted: finished work is saved; rerun the same command to resume", err=True)
            raise typer.Exit(EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED) from None
        except (typer.Exit, typer.Abort, TyperException):
            raise
        except OSError as exc:
            typer.echo(f"error: {describe_os_error(exc, elsewhere)}", err=True)
            raise typer.Exit(EXIT_FATAL) from None
        except Exception as exc:  # a bug: keep the traceback for the report, but never exit 1
            traceback.print_exc()
            typer.echo(f"error: unexpected {type(exc).__name__}: {_one_line(exc)} (this is a yololens bug; "
                       "please report it with the traceback above)", err=True)
            raise typer.Exit(EXIT_BUG) from None
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    return wrapper  # type: ignore[return-value]


def describe_os_error(exc: OSError, elsewhere: str = "choose another --out") -> str:
    """``path: cause; remedy`` in one line, e.g. ``out/projections: cannot write here (out/projections is a file,
    not a folder)``. ``elsewhere``: how this command writes somewhere else (its option, if it has one)."""
    # os.replace(temp, target) names the target second: that is the path the user knows
    path = exc.filename2 or exc.filename
    path = "an output file" if path is None else path
    if isinstance(exc, IsADirectoryError):
        return f"{path}: cannot write here (it is a folder, not a file)"
    if isinstance(exc, (FileExistsError, NotADirectoryError)):
        for parent in (Path(path), *Path(path).parents):
            if parent.exists() and not parent.is_dir():
                return f"{path}: cannot write here ({parent} is a file, not a folder)"
    remedies = {
        errno.ENOSPC: "no space left on the device; free some space and rerun to resume",
        errno.EDQUOT: "disk quota exceeded; free some space and rerun to resume",
        errno.EROFS: f"read-only file system; {elsewhere}",
        errno.EACCES: f"permission denied; make it writable or {elsewhere}",
        errno.EPERM: f"operation not permitted; make it writable or {elsewhere}",
        errno.ENAMETOOLONG: "file name too long; use a shorter folder path",
        errno.EIO: "input/output error (a failing disk or a lost network mount?); check the device and rerun",
    }
    if exc.errno in remedies:
        return f"{path}: {remedies[exc.errno]}"
    return f"{path}: {exc.strerror or _one_line(exc)}"


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def exit_for_skips(n_skipped: int) -> None:
    """Exit 1 when anything was skipped, so scripts can tell a partial run from a clean one."""
    if n_skipped:
        raise typer.Exit(EXIT_SKIPPED)


# Shared option declarations keep the help texts identical across commands.
MODEL_HELP = (
    "Ultralytics model: a .pt checkpoint, a model yaml (yolov8n-seg.yaml: untrained weights) or an official name "
    "(downloaded when online). A .pt is a pickle: loaded with torch weights_only and Ultralytics' allow-list of "
    "model classes, so no code runs; YOLOLENS_TRUST_MODEL=1 loads it as code (only files you trust)."
)
DEVICE_HELP = "Torch device: cpu, cuda, cuda:0 ... (default: cuda:0 when available, else cpu)."
IMGSZ_HELP = "Inference size (pixels, longest side) as in Ultralytics predict."
BATCH_HELP = "Images per forward pass."
SOURCE_HELP = "Image, folder (recursive), .txt list of images, or YOLO data.yaml."
FORMAT_HELP = "Force the source format: image, folder, list, bdd, coco, yolo (default: auto-detect)."

# Option types shared by the commands that run a model over images (one definition, one help text).
SourceOpt = Annotated[str, typer.Option("--source", "-s", help=SOURCE_HELP)]
ModelOpt = Annotated[Optional[str], typer.Option("--model", "-m", help=MODEL_HELP + " Default: $YOLOLENS_MODEL, else yolov8n-seg.pt.")]
SourceFormatOpt = Annotated[Optional[str], typer.Option("--source-format", help=FORMAT_HELP)]
ImgszOpt = Annotated[int, typer.Option(help=IMGSZ_HELP, **typer_bounds("imgsz"))]
BatchOpt = Annotated[int, typer.Option(help=BATCH_HELP, **typer_bounds("batch"))]
DeviceOpt = Annotated[Optional[str], typer.Option(help=DEVICE_HELP)]
HalfOpt = Annotated[bool, typer.Option(help="Alias of --precision bf16 (fp16 with torch on CUDA). Detections can change.")]
PrecisionOpt = Annotated[Optional[Precision], typer.Option(help="f32 (default): the exact path. bf16: OpenVINO on a CPU with bf16. int8: OpenVINO quantized by NNCF on --calibration images of this source (cached). bf16/int8 are faster but detections can change and embeddings move (docs/PRECISION.md).")]
CalibrationOpt = Annotated[int, typer.Option(**typer_bounds("calibration"), help="--precision int8: images of the source (spread over it) the quantization is calibrated on.")]
BackendOpt = Annotated[Backend, typer.Option(help="Compute backend: auto (openvino on a CPU with bf16 support, where it measured 1.7x torch; torch elsewhere; $YOLOLENS_BACKEND overrides), torch (bitwise Ultralytics predict) or openvino (f32; exports cached in $YOLOLENS_CACHE).")]
ThreadsOpt = Annotated[int, typer.Option(min=0, help="Inference threads (torch threads or OpenVINO INFERENCE_NUM_THREADS); 0: the backend's default (all cores).")]
ExecutorOpt = Annotated[ExecutorKind, typer.Option(help="What runs the windows: local (this process) or ray (Ray workers, one model each, writing their windows' parts into --out, which must be on a filesystem all nodes share; pip install 'yololens\\[ray]').")]
RayAddressOpt = Annotated[Optional[str], typer.Option("--ray-address", help="--executor ray: the cluster to join (auto, or ray://HEAD:10001); default: start a local Ray.")]
WorkersOpt = Annotated[int, typer.Option(help="Image decoding threads.", **typer_bounds("workers"))]
MaxImageBytesOpt = Annotated[int, typer.Option(help="Skip image files larger than this many bytes, before reading them.",
                                               **typer_bounds("max_image_bytes"))]
DEFAULT_MAX_IMAGE_BYTES = 1 << 30  # as yololens.sources.decoding (not imported here: the CLI starts fast)
ProgressOpt = Annotated[bool, typer.Option(help="Show a progress bar.")]


#: help panels, by option name, for every command (a long --help reads as a few groups); others stay in "Options"
HELP_PANELS = {
    **dict.fromkeys(("source", "out", "labels", "source_format", "table_format", "boxes", "class_map",
                     "max_image_bytes"), "Input and output"),
    **dict.fromkeys(("model", "layers", "imgsz", "conf", "iou", "max_det", "match_iou", "end2end", "pool", "pool_size",
                     "precision", "calibration"), "Model and pooling"),
    **dict.fromkeys(("device", "half", "backend", "threads", "batch", "workers", "window", "executor", "ray_address"),
                    "Compute"),
    **dict.fromkeys(("crops", "crop_size", "strict", "overwrite", "progress"), "Run"),
}


class PlainFlagsGroup(TyperGroup):
    """The app's command group: help shows an on/off flag as ``--half`` (or ``--npy/--no-npy``), without the
    ``<bool>`` type typer prints for it (the flag takes no value), and groups options in :data:`HELP_PANELS`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _plain_flags(self)

    def get_command(self, ctx, cmd_name):
        cmd = super().get_command(ctx, cmd_name)
        if cmd is not None:
            _plain_flags(cmd)
        return cmd


def _plain_flags(command) -> None:
    """Blank the metavar of every flag of ``command`` and its subcommands, ``--help`` included."""
    stack = [command]
    while stack:
        c = stack.pop()
        many = len(c.params) > 12  # short helps stay one list
        for p in c.params:
            if getattr(p, "is_flag", False) and p.metavar is None:
                p.metavar = ""
            if many and getattr(p, "rich_help_panel", "") is None and p.name in HELP_PANELS:
                p.rich_help_panel = HELP_PANELS[p.name]
        if not getattr(c, "_plain_help", False):  # --help is made per call: blank it as it is made
            c.get_help_option = _plain_help_option(c.get_help_option)
            c._plain_help = True
        stack.extend(getattr(c, "commands", {}).values())


def _plain_help_option(make):
    def get_help_option(ctx):
        opt = make(ctx)
        if opt is not None:
            opt.metavar = ""
        return opt
    return get_help_option
