"""``yololens export fiftyone``: a run as a FiftyOne dataset folder, and :func:`to_fiftyone` to load it.

The folder is FiftyOne's own ``FiftyOneImageLabelsDataset`` format, written by FiftyOne's own exporter
(``fiftyone.utils.data.FiftyOneImageLabelsDatasetExporter``, which needs no database)::

    OUT/manifest.json           FiftyOne's index: one {"data", "labels"} record per image
    OUT/data/                   the images: symlinks to the originals (--media symlink) or copies
    OUT/labels/<image>.json     ETA ImageLabels: the `ground_truth` and `predictions` detections
    OUT/embeddings/<stage>.npy  (M, C) float32 per layer; row i is the detection in row i of index.parquet
                                (NaN rows where the layer has no value, e.g. emb_coef on ground truth)
    OUT/embeddings/index.parquet  object_id, field, image: the detection each embedding row belongs to
    OUT/yololens.json           the run it came from, layers, counts, skipped images

Every detection holds ``label`` (class name), ``bounding_box`` ``[x, y, w, h]`` relative to the image (FiftyOne's
convention), ``confidence`` (predictions), and as attributes ``object_id``, ``status``, ``class_id``, ``gt_id``,
``match_iou``, ``box_area``, every ``attr_*`` column and, when `yololens suspects` ran, ``suspect_score``,
``suspect_suggested`` and ``suspect_kind`` (values that do not apply are left out). Attributes with one
value per image (BDD's ``attr_weather``, ``attr_scene``, ``attr_timeofday``) are also sample-level classifications
(``weather``, ...).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from yololens import reprs
from yololens.analysis import table as T
from yololens.analysis.run import run_folder
from yololens.analysis.suspect_columns import COLUMNS as SUSPECT_COLUMNS
from yololens.analysis.suspect_columns import with_suspects
from yololens.errors import InputError
from yololens.figures.thumbnails import CropLoader
from yololens.sources.records import Skip
from yololens.store.atomic import atomic_path, save_npy, write_json
from yololens.store.naming import data_name
from yololens.types import ExportMedia

FIFTYONE_DIR = "fiftyone"
FIELDS = {"gt": "ground_truth", "pred": "predictions"}  # origin -> FiftyOne label field
EMB_DIR = "embeddings"
INDEX_FILE = "index.parquet"
INFO_FILE = "yololens.json"
HINT = 'the FiftyOne export needs the optional extra: pip install "yololens[fiftyone]"'
#: Table columns stored as detection attributes (besides every ``attr_*``); the box, class and score have fields.
ATTRIBUTES = ("object_id", "status", "class_id", "gt_id", "match_iou", "box_area", *SUSPECT_COLUMNS)


@dataclass
class FiftyOneExport:
    """What :func:`export_fiftyone` wrote: ``out`` (the dataset folder), images and detections per field,
    the embedding files per stage, and the images skipped (not found)."""

    out: Path
    images: int = 0
    detections: dict[str, int] = field(default_factory=dict)
    embeddings: dict[str, Path] = field(default_factory=dict)
    skips: list[Skip] = field(default_factory=list)

    def summary(self) -> str:
        dets = ", ".join(f"{n:,} {f}" for f, n in self.detections.items())
        return (f"fiftyone: {self.images:,} images, {dets}, embeddings {', '.join(self.embeddings) or 'none'}, "
                f"{len(self.skips)} skipped -> {self.out}")

    def __repr__(self) -> str:
        return reprs.text("FiftyOneExport", self.summary())


def _fiftyone():
    """FiftyOne's label classes and its ImageLabels exporter/importer; an :class:`InputError` when absent."""
    try:
        import fiftyone.core.labels as fol
        from fiftyone.utils.data.exporters import FiftyOneImageLabelsDatasetExporter
        from fiftyone.utils.data.importers import FiftyOneImageLabelsDatasetImporter
    except ImportError:
        raise InputError(HINT) from None
    return fol, FiftyOneImageLabelsDatasetExporter, FiftyOneImageLabelsDatasetImporter


