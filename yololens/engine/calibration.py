"""The calibration set of ``--precision int8``: a few hundred images of the user's own source.

Picked evenly over the source order (deterministic: the same source gives the same set), decoded and
letterboxed exactly as the run will see them (batch 1, each image its own minimal letterbox), so the
quantization ranges are measured on the inputs the quantized model will get. The set's identity (image
keys, file sizes) is part of the int8 cache key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from yololens.options import DEFAULT_CALIBRATION, check_options


@dataclass(frozen=True)
class CalibrationSet:
    """``paths``: the chosen image files (absolute); ``keys``: their canonical image keys (same order)."""

    paths: tuple[str, ...]
    keys: tuple[str, ...]

    @classmethod
    def of(cls, records: Sequence, n: int = DEFAULT_CALIBRATION) -> "CalibrationSet":
        """``n`` records (:class:`~yololens.sources.records.ImageRecord`) spread evenly over ``records``."""
        check_options(calibration=n)
        if not records:
            return cls((), ())
        picks = np.unique(np.linspace(0, len(records) - 1, min(n, len(records))).round().astype(int))
        chosen = [records[i] for i in picks]
        return cls(tuple(str(Path(r.path).resolve()) for r in chosen), tuple(str(r.name) for r in chosen))

    def __len__(self) -> int:
        return len(self.paths)

    def fields(self) -> dict:
        """What identifies the set in a cache key: each image's key and file size (a changed file is a new set)."""
        return {"images": [[k, _size(p)] for k, p in zip(self.keys, self.paths)]}

    def inputs(self, prepare: Callable[[np.ndarray], np.ndarray]) -> Iterator[np.ndarray]:
        """``prepare(bgr) -> (1, 3, H, W)`` float32 for every image that decodes (the others are left out)."""
        from yololens.sources.images import decode_image

        for path in self.paths:
            try:
                image = decode_image(path)
            except Exception:  # a bad file is skipped by the run itself; calibration just uses the others
                continue
            yield prepare(image)


def _size(path: str) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return -1
