"""The extract job: every object, its box, class and pooled embedding at chosen layers.

One forward pass per batch gives the hooked feature maps and (optionally) the
predictions; ground-truth and predicted boxes are pooled with RoIAlign in letterboxed
space, rows go to a crash-safe resumable Parquet table (``OUT/objects.parquet``).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import torch
from tqdm.auto import tqdm

from yololens.engine.backends import prepare_model
from yololens.engine.batching import image_decoder
from yololens.engine.mask_pool import MaskPooler, mask_column
from yololens.engine.matching import ClassMap, load_class_map, match, table_matched_pairs
from yololens.engine.pooling import DEFAULT_POOL_SIZE, PoolMode, check_pool_size, clip_to_content, pool_boxes
from yololens.engine.runner import ImageResult, Runner
from yololens.engine.windows import run_windows
from yololens.errors import InputError, StrictModeError
from yololens.model.catalogue import resolve_layers
from yololens.model.loading import LoadedModel
from yololens.options import check_options
from yololens.sources.records import ImageRecord, Skip, Source
from yololens.sources.resolve import as_source
from yololens.store.atomic import remove_stale_temps, write_bytes
from yololens.store.fingerprint import SourceFingerprint
from yololens.store.lock import DirectoryLock
from yololens.store.manifest import write_manifest
from yololens.store.naming import OutputNames
from yololens.store.objects import ObjectRows, attribute_types, embedding_column
from yololens.store.table import ResumableTable, guard_settings

BOX_MODES = ("pred", "gt", "both")
TABLE_NAME = "objects.parquet"
RUN_CONFIG = ".yololens-run.json"


@dataclass
class ExtractResult:
    """What :func:`extract` did.

    Attributes:
        out: the output directory.
        table_path: ``out/objects.parquet`` (``None`` if no image produced a row).
        manifest: the content of ``out/manifest.json``.
        skips: inputs skipped in this run (one line each).
        images_done: images processed in this run (not counting those resumed from before).
        objects: rows written in this run.
    """

    out: Path
    table_path: Path | None
    manifest: dict
    skips: list[Skip] = field(default_factory=list)
    images_done: int = 0
    objects: int = 0

    def table(self, columns: list[str] | None = None) -> pa.Table:
        """The whole objects table as a pyarrow Table (optionally only ``columns``)."""
        if self.table_path is None:
            raise InputError(f"{self.out}: no objects were extracted")
        import pyarrow.parquet as pq

        return pq.read_table(self.table_path, columns=columns)

    def to_pandas(self, columns: list[str] | None = None):
        return self.table(columns).to_pandas()

    def embeddings(self, layer: int | str = 9):
        """``layer``'s embeddings as ``(N, C)`` float32 with their object ids: ``X, ids = res.embeddings("L9")``."""
        from yololens.analysis.table import layer_embeddings

        return layer_embeddings(self.out, layer)

    def __repr__(self) -> str:
        from yololens import reprs

        return reprs.text("ExtractResult", f"{self.objects:,} objects from {self.images_done:,} images in this run, "
                          f"{len(self.skips)} skipped -> {self.out}", reprs.table_fields(self.table_path))


@dataclass(frozen=True)
class ExtractSettings:
    """Everything that changes the rows; a resumed run must use the same settings."""

    model: str
    layers: list
    boxes: str
    imgsz: int
    conf: float
    iou: float
    max_det: int
    match_iou: float
    pool_size: int
    pool: str
    half: bool
    end2end: bool
    crops: bool
    crop_size: int
    class_map: dict
    backend: str
    precision: str


