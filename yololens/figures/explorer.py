"""What the interactive scatter needs beyond the points: the click panel's images, partners and neighbours.

* neighbours: the ``k`` nearest objects of every point in *embedding* space (cosine; exact up to 20k
  points, Annoy above), one ``(N, k)`` int32 table per stage, computed when the HTML is written (the 2-D map
  distorts distances);
* partner: the row of the matched gt box of a TP prediction, or of the matching prediction of a TP gt box
  (same image and ``gt_id``), ``-1`` elsewhere;
* images: the whole image, downscaled to ``image_px`` (longest side) and embedded as a JPEG data URI, for the
  images of the points that carry a hover crop, at most ``max_images`` of them. The HTML stays one file that
  opens offline and survives copying; the page says which images it holds;
* files: where the original images are (a ``file:`` URI folder, or one URI per image), so that on the machine
  that wrote the page the panel zooms at full resolution; a copied page falls back to the embedded images.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from yololens.analysis import table as T
from yololens.analysis.neighbours import N_NEIGHBOURS, NeighbourSearch, nearest_neighbours
from yololens.types import Origin

IMAGE_PX = 320
MAX_IMAGES = 150


@dataclass
class ExplorerData:
    """Row-aligned with the plotted objects (``N`` rows).

    neighbours: per stage, ``(N, k)`` int32 row indices (nearest first, ``-1`` padding); distances: per stage,
    ``(N, k)`` uint8 cosine distances (``round(d * 127.5)``, d in [0, 2]); stages: their labels;
    partner: ``(N,)`` int32 row of the matched partner or ``-1``; image_code: ``(N,)`` int32 index into
    ``image_uris`` or ``-1`` (image not embedded); note: one sentence for the page saying what is embedded;
    file_root / files: see :func:`image_files`.
    """

    neighbours: list[np.ndarray] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)
    partner: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    image_code: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    image_uris: list[str] = field(default_factory=list)
    note: str = ""
    k: int = N_NEIGHBOURS
    distances: list[np.ndarray] = field(default_factory=list)
    file_root: str = ""
    files: dict = field(default_factory=dict)


def partners(meta: pd.DataFrame) -> np.ndarray:
    """``(N,)`` int32: for each TP row, the row of the other origin with the same image and ``gt_id``."""
    n = len(meta)
    out = np.full(n, -1, dtype=np.int32)
    if not {"gt_id", "origin", "image", "status"} <= set(meta.columns):
        return out
    key = meta["image"].astype(str) + "\x00" + meta["gt_id"].astype(object).where(meta["gt_id"].notna(), "").astype(str)
    ok = (meta["status"] == "TP").to_numpy() & meta["gt_id"].notna().to_numpy()
    first: dict[tuple[str, str], int] = {}
    for i in np.flatnonzero(ok):
        first.setdefault((meta["origin"].iat[i], key.iat[i]), int(i))
    for i in np.flatnonzero(ok):
        other = Origin.PRED if meta["origin"].iat[i] == Origin.GT else Origin.GT
        out[i] = first.get((other, key.iat[i]), -1)
    return out


def cosine_distances_u8(X: np.ndarray, nn: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """``(N, k)`` uint8: the cosine distance from row ``i`` of ``X`` ``(N, C)`` to each of its neighbours ``nn``
    ``(N, k)`` (``-1``: 255), quantised as ``round(d * 127.5)`` (d in [0, 2], a step of 0.008)."""
    X = np.asarray(X, np.float32)
    Xn = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    out = np.full(nn.shape, 255, np.uint8)
    for a in range(0, len(X), chunk):
        idx = nn[a:a + chunk]
        cos = np.einsum("nc,nkc->nk", Xn[a:a + chunk], Xn[np.maximum(idx, 0)])
        d = np.clip(1.0 - cos, 0.0, 2.0)
        out[a:a + chunk] = np.where(idx >= 0, np.round(d * 127.5), 255).astype(np.uint8)
    return out


#: the most images listed one by one when they do not share a folder (a page at 1.8M objects would carry 80k)
MAX_FILES = 20_000


def image_files(loader, names, image_paths: dict | None = None) -> tuple[str, dict]:
    """Where the original images are, for the click panel's full-resolution zoom: ``(file_root, files)``.

    ``file_root``: the ``file:`` URI of the folder that holds the first image as ``root/name``, assumed for every
    image (no per-image lookups at 80k images; a missing file shows the embedded copy); ``files``:
    ``{name: file URI}`` for images given by ``image_paths`` outside that folder, or with absolute names.
    """
    from pathlib import Path

    names = [v for v in names if isinstance(v, str) and v]
    files: dict[str, str] = {}
    root = ""
    for name in names[:50]:
        where = (image_paths or {}).get(name)
        path = Path(where) if where else loader.resolve_image(name)
        if path is not None and not Path(name).is_absolute() and path.as_posix().endswith("/" + name):
            root = Path(path.as_posix()[: -len(name)]).resolve().as_uri() + "/"
            break
    for name in names:
        if len(files) >= MAX_FILES:
            break
        where = (image_paths or {}).get(name) or (name if Path(name).is_absolute() else None)
        if where and not (root and Path(where).resolve().as_uri() == root + Path(name).as_posix()):
            files[name] = Path(where).resolve().as_uri()
    return root, files


def embed_images(out, meta: pd.DataFrame, rows: np.ndarray, *, max_images: int = MAX_IMAGES,
                 image_px: int = IMAGE_PX, images_root=None, image_paths: dict | None = None
                 ) -> tuple[np.ndarray, list[str]]:
    """Downscaled whole images for the images of ``rows`` (first come first served, at most ``max_images``).

    ``image_paths``: ``{image name: file}`` where the caller knows the files (the report's source records);
    other names resolve like the crops (``images_root``, the run's source, OUT).

    Returns ``image_code`` ``(N,)`` int32 (index into the URIs, ``-1``: not embedded) and the URIs.
    """
    from yololens.figures.thumbnails import CropLoader, to_data_uri

    code = np.full(len(meta), -1, dtype=np.int32)
    if max_images <= 0 or len(rows) == 0 or "image" not in meta.columns:
        return code, []
    loader = CropLoader(out, images_root, size=image_px)
    images = meta["image"].astype(object)
    uris: list[str] = []
    lut: dict[str, int] = {}
    for name in dict.fromkeys(images.iloc[np.sort(rows)]):
        if len(uris) >= max_images:
            break
        where = (image_paths or {}).get(name, name)
        img = loader.image(str(where)) if isinstance(name, str) else None
        if img is None:
            continue
        img = img.copy()
        img.thumbnail((image_px, image_px))
        lut[name] = len(uris)
        uris.append(to_data_uri(img, quality=72))
    code[:] = [lut.get(v, -1) if isinstance(v, str) else -1 for v in images]
    return code, uris


def explorer_data(out, projs, meta: pd.DataFrame, thumbs: np.ndarray | None, *, k: int = N_NEIGHBOURS,
                  max_images: int = MAX_IMAGES, image_px: int = IMAGE_PX, images_root=None,
                  image_paths: dict | None = None) -> ExplorerData:
    """Everything the click panel shows for ``meta`` (rows aligned with ``projs[*].object_ids``)."""
    ids = np.asarray(meta["object_id"], dtype=object)
    all_ids = T.read_meta(out, ["object_id"])["object_id"].to_numpy(dtype=object)
    row_of = pd.Series(np.arange(len(all_ids)), index=all_ids)
    table_rows = row_of.reindex(ids).to_numpy()
    neighbours, distances = [], []
    for p in projs:
        X = np.asarray(T.read_embeddings(out, p.column, table_rows.astype(np.int64)), dtype=np.float32)
        neighbours.append(nearest_neighbours(X, k))
        distances.append(cosine_distances_u8(X, neighbours[-1]))
    with_crop = np.flatnonzero(thumbs != "") if thumbs is not None else np.arange(0)
    code, uris = embed_images(out, meta, with_crop, max_images=max_images, image_px=image_px,
                              images_root=images_root, image_paths=image_paths)
    n_img = meta["image"].nunique() if "image" in meta.columns else 0
    from yololens.figures.thumbnails import CropLoader

    names = pd.unique(meta["image"].astype(object)) if "image" in meta.columns else []
    root, files = image_files(CropLoader(out, images_root), names, image_paths)
    note = (f"Click a point: its whole image (downscaled to {image_px} px) is embedded for {len(uris):,} of "
            f"{n_img:,} images, those of the {len(with_crop):,} points with a hover crop (at most {max_images}); "
            f"other points show their details without the image. The zoom and the large view read the original "
            f"files where this computer has them ({'found' if root or files else 'not found'} when the page was "
            f"written). Neighbours: the {k} nearest objects in "
            f"embedding space ({NeighbourSearch(len(meta)).describe()}), not in 2-D.")
    return ExplorerData(neighbours=neighbours, stages=[T.stage_label(p.column) for p in projs],
                        partner=partners(meta), image_code=code, image_uris=uris, note=note, k=k,
                        distances=distances, file_root=root, files=files)

