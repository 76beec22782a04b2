"""Run a model over a source window by window: the loop every resumable command shares.

Windows are fixed runs of consecutive images of the *full* source order, so a resumed run
(which skips finished images) plans the same windows and the same batches as an
uninterrupted one. Inside a window, batches hold one image shape (``bucket_by_shape``),
so each image is letterboxed as Ultralytics predict does at batch 1. A command writes one
durable part per finished window.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from yololens.engine.batching import DecodedBatch, bucket_by_shape, iter_decoded_batches, plan_windows
from yololens.engine.runner import BatchResult, Runner
from yololens.sources.records import ImageRecord, Skip


@dataclass
class BatchStep:
    """One planned batch, run.

    Attributes:
        window: the window's first record (its ``index`` orders the window's part).
        decoded: the records that decoded (with their images) and the skips.
        result: the forward pass over ``decoded.images``; ``None`` when none decoded.
        window_done: this was the window's last batch: the command may write its part.
        window_records: the window's records still to do in this run (source order).
    """

    window: ImageRecord
    decoded: DecodedBatch
    result: BatchResult | None
    window_done: bool
    window_records: list[ImageRecord]


def run_batches(runner: Runner, records: Sequence[ImageRecord], done: Container[str] = (), *, batch: int,
                window: int, workers: int = 2, progress: bool = True, desc: str = "images",
                on_skip: Callable[[Skip], None] | None = None,
                decode: Callable[[ImageRecord], np.ndarray] | None = None) -> Iterator[BatchStep]:
    """Yield a :class:`BatchStep` per batch of the images of ``records`` not in ``done`` (by name).

    Decoding runs ahead on background threads; images that fail to decode are reported
    once through ``on_skip`` (default: a line above the progress bar) and in the step. ``decode``:
    record -> BGR image (default :func:`~yololens.sources.images.decode_image` with its default limits).
    """
    windows = [[r for r in w if r.name not in done] for w in plan_windows(records, window)]
    windows = [w for w in windows if w]
    plan = [(wi, b) for wi, w in enumerate(windows) for b in bucket_by_shape(w, batch)]
    remaining = [0] * len(windows)
    for wi, b in plan:
        remaining[wi] += len(b)
    report = on_skip or (lambda skip: tqdm.write(f"skipped {skip}"))
    bar = tqdm(total=sum(remaining), unit="img", desc=desc, disable=not progress, dynamic_ncols=True)
    try:
        for (wi, planned), decoded in zip(plan, iter_decoded_batches((b for _, b in plan), workers=workers, decode=decode)):
            for skip in decoded.skips:
                report(skip)
            result = runner.run(decoded.images) if decoded.images else None
            remaining[wi] -= len(planned)
            bar.update(len(planned))
            yield BatchStep(windows[wi][0], decoded, result, remaining[wi] == 0, windows[wi])
    finally:
        bar.close()
