"""Plan batches, and decode images on background threads while the model runs.

Batches hold images of one shape only, so every image gets its own minimal-rectangle
letterbox (exactly what Ultralytics predict gives it at batch 1), whatever its neighbours:
results do not depend on batch composition, and a resumed run equals an uninterrupted one.
Batches are planned inside fixed *windows* of the source order, so rows can be written
window by window in source order.

cv2 releases the GIL while decoding, so a small thread pool overlaps image I/O with the
forward pass.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
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
    return image_decoder()


def image_decoder(max_image_bytes: int | None = None) -> Callable[[ImageRecord], np.ndarray]:
    """record -> BGR image, refusing files above ``max_image_bytes`` (default: the decoder's 1 GiB)."""
    from yololens.sources.images import DEFAULT_MAX_IMAGE_BYTES, decode_image

    limit = DEFAULT_MAX_IMAGE_BYTES if max_image_bytes is None else max_image_bytes
    return lambda record: decode_image(record.path, max_bytes=limit)


def plan_windows(records: Sequence[ImageRecord], window: int) -> list[list[ImageRecord]]:
    """Fixed windows of ``window`` consecutive records over the *full* source order."""
    return [list(records[i:i + window]) for i in range(0, len(records), window)]


def bucket_by_shape(records: Iterable[ImageRecord], batch_size: int,
                    shape_of: Callable[[ImageRecord], object] | None = None) -> list[list[ImageRecord]]:
    """Split ``records`` into batches of one image shape each (groups in first-seen order).

    ``shape_of`` reads the size from the file header (cheap); a file whose header cannot
    be read gets its own key and fails later, in decoding, with a proper reason.
    """
    shape_of = shape_of or _header_shape
    groups: dict[object, list[ImageRecord]] = {}
    for record in records:
        groups.setdefault(shape_of(record), []).append(record)
    return [group[i:i + batch_size] for group in groups.values() for i in range(0, len(group), batch_size)]


def _header_shape(record: ImageRecord) -> object:
    from yololens.sources.images import read_image_size

    try:
        return read_image_size(record.path)
    except Exception:  # reported when the image is decoded
        return ("unreadable", record.index)


def iter_decoded_batches(
    batches: Iterable[list[ImageRecord]] | Sequence[ImageRecord],
    batch_size: int | None = None,
    workers: int = 2,
    prefetch: int = 2,
    decode: Callable[[ImageRecord], np.ndarray] | None = None,
) -> Iterator[DecodedBatch]:
    """Decode planned ``batches`` (lists of records) and yield them as :class:`DecodedBatch`.

    With ``batch_size``, ``batches`` is a plain sequence of records, planned here with
    :func:`bucket_by_shape` (so batches may come out of source order).

    Decoding runs ``prefetch`` batches ahead on ``workers`` threads. An image that fails
    to decode becomes a :class:`Skip` (its exception message is the reason) and the
    batch goes on without it.
    """
    decode = decode or _default_decoder()
    chunks = iter(bucket_by_shape(batches, batch_size) if batch_size is not None else batches)
    out: queue.Queue = queue.Queue(maxsize=max(prefetch, 1))
    stop = threading.Event()
    _DONE = object()

    def decode_one(record: ImageRecord):
        try:
            return record, decode(record), None
        except Exception as exc:  # one bad file must never end the run
            # ImageDecodeError carries the bare reason; its str() repeats the path the Skip already names
            reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
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
