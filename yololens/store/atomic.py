"""Atomic file writes: write to a temp file in the same folder, fsync, then rename.

A reader (or a run killed with SIGKILL) therefore sees either the old file or the new
one, never a half-written file.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_TEMP_STEM_BYTES = 64
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside ``target``; rename it onto ``target`` if the block succeeds.

    The temp name keeps the target's suffix so writers that look at the extension
    (matplotlib, numpy, pyarrow) behave as for the real name.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # The stem is cut so that a target name of up to 200 bytes still gives a temp name under 255 bytes.
    stem = target.stem.encode("utf-8", "surrogateescape")[:_TEMP_STEM_BYTES].decode("utf-8", "ignore")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".tmp{target.suffix[:16]}", dir=target.parent)
    except OSError as exc:  # mkstemp names its random temp file: name the target instead
        raise type(exc)(exc.errno, exc.strerror or str(exc), str(target)) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        # mkstemp creates 0600 files; give outputs the usual permissions (0666 minus the umask).
        os.chmod(tmp_path, 0o666 & ~_UMASK)
        os.replace(tmp_path, target)
    except OSError as exc:
        raise _naming_target(exc, target, tmp_path) from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _naming_target(exc: OSError, target: Path, tmp: Path) -> OSError:
    """The error, naming ``target`` (the file the user asked for) rather than no file or our temp file."""
    if exc.filename is not None and exc.filename2 is None and Path(exc.filename) != tmp:
        return exc  # about another file (the writer's own input): keep it
    return type(exc)(exc.errno, exc.strerror or str(exc), str(target))


#: Names of :func:`atomic_path` temp files: ``.<stem>.<8 random chars from mkstemp>.tmp<suffix>``.
_TEMP_NAME = re.compile(r"^\..*\.[a-z0-9_]{8}\.tmp(\.[^.]+)?$")


def remove_stale_temps(directory: str | os.PathLike, recursive: bool = True) -> int:
    """Delete temp files left by a writer that was killed inside :func:`atomic_path`.

    Only call this while holding the folder's :class:`~yololens.store.lock.DirectoryLock`: a live
    writer's temp file looks the same. Returns how many files were removed.
    """
    root = Path(directory)
    if not root.is_dir():
        return 0
    removed = 0
    for dirpath, _, files in os.walk(root) if recursive else [(str(root), None, os.listdir(root))]:
        for name in files:
            if _TEMP_NAME.match(name):
                path = Path(dirpath) / name
                try:
                    if path.is_file() and not path.is_symlink():
                        path.unlink()
                        removed += 1
                except OSError:
                    pass
    return removed


def write_bytes(target: str | os.PathLike, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text(target: str | os.PathLike, text: str) -> None:
    write_bytes(target, text.encode("utf-8"))


def write_json(target: str | os.PathLike, obj: Any) -> None:
    write_text(target, json.dumps(obj, indent=2, default=_json_default) + "\n")


def save_npy(target: str | os.PathLike, array) -> None:
    import numpy as np

    with atomic_path(target) as tmp:
        np.save(tmp, array)


def save_figure(fig, target: str | os.PathLike, **kwargs) -> None:
    """Save a matplotlib figure atomically (format taken from the target's suffix)."""
    target = Path(target)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format=target.suffix.lstrip(".") or "png", **kwargs)


def save_fig(fig, target: str | os.PathLike) -> None:
    """:func:`save_figure` with light PNG compression (zlib dominates the save time otherwise)."""
    kwargs = {"pil_kwargs": {"compress_level": 3}} if Path(target).suffix == ".png" else {}
    save_figure(fig, target, **kwargs)


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
