"""Run a seg model over a source window by window, yielding aligned instances in source order.

Windows are fixed runs of consecutive source images; inside a window, batches hold one
image shape only (``engine.batching``), so every image is letterboxed exactly as
Ultralytics predict does at batch 1 and results never depend on ``--batch`` or on resume.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from yololens.engine.batching import image_decoder
from yololens.engine.runner import ImageResult, Runner
from yololens.engine.windows import run_batches
from yololens.seg.instances import SegInstances, instances_of
from yololens.sources.records import ImageRecord, Skip


@dataclass
class SegImage:
    """One processed image.

    Attributes:
        record: the source record.
        result: the forward pass (original image, letterbox, ``protos`` ``(nm, h, w)``, NMS detections).
        instances: the instances in ``Results`` order (see :func:`~yololens.seg.instances.align_instances`).
    """

    record: ImageRecord
    result: ImageResult
    instances: SegInstances

    @property
    def image(self) -> np.ndarray:
        return self.result.image


@dataclass
class SegWindow:
    """The processed images of one window, in source order, and the ones that failed to decode."""

    first_index: int
    images: list[SegImage] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)


def iter_seg_windows(runner: Runner, records: Sequence[ImageRecord], batch: int, retina_masks: bool = False,
                     window: int | None = None, workers: int = 2, progress: bool = True, desc: str = "seg",
                     on_skip: Callable[[Skip], None] | None = None,
                     done: Container[str] = (), max_image_bytes: int | None = None) -> Iterator[SegWindow]:
    """Yield one :class:`SegWindow` per window of ``records`` (default window: ``4 * batch`` images).

    ``records`` is the full source; images named in ``done`` (finished by an earlier run)
    are left out, but windows are planned over the full order (``engine.windows``), so
    parts stay contiguous in source order and batches equal an uninterrupted run's.
    """
    pending: SegWindow | None = None
    for step in run_batches(runner, records, done, batch=batch, window=window or max(4 * batch, 16),
                            workers=workers, progress=progress, desc=desc, on_skip=on_skip,
                            decode=image_decoder(max_image_bytes)):
        pending = pending or SegWindow(step.window.index)
        pending.skips.extend(step.decoded.skips)
        if step.result is not None:
            for record, res in zip(step.decoded.records, step.result.images):
                pending.images.append(SegImage(record, res, instances_of(res, retina_masks)))
        if step.window_done:
            pending.images.sort(key=lambda s: s.record.index)
            yield pending
            pending = None
