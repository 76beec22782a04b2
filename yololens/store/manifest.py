"""``manifest.json``: what ran, on what, with which versions, and what was skipped."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Protocol

from yololens.errors import InputError
from yololens.store.atomic import write_json

MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 64 << 20  # a manifest is a few kB; a larger "manifest" from a colleague's folder is refused
VERSION = 2  # 2: the ``job`` and ``version`` keys (version 1 manifests have ``command`` only)


class SkipLike(Protocol):
    """A skipped input (:class:`yololens.sources.records.Skip` has these fields)."""

    file: str
    reason: str
    action: str


def versions() -> dict[str, str]:
    """Versions of yololens and the libraries whose numbers it reproduces (package metadata: no imports of
    Ultralytics here, so the store stays below the model layer's one Ultralytics module)."""
    import numpy
    import pyarrow
    import torch

    import yololens

    return {
        "yololens": yololens.__version__,
        "ultralytics": version("ultralytics"),
        "ultralytics_tested": yololens.ULTRALYTICS_TESTED,
        "torch": torch.__version__,
        "torchvision": version("torchvision"),
        "numpy": numpy.__version__,
        "pyarrow": pyarrow.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def read_manifest(folder: str | os.PathLike) -> dict:
    """``folder/manifest.json`` as a dict (``{}`` when there is none): the one reader of manifests, which come from
    colleagues' folders. Anything but a regular file of at most :data:`MAX_MANIFEST_BYTES` holding a JSON object
    is an :class:`InputError` naming the file."""
    path = Path(folder) / MANIFEST
    if not path.exists():
        return {}
    if not path.is_file() or path.stat().st_size > MAX_MANIFEST_BYTES:
        raise InputError(f"{path}: not a regular file of at most {MAX_MANIFEST_BYTES >> 20} MiB")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path}: not readable as JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: a manifest is a JSON object, not a {type(data).__name__}")
    return data


def job_of(manifest: dict) -> str | None:
    """The job that wrote a manifest (``extract``, ``coefficients`` ...): its ``job``, else the ``command`` of a
    version 1 manifest; ``None`` when it names none."""
    value = manifest.get("job", manifest.get("command"))
    return value if isinstance(value, str) else None


def manifest_job(out_dir: Path) -> str | None:
    """The job whose ``manifest.json`` ``out_dir`` holds (``None``: none there); a file that is not a yololens
    manifest is refused in one line."""
    path = Path(out_dir) / MANIFEST
    if not path.exists():
        return None
    try:
        job = job_of(read_manifest(out_dir))
    except InputError as exc:
        reason = str(exc).removeprefix(f"{path}: ")
        raise InputError(f"{path}: not a yololens manifest ({reason}); choose another --out") from None
    if job is None:
        raise InputError(f"{path}: not a yololens manifest (no job named); choose another --out")
    return job


def claim_folder(out_dir: Path, job: str) -> None:
    """Refuse ``out_dir`` when it holds another job's manifest: one folder holds one job's manifest, and
    writing ours would lose theirs."""
    other = manifest_job(out_dir)
    if other is not None and other != job:
        raise InputError(f"{out_dir}: holds the manifest of a `{other}` run; {job} would replace it: "
                         f"choose another --out")


def write_manifest(out_dir: Path, command: str, params: dict, model: dict | None, counts: dict,
                   timings: dict, skips: Sequence[SkipLike], extra: dict | None = None) -> Path:
    """Write ``out_dir/manifest.json`` (the job ``command``'s) atomically and return its path; refused when
    the folder holds another job's manifest (:func:`claim_folder`)."""
    claim_folder(out_dir, command)
    manifest = {
        "job": command,
        "version": VERSION,
        "command": command,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "params": params,
        "model": model,
        "versions": versions(),
        "counts": counts,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "skipped": [{"file": s.file, "reason": s.reason, "action": s.action} for s in skips],
    }
    if extra:
        manifest.update(extra)
    path = Path(out_dir) / MANIFEST
    write_json(path, manifest)
    return path
