"""Decode and letterbox images on background threads while the model runs.

cv2 releases the GIL while decoding and resizing, so a small thread pool overlaps image
I/O with the forward pass. Batches stay in source order.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from yololens.sources.records import ImageRecord, Skip


@dataclass
class DecodedBatch:
    """Images of one batch that decoded, in source order, plus the ones that did not.

    Attributes:
        records: the records whose image decoded.
        images: original BGR uint8 ``(h, w, 3)`` arrays, one per record.
        skips: one line per image that could not be decoded.
    """

    records: list[ImageRecord]
    images: list[np.ndarray]
    skips: list[Skip] = field(default_factory=list)


def _default_decoder() -> Callable[[ImageRecord], np.ndarray]:
    from yololens.sources.images import decode_image

    return lambda record: decode_image(record.path)


def iter_decoded_batches(
    records: Iterable[ImageRecord],
    batch_size: int,
    workers: int = 2,
    prefetch: int = 2,
    decode: Callable[[ImageRecord], np.ndarray] | None = None,
) -> Iterator[DecodedBatch]:
    """Yield :class:`DecodedBatch` es of up to ``batch_size`` decoded images.

    Decoding runs ``prefetch`` batches ahead on ``workers`` threads. An image that fails
    to decode becomes a :class:`Skip` (its exception message is the reason) and the
    batch goes on without it.
    """
    decode = decode or _default_decoder()
    chunks = _chunks(records, batch_size)
    out: queue.Queue = queue.Queue(maxsize=max(prefetch, 1))
    stop = threading.Event()
    _DONE = object()

    def decode_one(record: ImageRecord):
        try:
            return record, decode(record), None
        except Exception as exc:  # one bad file must never end the run
            reason = str(exc) or type(exc).__name__
            return record, None, Skip(record.name, reason.splitlines()[0])

    def producer() -> None:
        try:
            with ThreadPoolExecutor(max_workers=max(workers, 1), thread_name_prefix="yololens-decode") as pool:
                for chunk in chunks:
                    if stop.is_set():
                        return
                    batch = DecodedBatch([], [])
                    for record, image, skip in pool.map(decode_one, chunk):
                        if skip is None:
                            batch.records.append(record)
                            batch.images.append(image)
                        else:
                            batch.skips.append(skip)
                    _put(out, batch, stop)
        except BaseException as exc:  # surface producer errors in the consumer
            _put(out, exc, stop)
        finally:
            _put(out, _DONE, stop)

    thread = threading.Thread(target=producer, name="yololens-batches", daemon=True)
    thread.start()
    try:
        while True:
            item = out.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # drain so the producer can see `stop` and exit
            try:
                out.get(timeout=0.05)
            except queue.Empty:
                pass
        thread.join()


def _put(q: queue.Queue, item, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


def _chunks(records: Iterable[ImageRecord], size: int) -> Iterator[list[ImageRecord]]:
    chunk: list[ImageRecord] = []
    for record in records:
        chunk.append(record)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