def extract(
    model=None,
    source=None,
    labels=None,
    *,
    out="yololens-out",
    layers=None,
    boxes: str = "pred",
    fmt: str | None = None,
    imgsz: int = 640,
    batch: int = 8,
    conf: float = 0.25,
    iou: float = 0.7,
    max_det: int = 300,
    device: str | None = None,
    half: bool = False,
    end2end: bool | None = None,
    backend: str = "auto",
    threads: int = 0,
    match_iou: float = 0.5,
    class_map: str | Path | ClassMap | None = None,
    pool: str = PoolMode.BOX,
    pool_size: int = DEFAULT_POOL_SIZE,
    crops: bool = False,
    crop_size: int = 128,
    workers: int = 2,
    chunk_images: int = 64,
    max_image_bytes: int | None = None,
    strict: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> ExtractResult:
    """Pool every object's features at ``layers`` and write ``out/objects.parquet``.

    Args:
        model: checkpoint path, model yaml, ``YOLO`` object or :class:`LoadedModel`.
        source: image, folder, text list, or YOLO ``data.yaml``; with ``labels`` (BDD or
            COCO JSON, YOLO label dir) the label file's images are used.
        layers: layer indices/names (``[9, 15]``, ``"sppf,p3"``); default SPPF + the neck
            outputs feeding the head.
        boxes: ``"pred"`` (detections), ``"gt"`` (label boxes) or ``"both"`` (with
            predictions matched to ground truth at ``match_iou``: TP/FP/FN).
        class_map: which label class matches which model class: a YAML/JSON file (label name -> model
            name) or a :class:`ClassMap`; default: the shipped BDD100K -> COCO map.
        imgsz, batch, conf, iou, max_det, device: as in Ultralytics predict.
        half: fp16 on CUDA (torch); bf16 with the OpenVINO backend where the CPU has it.
        backend: ``auto`` (OpenVINO on CPU when installed, else torch), ``torch`` (bitwise
            Ultralytics predict) or ``openvino``; see :mod:`yololens.engine.backends`.
        threads: inference threads (torch threads or OpenVINO ``INFERENCE_NUM_THREADS``; 0: default).
        end2end: YOLO26 only, ``True`` for the NMS-free one-to-one head.
        pool: ``box`` (RoIAlign inside the box: ``emb_L<idx>``), ``mask`` (mean inside the instance mask,
            resampled to each layer's grid, padding excluded: ``emb_L<idx>_mask``; predicted masks for pred
            rows, label polygons/RLE for gt rows; an object without a mask, or with one empty at a layer's
            resolution, gets its box pooling there, named in ``mask_fallback``) or ``both``.
        pool_size: RoIAlign bins per side (>= 1); the embedding is their mean.
        crops: also save object thumbnails (longest side ``crop_size`` px) under ``out/crops``.
        chunk_images: window of consecutive source images per durable part; an interrupted
            run redoes at most the windows in flight. Batches hold images of one shape, so each
            image gets its own minimal letterbox (as Ultralytics predict at batch 1).
        max_image_bytes: skip image files larger than this (default 1 GiB), before reading them.
        strict: stop at the first bad input instead of skipping it.
        overwrite: discard earlier results in ``out`` instead of resuming.

    A rerun into the same ``out`` skips finished images; the final table equals an
    uninterrupted run's.
    """
    if boxes not in BOX_MODES:
        raise InputError(f"--boxes must be one of {', '.join(BOX_MODES)}, not {boxes!r}")
    check_pool_size(pool_size)
    try:
        pool_mode = PoolMode(pool)
    except ValueError:
        raise InputError(f"--pool must be one of {', '.join(m.value for m in PoolMode)}, not {pool!r}") from None
    check_options(imgsz=imgsz, batch=batch, window=chunk_images, workers=workers, conf=conf, iou=iou,
                  match_iou=match_iou, max_det=max_det, pool_size=pool_size, crop_size=crop_size,
                  max_image_bytes=max_image_bytes)
    out = Path(out)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    with DirectoryLock(out):
        loaded, compute = prepare_model(model, device, backend, half, threads, end2end)
        layer_ids = resolve_layers(loaded, layers)
        if pool_mode.masks and loaded.task != "segment" and boxes == "pred":
            raise InputError(f"--pool {pool_mode}: a {loaded.task} model predicts no masks; use a -seg model or "
                             "--boxes gt/both with mask labels")
        timings["load_model"] = time.perf_counter() - t0
        src = as_source(source, labels, fmt, exclude=out)
        if strict and src.skips:
            raise StrictModeError(f"--strict: {src.skips[0]}")
        if boxes != "pred" and not src.has_labels:
            raise InputError(f"{_given(source, labels)[0]}: --boxes {boxes} needs labels; pass --labels FILE_OR_DIR")
        cmap = class_map if isinstance(class_map, ClassMap) else load_class_map(
            class_map, loaded.names.values(), src.class_names or None)
        settings = ExtractSettings(
            model=loaded.sha256 or loaded.source, layers=[str(x) for x in layer_ids], boxes=boxes, imgsz=imgsz,
            conf=conf, iou=iou, max_det=max_det, match_iou=match_iou, pool_size=pool_size, pool=str(pool_mode), half=half,
            end2end=loaded.end2end, crops=crops, crop_size=crop_size, class_map=cmap.describe(),
            backend=str(compute.backend), precision=str(compute.precision),
        )
        table = ResumableTable(out / TABLE_NAME, key_column="image")
        guard_settings(out / RUN_CONFIG, [table], settings.__dict__, overwrite, where=out,
                       source=SourceFingerprint.of(src.records, labels))
        if overwrite:
            shutil.rmtree(out / "crops", ignore_errors=True)
        remove_stale_temps(out)  # half-written temp files of a killed run (we hold the lock: none is live)
        done = table.done_keys()
        redone = [Skip(file, reason, "redone") for file, reason in table.notes]  # corrupt parts set aside
        runner = Runner(loaded, layers=layer_ids, imgsz=imgsz, conf=conf, iou=iou, max_det=max_det,
                        predict=boxes != "gt", **compute.runner_kwargs())
        job = _ExtractJob(loaded, runner, layer_ids, src, out, boxes, match_iou, pool_size, crops, crop_size, cmap,
                          pool_mode)
        timings["prepare"] = time.perf_counter() - t0 - timings["load_model"]
        t_run = time.perf_counter()
        skips = list(src.skips) + redone
        job.decode = image_decoder(max_image_bytes)
        skips.extend(job.run(src.records, done, table, batch, workers, chunk_images, strict, progress))
        timings["run"] = time.perf_counter() - t_run
        t_fin = time.perf_counter()
        final = table.finalize(metadata={"yololens.settings": json.dumps(settings.__dict__)})
        timings["finalize"] = time.perf_counter() - t_fin
        timings["total"] = time.perf_counter() - t0
        n_images = len(job.done_images)
        counts = {
            "images_in_source": len(src.records), "images_resumed": len(done & {r.name for r in src.records}),
            "images_processed": n_images, "objects_written": job.objects, "skipped": len(skips),
            "images_per_s": round(n_images / timings["run"], 3) if timings["run"] > 0 and n_images else None,
        }
        if final is not None:
            import pyarrow.parquet as pq

            counts["objects_total"] = pq.read_metadata(final).num_rows
        given_source, given_labels = _given(source, labels)
        params = {"source": given_source, "labels": given_labels, "format": src.format,
                  "out": str(out), "batch": batch, "device": str(loaded.device), "threads": threads,
                  **settings.__dict__}
        manifest_layers = _layer_info(runner, job)
        extra = {"layers": manifest_layers}
        if final is not None and src.has_labels and boxes == "both":
            extra["class_map"] = {**cmap.describe(), "matched": table_matched_pairs(final)}
        path = write_manifest(out, "extract", params, loaded.describe(), counts, timings, skips, extra=extra)
        manifest = json.loads(path.read_text())
    return ExtractResult(out, final, manifest, skips, n_images, job.objects)


def _given(source, labels) -> tuple[str | None, str | None]:
    """``(source, labels)`` as the user gave them, as text; an opened Source reports the paths it was opened
    from (never its repr, which later steps would read as a path)."""
    if isinstance(source, Source):
        return source.given
    return (None if source is None else str(source)), (None if labels is None else str(labels))


def _layer_info(runner: Runner, job: "_ExtractJob") -> list[dict]:
    info = []
    for layer in job.layer_ids:
        names = ([embedding_column(layer)] if job.pool.boxes else []) + ([mask_column(layer)] if job.pool.masks else [])
        info += [{"layer": layer, "column": c, "channels": job.dims.get(c), "stride": job.strides.get(layer)}
                 for c in names]
    return info


class _ExtractJob:
    """Turns batches of :class:`ImageResult` into object rows, chunk by chunk."""

    def __init__(self, model: LoadedModel, runner: Runner, layer_ids: list, src: Source, out: Path, boxes: str,
                 match_iou: float, pool_size: int, crops: bool, crop_size: int, class_map: ClassMap,
                 pool: PoolMode = PoolMode.BOX):
        self.model, self.runner, self.layer_ids, self.src, self.out = model, runner, layer_ids, src, out
        self.boxes, self.match_iou, self.pool_size, self.class_map = boxes, match_iou, pool_size, class_map
        self.pool = pool
        self.masks = MaskPooler(model, boxes) if pool.masks else None
        wanted = {"video": src.has_video, "frame_index": src.has_video, "track_id": src.has_tracks,
                  "mask_fallback": self.masks is not None}
        self.extra_columns = tuple(c for c, on in wanted.items() if on)
        self.crops, self.crop_size = crops, crop_size
        self.crop_names = OutputNames(r.name for r in src.records) if crops else None
        self.class_index = {name: i for i, name in enumerate(src.class_names)}
        self.dims: dict[str, int] = {}
        self.attr_types = attribute_types(src.records)  # before the first window: one type per column
        self.strides: dict = {}
        self.objects = 0
        self.done_images: list[str] = []
        self.decode = image_decoder()

    def run(self, records: list[ImageRecord], done: set[str], table: ResumableTable, batch: int, workers: int,
            window: int, strict: bool, progress: bool) -> list[Skip]:
        """Process every image of ``records`` not in ``done``, window by window; one part per window."""
        skips: list[Skip] = []

        def on_skip(skip: Skip) -> None:
            if strict:
                raise StrictModeError(f"--strict: {skip}")
            tqdm.write(f"skipped {skip}")
            skips.append(skip)

        rows: ObjectRows | None = None
        keys: list[str] = []
        for step in run_windows(self.runner, records, done, batch=batch, window=window, workers=workers,
                                progress=progress, desc="extract", on_skip=on_skip, decode=self.decode):
            if step.result is not None:
                boxes = [self._objects_lb(r, res) for r, res in zip(step.decoded.records, step.result.images)]
                embeddings = self._pool(step.result, [lb for _, lb in boxes], step.decoded.records)
                rows = rows or ObjectRows(self.dims, self.extra_columns, self.attr_types)
                for record, image_result, (orig, _), emb in zip(step.decoded.records, step.result.images, boxes,
                                                                embeddings):
                    self._add_image(rows, record, image_result, orig, emb)
                    keys.append(record.name)
            if step.window_done:
                self._flush(table, rows, keys, step.window_records)
                rows, keys = None, []
        return skips

    def _flush(self, table: ResumableTable, rows: ObjectRows | None, keys: list[str], window: list[ImageRecord]) -> None:
        """Write one window's rows, in source order, as a durable part."""
        if not keys:
            return
        part = (rows.to_table() if rows is not None else ObjectRows(self.dims, self.extra_columns, self.attr_types).to_table())
        part = part.sort_by([("image_index", "ascending"), ("object", "ascending")])
        order = {r.name: r.index for r in window}
        table.write_part(part, sorted(keys, key=order.__getitem__), window[0].index)
        self.objects += part.num_rows
        self.done_images.extend(keys)

    # -- per batch ----------------------------------------------------------------------
    def _objects_lb(self, record: ImageRecord, res: ImageResult) -> tuple[np.ndarray, torch.Tensor]:
        """This image's object boxes in emission order (gt first, then pred): original px, letterboxed px."""
        parts_orig, parts_lb = [], []
        if self.boxes in ("gt", "both") and record.labels:
            gt = np.array([lab.box for lab in record.labels], dtype=np.float64).reshape(-1, 4)
            parts_orig.append(gt.astype(np.float32))
            parts_lb.append(torch.from_numpy(res.letterbox.to_letterbox(gt)).float())
        if self.boxes in ("pred", "both") and res.detections is not None and len(res.detections):
            parts_orig.append(res.detections.boxes)
            parts_lb.append(res.detections.boxes_lb.float().cpu())
        if not parts_orig:
            return np.zeros((0, 4), np.float32), torch.zeros((0, 4))
        return np.concatenate(parts_orig), torch.cat(parts_lb)

    def _pool(self, result, objects_lb: list[torch.Tensor], records: list[ImageRecord]) -> list[dict[str, np.ndarray]]:
        """Per image: embedding column -> ``(n_objects, C)`` array, for every layer (one RoIAlign per layer).

        ``objects_lb``: per image, its object boxes in letterboxed pixels (see :meth:`_objects_lb`). With mask
        pooling, also ``emb_L<idx>_mask`` and the per-object ``mask_fallback`` note (key ``"mask_fallback"``).
        """
        masks = self.masks.image_masks(result, records, self._gt_labels) if self.masks is not None else None
        boxes_lb = [clip_to_content(lb, res.letterbox.content) for lb, res in zip(objects_lb, result.images)]
        counts = [len(b) for b in boxes_lb]
        per_image: list[dict[str, np.ndarray]] = [{} for _ in objects_lb]
        for layer in self.layer_ids:
            feats = result.features[layer]
            name = embedding_column(layer)
            if self.pool.boxes:
                self.dims[name] = int(feats.shape[1])
            self.strides[layer] = result.input_shape[1] / feats.shape[-1]
            pooled = pool_boxes(feats, boxes_lb, result.input_shape, output_size=self.pool_size).numpy()
            for i, chunk in enumerate(np.split(pooled, np.cumsum(counts)[:-1])):
                if self.pool.boxes:
                    per_image[i][name] = chunk
                if masks is not None:
                    per_image[i][mask_column(layer)] = self.masks.pool(feats[i], masks[i], chunk, layer)
                    self.dims[mask_column(layer)] = int(feats.shape[1])
        if masks is not None:
            for i, m in enumerate(masks):
                per_image[i]["mask_fallback"] = m.fallback_notes()
        if self.model.task == "segment" and self.runner.predict:
            self.dims["emb_coef"] = int(self.model.nm)
        return per_image

    def _gt_labels(self, record: ImageRecord) -> list:
        """The label boxes that are rows of this image (what :meth:`_objects_lb` emits first)."""
        return list(record.labels or []) if self.boxes in ("gt", "both") else []

    def _add_image(self, rows: ObjectRows, record: ImageRecord, res: ImageResult, boxes_orig: np.ndarray,
                   emb: dict[str, np.ndarray]) -> None:
        """Add the image's object rows; ``boxes_orig`` ``(n, 4)`` original pixels, in emission order."""
        h, w = res.image.shape[:2]
        labels = record.labels if (self.boxes in ("gt", "both") and record.labels) else []
        dets = res.detections if self.boxes in ("pred", "both") else None
        n_gt, n_pred = len(labels), (len(dets) if dets is not None else 0)
        pred_names = [self.model.names[int(c)] for c in dets.class_ids] if n_pred else []
        matched = None
        if record.labels is not None and dets is not None:
            gt_all = np.array([lab.box for lab in record.labels], dtype=np.float64).reshape(-1, 4)
            matched = match(dets.boxes, dets.scores, pred_names, gt_all, [lab.category for lab in record.labels],
                            self.match_iou, self.class_map)
        coefs = dets.coefs.float().cpu().numpy() if (n_pred and dets.coefs is not None) else None
        for k in range(n_gt + n_pred):
            x1, y1, x2, y2 = (float(v) for v in boxes_orig[k])
            row = {"image": record.name, "image_index": record.index, "image_w": w, "image_h": h, "object": k,
                   "object_id": f"{record.name}#{k}", "x1": x1, "y1": y1, "x2": x2, "y2": y2,
                   "box_area": max(x2 - x1, 0.0) * max(y2 - y1, 0.0), "video": record.video,
                   "frame_index": record.frame_index}
            attributes = dict(record.attributes)
            embeddings = {name: values[k] for name, values in emb.items() if name != "mask_fallback"}
            if "mask_fallback" in emb:
                row["mask_fallback"] = emb["mask_fallback"][k]
            if k < n_gt:
                lab = labels[k]
                j = matched.gt_to_pred[k] if matched is not None else -1
                row.update(origin="gt", class_id=self.class_index.get(lab.category), class_name=lab.category,
                           gt_id=lab.gt_id, track_id=lab.track_id)
                if matched is not None:
                    row.update(status="TP" if j >= 0 else "FN", match_iou=matched.iou[j] if j >= 0 else None)
                attributes.update(lab.attributes)
            else:
                p = k - n_gt
                row.update(origin="pred", class_id=int(dets.class_ids[p]), class_name=pred_names[p],
                           score=float(dets.scores[p]))
                if matched is not None:
                    j = matched.pred_to_gt[p]
                    row.update(status="TP" if j >= 0 else "FP", match_iou=matched.iou[p] if j >= 0 else None,
                               gt_id=record.labels[j].gt_id if j >= 0 else None,
                               track_id=record.labels[j].track_id if j >= 0 else None)
                if coefs is not None:
                    embeddings["emb_coef"] = coefs[p]
            if self.crops:
                row["crop"] = self._save_crop(res.image, record, k, (x1, y1, x2, y2))
            rows.add(row, attributes, embeddings)

    def _save_crop(self, image: np.ndarray, record: ImageRecord, k: int, box) -> str | None:
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        crop = image[max(y1, 0):max(y2, y1 + 1), max(x1, 0):max(x2, x1 + 1)]
        if crop.size == 0:
            return None
        scale = self.crop_size / max(crop.shape[:2])
        crop = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))),
                          interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        rel = f"crops/{self.crop_names(record.name)}_{k:04d}.jpg"  # from the image key: never a shifting position
        ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 90])
        if ok:
            write_bytes(self.out / rel, buf.tobytes())
        return rel if ok else None


def load_objects(out, columns: list[str] | None = None) -> pa.Table:
    """Read ``out/objects.parquet`` (or a table path) written by :func:`extract`."""
    import pyarrow.parquet as pq

    path = Path(out)
    if path.is_dir():
        path = path / TABLE_NAME
    if not path.exists():
        raise InputError(f"{path}: no objects table here; run `yololens extract` first")
    return pq.read_table(path, columns=columns)
