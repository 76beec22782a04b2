"""``yololens export tensorboard``: embeddings as the files TensorBoard's projector plugin loads.

``tensorboard --logdir OUT`` then shows them under *Projector* (PCA, t-SNE, UMAP, search, the crops). Written
into ``OUT`` (default ``RUN/tensorboard``), every file atomically:

* ``<stage>_tensors.tsv``: ``(N, C)`` float32 per layer, tab-separated, ``%.9g`` (float32 round-trips exactly);
* ``metadata.tsv``: a header line and one line per object with every scalar column of the objects table;
* ``sprite.png``: the object crops, ``thumb_size`` px cells in a grid of ``ceil(sqrt(N))`` columns, at most
  8192 x 8192 px, which caps the objects at ``(8192 // thumb_size)**2`` (16,384 at 64 px);
* ``projector_config.pbtxt``: a ``ProjectorConfig`` text proto, one ``embeddings`` entry per layer.

Every layer holds the same objects in the same order (rows where all chosen layers are present).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from yololens import reprs
from yololens.analysis import table as T
from yololens.analysis.projection import select_rows
from yololens.analysis.run import run_folder
from yololens.errors import InputError
from yololens.figures.thumbnails import CropLoader
from yololens.store.atomic import atomic_path, write_text
from yololens.store.lock import DirectoryLock
from yololens.store.naming import data_name

TENSORBOARD_DIR = "tensorboard"
CONFIG_FILE = "projector_config.pbtxt"  # the name TensorBoard's projector plugin looks for
METADATA_FILE = "metadata.tsv"
SPRITE_FILE = "sprite.png"
SPRITE_MAX_PX = 8192  # the projector's limit on the sprite's side
SPRITE_BACKGROUND = (255, 255, 255)


def sprite_capacity(thumb_size: int) -> int:
    """How many ``thumb_size`` px crops fit in one sprite of at most ``SPRITE_MAX_PX`` px per side."""
    if not 1 <= thumb_size <= SPRITE_MAX_PX:
        raise InputError(f"--thumb-size must be between 1 and {SPRITE_MAX_PX}, not {thumb_size}")
    return (SPRITE_MAX_PX // thumb_size) ** 2


@dataclass
class TensorBoardExport:
    """What :func:`export_tensorboard` wrote.

    out: the log folder (``tensorboard --logdir out``); config: ``projector_config.pbtxt``; tensors: stage ->
    TSV path; n: objects exported; available: objects with every chosen layer; capped: the sprite cap cut
    the export to ``sprite_cap`` objects; missing_crops: sprite cells left blank (image not found).
    """

    out: Path
    config: Path
    tensors: dict[str, Path] = field(default_factory=dict)
    dims: dict[str, int] = field(default_factory=dict)
    metadata: Path | None = None
    sprite: Path | None = None
    n: int = 0
    available: int = 0
    sprite_cap: int | None = None
    capped: bool = False
    missing_crops: int = 0
    columns: list[str] = field(default_factory=list)

    def summary(self) -> str:
        cap = (f"; the sprite holds at most {self.sprite_cap:,} crops, so a class-stratified sample of "
               f"{self.n:,} of {self.available:,} objects was exported" if self.capped else "")
        return (f"tensorboard: {self.n:,} objects x {len(self.tensors)} layer(s) ({', '.join(self.tensors)})"
                f"{cap} -> {self.out} (open: tensorboard --logdir {self.out})")

    def __repr__(self) -> str:
        return reprs.text("TensorBoardExport", self.summary(), {"metadata columns": reprs.short_list(self.columns)})


def export_tensorboard(
    run: str | os.PathLike,
    layer: int | str | list = 9,
    *,
    out: str | os.PathLike | None = None,
    sample: int | None = None,
    seed: int = 0,
    label: str = "class_name",
    sprite: bool = True,
    thumb_size: int = 64,
    images_root: str | os.PathLike | None = None,
) -> TensorBoardExport:
    """Write ``layer``'s embeddings of the run folder ``run`` as TensorBoard projector files into ``out``.

    ``layer``: ``9``, ``"coef"``, ``"9,15"`` or ``"all"``; ``sample``: a ``label``-stratified sample of this many
    objects (deterministic with ``seed``). With ``sprite`` the count is capped at :func:`sprite_capacity`
    (a stratified sample again, stated in the summary); ``sprite=False`` exports every object.
    """
    run = run_folder(run)
    columns = T.resolve_columns(run, layer)
    out = Path(out) if out is not None else T.out_dir(run) / TENSORBOARD_DIR
    cap = sprite_capacity(thumb_size) if sprite else None
    rows, ids = select_rows(run, columns[0], sample=sample, seed=seed, label=label, require=columns[1:])
    available = len(rows)
    if cap is not None and available > cap:
        rows, ids = select_rows(run, columns[0], sample=cap, seed=seed, label=label, require=columns[1:])
    meta = T.read_meta(run).iloc[rows].reset_index(drop=True)
    result = TensorBoardExport(out=out, config=out / CONFIG_FILE, n=len(rows), available=available, sprite_cap=cap,
                               capped=cap is not None and available > cap, columns=list(meta.columns))
    with DirectoryLock(out):
        for col in columns:
            path = out / f"{data_name(T.stage_label(col))}_tensors.tsv"
            X = T.read_embeddings(run, col, rows)
            with atomic_path(path) as tmp:
                np.savetxt(tmp, X, fmt="%.9g", delimiter="\t")
            result.tensors[T.stage_label(col)] = path
            result.dims[T.stage_label(col)] = int(X.shape[1])
        result.metadata = out / METADATA_FILE
        with atomic_path(result.metadata) as tmp, open(tmp, "w", encoding="utf-8") as fh:
            fh.writelines(metadata_lines(meta))
        if sprite:
            result.sprite = out / SPRITE_FILE
            result.missing_crops = _write_sprite(result.sprite, CropLoader(run, images_root, size=thumb_size),
                                                 meta, thumb_size)
        write_text(result.config, projector_config(result, columns, thumb_size))
    return result


def metadata_lines(meta) -> Iterator[str]:
    """A header line, then one line per row; tabs and newlines inside values become spaces, missing values ""."""
    def cell(v) -> str:
        if v is None or (not isinstance(v, str) and bool(pd.isna(v))):
            return ""
        return " ".join(str(v).split()) if isinstance(v, str) else str(v)

    yield "\t".join(cell(str(c)) for c in meta.columns) + "\n"  # a name with a tab would shift every column
    for row in meta.itertuples(index=False, name=None):
        yield "\t".join(cell(v) for v in row) + "\n"


def _write_sprite(path: Path, loader: CropLoader, meta, size: int) -> int:
    """Paste every row's crop (centred in a ``size`` px cell) into one grid image; returns the blank cells."""
    from PIL import Image

    n = len(meta)
    cols = max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    sheet = Image.new("RGB", (cols * size, rows * size), SPRITE_BACKGROUND)
    missing = 0
    for i, crop in enumerate(loader.load_many(meta)):
        if crop is None:
            missing += 1
            continue
        crop.thumbnail((size, size))
        x, y = (i % cols) * size, (i // cols) * size
        sheet.paste(crop, (x + (size - crop.width) // 2, y + (size - crop.height) // 2))
    with atomic_path(path) as tmp:
        sheet.save(tmp, format="PNG")
    return missing


def projector_config(result: TensorBoardExport, columns: list[str], thumb_size: int) -> str:
    """The ``ProjectorConfig`` text proto: one ``embeddings`` entry per layer, paths relative to the log folder."""
    parts = []
    for col in columns:
        stage = T.stage_label(col)
        entry = [f'  tensor_name: "{stage}"', f'  tensor_path: "{result.tensors[stage].name}"',
                 f'  metadata_path: "{METADATA_FILE}"', f"  tensor_shape: {result.n}", f"  tensor_shape: {result.dims[stage]}"]
        if result.sprite is not None:
            entry += ["  sprite {", f'    image_path: "{SPRITE_FILE}"', f"    single_image_dim: {thumb_size}",
                      f"    single_image_dim: {thumb_size}", "  }"]
        parts.append("embeddings {\n" + "\n".join(entry) + "\n}\n")
    return "".join(parts)
