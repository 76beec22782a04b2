"""The extract job's window work: batches of forward passes -> pooled :class:`~yololens.objects.Objects`
-> one durable part per window (plus the object thumbnails with ``--crops``)."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm.auto import tqdm

from yololens.engine.batching import image_decoder, plan_windows
from yololens.engine.executors import LOCAL, Executor
from yololens.engine.image_objects import ObjectBuilder
from yololens.engine.mask_pool import MaskPooler, mask_column
from yololens.engine.matching import ClassMap
from yololens.engine.pooling import PoolMode, clip_to_content, pool_boxes
from yololens.engine.runner import ImageResult, Runner
from yololens.errors import StrictModeError
from yololens.jobs.ray_executor import RayExecutor, WindowOutcome
from yololens.model.loading import LoadedModel
from yololens.objects import Objects, ObjectSchema
from yololens.sources.records import ImageRecord, Skip, Source
from yololens.store.atomic import write_bytes
from yololens.store.naming import OutputNames
from yololens.store.objects import attribute_types
from yololens.store.table import ResumableTable
from yololens.types import BoxMode, Task, embedding_column


class ExtractWindows:
    """Turns batches of :class:`ImageResult` into object rows, window by window."""

    def __init__(self, model: LoadedModel, runner: Runner, layer_ids: list, src: Source, out: Path, boxes: str,
                 match_iou: float, pool_size: int, crops: bool, crop_size: int, class_map: ClassMap,
                 pool: PoolMode = PoolMode.BOX):
        self.model, self.runner, self.layer_ids, self.src, self.out = model, runner, layer_ids, src, out
        self.boxes, self.pool_size, self.pool = BoxMode(boxes), pool_size, pool
        self.builder = ObjectBuilder(model.names, self.boxes, match_iou, class_map,
                                     {name: i for i, name in enumerate(src.class_names)})
        self.masks = MaskPooler(model, boxes) if pool.masks else None
        wanted = {"video": src.has_video, "frame_index": src.has_video, "track_id": src.has_tracks,
                  "mask_fallback": self.masks is not None}
        self.extra_columns = tuple(c for c, on in wanted.items() if on)
        self.crops, self.crop_size = crops, crop_size
        self.crop_names = OutputNames(r.name for r in src.records) if crops else None
        self.dims: dict[str, int] = {}
        self.attr_types = attribute_types(src.records)  # before the first window: one type per column
        self.strides: dict = {}
        self.objects = 0
        self.done_images: list[str] = []
        self.decode = image_decoder()
        self.fixed_parts = False  # parts named by their window alone (Ray workers: a retry replaces its part)

    @property
    def schema(self) -> ObjectSchema:
        """The parts' columns (the embedding dims are known after the first batch)."""
        return ObjectSchema(dict(self.dims), self.extra_columns, self.attr_types, self.crops)

    def run(self, records: list[ImageRecord], done: set[str], table: ResumableTable, batch: int, workers: int,
            window: int, strict: bool, progress: bool, executor: Executor = LOCAL) -> list[Skip]:
        """Process every image of ``records`` not in ``done``, window by window; one part per window."""
        skips: list[Skip] = []

        def on_skip(skip: Skip) -> None:
            if strict:
                raise StrictModeError(f"--strict: {skip}")
            tqdm.write(f"skipped {skip}")
            skips.append(skip)

        batches: list[Objects] = []
        keys: list[str] = []
        for step in executor.run(self.runner, records, done, batch=batch, window=window, workers=workers,
                                 progress=progress, desc="extract", on_skip=on_skip, decode=self.decode):
            if step.result is not None:
                batches.append(self.batch_objects(step.decoded.records, step.result))
                keys.extend(r.name for r in step.decoded.records)
            if step.window_done:
                self._flush(table, batches, keys, step.window_records)
                batches, keys = [], []
        return skips

    def run_distributed(self, executor: RayExecutor, make_work: RayExtractWork, records: list[ImageRecord],
                        done: set[str], window: int, progress: bool) -> list[Skip]:
        """The windows of ``records`` not in ``done`` on ``executor``'s workers (each writes its part)."""
        windows = [w for w in ([r for r in w if r.name not in done] for w in plan_windows(records, window)) if w]
        outcomes = sorted(executor.run_windows(make_work, windows, self.out, gpu=self.model.device.type == "cuda",
                                               progress=progress, desc="extract"), key=lambda o: o.first_index)
        skips: list[Skip] = []
        for o in outcomes:
            for skip in o.skips:
                tqdm.write(f"skipped {skip}")
            skips += o.skips
            self.objects += o.objects
            self.done_images += o.keys
            self.dims.update(o.dims)
            self.strides.update(o.strides)
        return skips

    def batch_objects(self, records: list[ImageRecord], result) -> Objects:
        """One batch's rows (every image: gt first, then predictions), with their embeddings and crops."""
        boxes = [self._objects_lb(r, res) for r, res in zip(records, result.images)]
        embeddings = self._pool(result, [lb for _, lb in boxes], records)
        per_image = [self.builder.build(r, res, orig, emb)
                     for r, res, (orig, _), emb in zip(records, result.images, boxes, embeddings)]
        if self.crops:
            for objs, res in zip(per_image, result.images):
                objs.crop = [self._save_crop(res.image, objs.image[k], k, objs.boxes[k]) for k in range(len(objs))]
        return Objects.concat(per_image)

    def _flush(self, table: ResumableTable, batches: list[Objects], keys: list[str], window: list[ImageRecord]) -> None:
        """Write one window's rows, in source order, as a durable part."""
        if not keys:
            return
        part = Objects.concat(batches).to_table(self.schema)
        part = part.sort_by([("image_index", "ascending"), ("object", "ascending")])
        order = {r.name: r.index for r in window}
        table.write_part(part, sorted(keys, key=order.__getitem__), window[0].index, fixed=self.fixed_parts)
        self.objects += part.num_rows
        self.done_images.extend(keys)

    # -- per batch ----------------------------------------------------------------------
    def _objects_lb(self, record: ImageRecord, res: ImageResult) -> tuple[np.ndarray, torch.Tensor]:
        """This image's object boxes in emission order (gt first, then pred): original px, letterboxed px."""
        parts_orig, parts_lb = [], []
        labels = self.builder.labels(record)
        if labels:
            gt = np.array([lab.box for lab in labels], dtype=np.float64).reshape(-1, 4)
            parts_orig.append(gt.astype(np.float32))
            parts_lb.append(torch.from_numpy(res.letterbox.to_letterbox(gt)).float())
        if self.boxes in (BoxMode.PRED, BoxMode.BOTH) and res.detections is not None and len(res.detections):
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
        masks = self.masks.image_masks(result, records, self.builder.labels) if self.masks is not None else None
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
        if self.model.task == Task.SEGMENT and self.runner.predict:
            self.dims["emb_coef"] = int(self.model.nm)
        return per_image

    def _save_crop(self, image: np.ndarray, name: str, k: int, box) -> str | None:
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        crop = image[max(y1, 0):max(y2, y1 + 1), max(x1, 0):max(x2, x1 + 1)]
        if crop.size == 0:
            return None
        scale = self.crop_size / max(crop.shape[:2])
        crop = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))),
                          interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        rel = f"crops/{self.crop_names(name)}_{k:04d}.jpg"  # from the image key: never a shifting position
        ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 90])
        if ok:
            write_bytes(self.out / rel, buf.tobytes())
        return rel if ok else None


@dataclass
class RayExtractWork:
    """Picklable: builds :class:`ExtractWindows` once in a Ray worker; the result runs one window per call."""

    model: bytes  # the LoadedModel, pickled before the driver hooks it
    runner_kwargs: dict
    args: tuple  # ExtractWindows' arguments after the runner
    table: Path
    batch: int
    workers: int
    window: int
    strict: bool
    max_image_bytes: int | None

    def __call__(self):
        loaded = pickle.loads(self.model)
        job = ExtractWindows(loaded, Runner(loaded, **self.runner_kwargs), *self.args)
        job.decode, job.fixed_parts = image_decoder(self.max_image_bytes), True
        table = ResumableTable(self.table, key_column="image")

        def work(records: list[ImageRecord]) -> WindowOutcome:
            n0, k0 = job.objects, len(job.done_images)
            skips = job.run(records, set(), table, self.batch, self.workers, self.window, self.strict, False)
            return WindowOutcome(records[0].index, job.done_images[k0:], job.objects - n0, skips, dict(job.dims),
                                 dict(job.strides))
        return work