def export_fiftyone(
    run: str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    layers: int | str | list = "all",
    media: ExportMedia | str = ExportMedia.SYMLINK,
    images_root: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> FiftyOneExport:
    """Write the run folder ``run`` as a FiftyOne ``FiftyOneImageLabelsDataset`` folder ``out``.

    ``out``: default ``RUN/fiftyone``; written to a temp folder beside it and renamed into place at the end, so
    an interrupted export leaves nothing half-written. ``layers``: the embedding columns saved under
    ``embeddings/`` (``"all"``, ``9``, ``"9,15"``). ``media``: ``symlink`` (links to the original images) or
    ``copy``. Images that cannot be found are skipped, one line each in ``skips``.
    """
    run = run_folder(run)
    fol, Exporter, _ = _fiftyone()
    media = ExportMedia(media)
    columns = T.resolve_columns(run, layers) if T.embedding_columns(T.read_schema(run)) else []
    out = Path(out) if out is not None else T.out_dir(run) / FIFTYONE_DIR
    if out.exists() and not overwrite:
        raise InputError(f"{out}: already exists; pass --overwrite to replace it")
    meta = pq.read_table(T.objects_path(run), columns=T.scalar_columns(T.read_schema(run))).to_pandas()
    meta["_row"] = np.arange(len(meta))
    meta = with_suspects(meta, run)  # suspect_score/suggested/kind fields when `suspects` ran
    loader = CropLoader(run, images_root)
    frame_cols = frame_attributes(meta)
    result = FiftyOneExport(out=out, detections={f: 0 for f in FIELDS.values()})
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    index: list[dict] = []
    try:
        exporter = Exporter(str(tmp), export_media=True if media == ExportMedia.COPY else "symlink")
        with exporter:
            for image, objs in meta.groupby("image_index", sort=True):
                name = str(objs["image"].iloc[0])
                path = loader.resolve_image(name)
                if path is None:
                    result.skips.append(Skip(name, "image not found under the run's source or --images-root"))
                    continue
                labels = {c[len("attr_"):]: fol.Classification(label=str(v)) for c in frame_cols
                          if (v := _plain(objs[c].dropna().iloc[0] if objs[c].notna().any() else None)) is not None}
                for origin, fld in FIELDS.items():
                    part = objs[objs["origin"] == origin]
                    labels[fld] = fol.Detections(detections=[_detection(fol, r) for r in part.to_dict("records")])
                    index += [{"object_id": r["object_id"], "field": fld, "image": name, "row": int(r["_row"])}
                              for r in part[["object_id", "_row"]].to_dict("records")]
                    result.detections[fld] += len(part)
                exporter.export_sample(str(path.resolve()), labels)
                result.images += 1
        _write_embeddings(run, tmp, columns, index, result)
        write_json(tmp / INFO_FILE, {"run": str(T.out_dir(run).resolve()), "layers": [T.stage_label(c) for c in columns],
                                     "fields": list(FIELDS.values()), "images": result.images,
                                     "detections": result.detections, "media": str(media),
                                     "skips": [str(s) for s in result.skips]})
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result.embeddings = {k: out / p.relative_to(tmp) for k, p in result.embeddings.items()}
    return result


def frame_attributes(meta: pd.DataFrame) -> list[str]:
    """The ``attr_*`` columns with one value per image, on all its rows (BDD's weather, scene, timeofday): they
    also become sample-level classifications named without the prefix (``weather``), to filter images by them."""
    cols = [c for c in meta.columns if c.startswith("attr_")]
    if not cols or meta.empty:
        return []
    groups = meta.groupby("image_index")[cols]
    single = groups.nunique(dropna=True).max() <= 1
    # frame attributes sit on every row of an image (predictions too); label attributes only on its gt rows
    counts = groups.count()
    everywhere = ((counts == 0) | counts.eq(groups.size(), axis=0)).all()
    return [c for c in cols if single[c] and everywhere[c]]


def _detection(fol, row: dict):
    """One objects-table row -> a FiftyOne ``Detection`` (box relative to the image: ``[x, y, w, h]`` in 0..1)."""
    w, h = float(row["image_w"]), float(row["image_h"])
    x1, y1, x2, y2 = (float(row[k]) for k in ("x1", "y1", "x2", "y2"))
    attrs = {k: _plain(row.get(k)) for k in (*ATTRIBUTES, *(c for c in row if c.startswith("attr_")))}
    return fol.Detection(label=row["class_name"], bounding_box=[x1 / w, y1 / h, (x2 - x1) / w, (y2 - y1) / h],
                         confidence=_plain(row.get("score")),
                         **{k: v for k, v in attrs.items() if v is not None})


def _plain(v):
    """numpy/pandas scalars -> Python values; missing (None, NaN, NA) -> None."""
    if v is None or (not isinstance(v, str) and bool(pd.isna(v))):
        return None
    return v.item() if isinstance(v, np.generic) else v


def _write_embeddings(run, folder: Path, columns: list[str], index: list[dict], result: FiftyOneExport) -> None:
    """``embeddings/<stage>.npy`` ``(M, C)`` aligned with ``embeddings/index.parquet`` (M exported detections)."""
    rows = np.asarray([r["row"] for r in index], dtype=np.int64)
    for col in columns:
        valid = T.valid_embedding_mask(run, col)[rows]
        first = T.read_embeddings(run, col, rows[valid][:1]) if valid.any() else np.zeros((0, 0), np.float32)
        X = np.full((len(rows), first.shape[1]), np.nan, dtype=np.float32)
        if valid.any():
            X[valid] = T.read_embeddings(run, col, rows[valid])
        path = folder / EMB_DIR / f"{data_name(T.stage_label(col))}.npy"
        save_npy(path, X)
        result.embeddings[T.stage_label(col)] = path
    tbl = pa.table({k: [r[k] for r in index] for k in ("object_id", "field", "image")})
    with atomic_path(folder / EMB_DIR / INDEX_FILE) as tmp:
        pq.write_table(tbl, tmp)


def read_embeddings(export: str | os.PathLike) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """An export's embedding index (``object_id, field, image``) and ``{stage: (M, C) float32}``, row-aligned."""
    folder = Path(export) / EMB_DIR
    if not (folder / INDEX_FILE).is_file():
        raise InputError(f"{export}: no {EMB_DIR}/{INDEX_FILE} (not a yololens FiftyOne export)")
    index = pq.read_table(folder / INDEX_FILE).to_pandas()
    return index, {p.stem: np.load(p) for p in sorted(folder.glob("*.npy"))}


def to_fiftyone(run: str | os.PathLike, name: str | None = None, *, export_dir: str | os.PathLike | None = None,
                layers: int | str | list = "all", overwrite: bool = False):
    """Load a run into a ``fiftyone.Dataset`` with every layer's embeddings on its detections.

    ``run``: a run folder (exported first to ``export_dir``, default ``RUN/fiftyone``, unless that already
    exists) or an export folder. Each detection gets ``emb_<stage>`` (e.g. ``emb_L9``), so
    ``fiftyone.brain.compute_visualization(ds, patches_field="predictions", embeddings="emb_L9")`` runs on the
    stored vectors without recomputing anything. Needs a reachable MongoDB (FiftyOne's database).
    """
    _, _, Importer = _fiftyone()
    import fiftyone as fo

    src = run_folder(run)
    if (src / INFO_FILE).is_file():
        export = src
    else:
        export = Path(export_dir) if export_dir is not None else T.out_dir(run) / FIFTYONE_DIR
        if overwrite or not (export / INFO_FILE).is_file():
            export_fiftyone(run, export, layers=layers, overwrite=overwrite)
    dataset = fo.Dataset(name)
    dataset.add_importer(Importer(str(export)))
    index, embeddings = read_embeddings(export)
    for fld in FIELDS.values():
        if not dataset.has_field(fld):
            continue
        pos = {oid: i for i, oid in enumerate(index["object_id"]) if index["field"].iat[i] == fld}
        ids = dataset.values(f"{fld}.detections.object_id")
        for stage, X in embeddings.items():
            values = [[_vector(X, pos.get(oid)) for oid in (dets or [])] for dets in ids]
            dataset.set_values(f"{fld}.detections.emb_{stage}", values)
    return dataset


def _vector(X: np.ndarray, i: int | None):
    return None if i is None or not np.isfinite(X[i]).all() else X[i]
