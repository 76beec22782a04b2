"""Run a seg model over a source window by window, yielding aligned instances in source order.

Windows are fixed runs of consecutive source images; inside a window, batches hold one
image shape only (``engine.batching``), so every image is letterboxed exactly as
Ultralytics predict does at batch 1 and results never depend on ``--batch`` or on resume.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from yololens.engine.batching import bucket_by_shape, iter_decoded_batches, plan_windows
from yololens.engine.runner import ImageResult, Runner
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
                     on_skip: Callable[[Skip], None] | None = None) -> Iterator[SegWindow]:
    """Yield one :class:`SegWindow` per window of ``records`` (default window: ``4 * batch`` images).

    ``records`` should already exclude images done by an earlier run; windows are still
    planned over the given order, so parts stay contiguous in source order.
    """
    window = window or max(4 * batch, 16)
    windows = [w for w in plan_windows(list(records), window) if w]
    plan = [(wi, b) for wi, w in enumerate(windows) for b in bucket_by_shape(w, batch)]
    remaining = [sum(len(b) for w_i, b in plan if w_i == wi) for wi in range(len(windows))]
    pending: dict[int, SegWindow] = {}
    bar = tqdm(total=len(records), unit="img", desc=desc, disable=not progress, dynamic_ncols=True)
    try:
        decoded_batches = iter_decoded_batches((b for _, b in plan), workers=workers)
        for (wi, planned), decoded in zip(plan, decoded_batches):
            win = pending.setdefault(wi, SegWindow(windows[wi][0].index))
            for skip in decoded.skips:
                (on_skip or (lambda s: tqdm.write(f"skipped {s}")))(skip)
                win.skips.append(skip)
            if decoded.images:
                batch_result = runner.run(decoded.images)
                for record, res in zip(decoded.records, batch_result.images):
                    win.images.append(SegImage(record, res, instances_of(res, retina_masks)))
            bar.update(len(planned))
            remaining[wi] -= len(planned)
            if remaining[wi] == 0:
                done = pending.pop(wi)
                done.images.sort(key=lambda s: s.record.index)
                yield done
    finally:
        bar.close()
