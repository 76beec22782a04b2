"""torchvision's compiled kernels (``roi_align``, ``nms``) without importing the torchvision *package*.

Importing the package pulls in ``torch._dynamo`` (``torchvision.ops.roi_align`` imports it): about 1.5 s on two
cores, a sixth of a 128-image extract, for two kernels that need none of it. The kernels live in torchvision's
``_C`` extension library; loading that library registers them as ``torch.ops.torchvision.*``, which is exactly
what ``torchvision.ops.roi_align`` and ``torchvision.ops.nms`` call after their argument checks. Same op, same
numbers (tests/test_startup.py and the exactness tests against ``predict``).
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path

import torch


@functools.cache
def _library_loaded() -> bool:
    """Load torchvision's ``_C`` library once; False when torchvision is absent or the library will not load."""
    spec = importlib.util.find_spec("torchvision")
    folder = Path(next(iter(spec.submodule_search_locations))) if spec and spec.submodule_search_locations else None
    for lib in sorted(folder.glob("_C*.so")) + sorted(folder.glob("_C*.pyd")) if folder else []:
        try:
            torch.ops.load_library(str(lib))
            return True
        except (OSError, RuntimeError):
            continue
    return False


def kernel(name: str):
    """``torch.ops.torchvision.<name>`` (``"roi_align"``, ``"nms"``), or None when it cannot be had without the
    package (the caller then imports torchvision as usual). When the package is already imported its kernels are
    registered and returned as they are."""
    if "torchvision" not in sys.modules and not _library_loaded():
        return None
    try:
        return getattr(torch.ops.torchvision, name)
    except (AttributeError, RuntimeError):
        return None
