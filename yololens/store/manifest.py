"""``manifest.json``: what ran, on what, with which versions, and what was skipped."""

from __future__ import annotations

import platform
import sys
import time
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Protocol

from yololens.store.atomic import write_json


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


def write_manifest(out_dir: Path, command: str, params: dict, model: dict | None, counts: dict,
                   timings: dict, skips: Sequence[SkipLike], extra: dict | None = None) -> Path:
    """Write ``out_dir/manifest.json`` atomically and return its path."""
    manifest = {
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
    path = Path(out_dir) / "manifest.json"
    write_json(path, manifest)
    return path
