"""Object thumbnails: read ``crop`` files or cut the box out of the original image; place them without overlap.

Crop sources, in order: the ``crop`` column (path relative to OUT, written by ``extract --crops``), else the
``image`` column resolved against the image roots (``--images-root``, the run's source from manifest.json,
OUT) cut at ``x1, y1, x2, y2`` (original pixels, after EXIF orientation).
"""

from __future__ import annotations

import base64
import io
import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from yololens.analysis.table import image_roots, out_dir
from yololens.model.ultra import pil_open


class CropLoader:
    """Load ``size``-pixel object thumbnails (longest side) for rows of the objects table.

    ``pad``: extra context around the box, as a fraction of its size. Images are opened once per
    image (a small LRU cache), so pass rows sorted by image when loading many.
    """

    def __init__(self, out: str | os.PathLike, images_root: str | os.PathLike | None = None, size: int = 64,
                 pad: float = 0.08, cache: int = 8):
        self.out = out_dir(out)
        self.roots = image_roots(out, images_root)
        self.size = int(size)
        self.pad = float(pad)
        self._cache: OrderedDict[str, object] = OrderedDict()
        self._cache_n = cache
        self._missing: set[str] = set()

    def resolve_image(self, image: str) -> Path | None:
        p = Path(image)
        if p.is_absolute():
            return p if p.is_file() else None
        for root in self.roots:
            q = root / p
            if q.is_file():
                return q
        return None

    def _open(self, image: str):
        from PIL import ImageOps

        if image in self._cache:
            self._cache.move_to_end(image)
            return self._cache[image]
        if image in self._missing:
            return None
        path = self.resolve_image(image)
        if path is None:
            self._missing.add(image)
            return None
        try:
            with pil_open(path) as im:
                img = ImageOps.exif_transpose(im).convert("RGB")
        except (OSError, ValueError):
            self._missing.add(image)
            return None
        self._cache[image] = img
        if len(self._cache) > self._cache_n:
            self._cache.popitem(last=False)
        return img

    def image(self, image: str):
        """The whole RGB image ``image`` (relative to the roots, EXIF-oriented, cached) or None."""
        return self._open(image)

    def load(self, row) -> "Image.Image | None":  # noqa: F821
        """``row``: mapping with ``crop`` and/or ``image``, ``x1``..``y2``. Returns an RGB PIL image or None."""
        crop = row.get("crop") if hasattr(row, "get") else None
        if isinstance(crop, str) and crop:
            p = self.out / crop
            if p.is_file():
                try:
                    with pil_open(p) as im:
                        img = im.convert("RGB")
                    img.thumbnail((self.size, self.size))
                    return img
                except (OSError, ValueError):
                    pass
        image = row.get("image")
        if not isinstance(image, str) or not all(_finite(row.get(k)) for k in ("x1", "y1", "x2", "y2")):
            return None
        img = self._open(image)
        if img is None:
            return None
        x1, y1, x2, y2 = (float(row[k]) for k in ("x1", "y1", "x2", "y2"))
        pw, ph = (x2 - x1) * self.pad, (y2 - y1) * self.pad
        box = (
            int(max(0, np.floor(x1 - pw))),
            int(max(0, np.floor(y1 - ph))),
            int(min(img.width, np.ceil(x2 + pw))),
            int(min(img.height, np.ceil(y2 + ph))),
        )
        if box[2] - box[0] < 1 or box[3] - box[1] < 1:
            return None
        out = img.crop(box)
        out.thumbnail((self.size, self.size))
        if out.width < self.size and out.height < self.size:  # tiny boxes: scale up so they stay visible
            s = self.size / max(out.width, out.height)
            out = out.resize((max(1, round(out.width * s)), max(1, round(out.height * s))))
        return out

    def load_many(self, df: pd.DataFrame) -> list:
        """One thumbnail (or None) per row of ``df``, in ``df`` order; images are read once each."""
        result: list = [None] * len(df)
        records = df.to_dict("records")
        order = sorted(range(len(df)), key=lambda i: str(records[i].get("image", "")))
        for i in order:
            result[i] = self.load(records[i])
        return result


def _finite(v) -> bool:
    try:
        return v is not None and np.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def to_data_uri(img, quality: int = 70) -> str:
    """A PIL image as a base64 JPEG data URI (``data:image/jpeg;base64,...``)."""
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def greedy_place(xy: np.ndarray, box: tuple[float, float], order: Sequence[int] | None = None,
                 max_n: int | None = None) -> np.ndarray:
    """Indices of points whose ``box`` (w, h), centred on the point, overlaps no earlier accepted box.

    ``xy``: ``(N, 2)`` display coordinates (pixels); candidates are tried in ``order`` (default 0..N-1) until
    ``max_n`` are accepted. A uniform grid of ``box``-sized cells makes each test O(1).
    """
    xy = np.asarray(xy, dtype=np.float64)
    w, h = float(box[0]), float(box[1])
    order = np.arange(len(xy)) if order is None else np.asarray(order)
    grid: dict[tuple[int, int], list[int]] = {}
    accepted: list[int] = []
    for i in order:
        if max_n is not None and len(accepted) >= max_n:
            break
        x, y = xy[i]
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        gx, gy = int(np.floor(x / w)), int(np.floor(y / h))
        clash = False
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                for j in grid.get((gx + dx, gy + dy), ()):
                    if abs(xy[j, 0] - x) < w and abs(xy[j, 1] - y) < h:
                        clash = True
                        break
                if clash:
                    break
            if clash:
                break
        if not clash:
            grid.setdefault((gx, gy), []).append(int(i))
            accepted.append(int(i))
    return np.asarray(accepted, dtype=np.int64)
