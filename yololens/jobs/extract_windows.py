"""The extract job's window work: batches of forward passes -> pooled :class:`~yololens.objects.Objects`
-> one durable part per window (plus the object thumbnails with ``--crops``)."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from yololens.engine.batching import image_decoder
from yololens.engine.executors import Window, WindowOutcome
from yololens.engine.image_objects import ObjectBuilder
from yololens.engine.mask_pool import MaskPooler, mask_column
from yololens.engine.pooling import clip_to_content, pool_boxes
from yololens.engine.runner import ImageResult
from yololens.engine.windows import run_batches
from yololens.errors import StrictModeError
from yololens.jobs.extract_spec import ExtractSpec
from yololens.objects import Objects, ObjectSchema
from yololens.sources.records import ImageRecord, Skip
from yololens.store.atomic import write_bytes
from yololens.store.naming import OutputNames
from yololens.store.objects import attribute_types
from yololens.store.table import ResumableTable
from yololens.types import BoxMode, Task, embedding_column


class ExtractWindows:
    """The extract job's window work, built once per worker from an :class:`ExtractSpec` (model, runner,
    pooling): each call runs one window's batches, writes its part and returns its :class:`WindowOutcome`."""

    def __init__(self, spec: ExtractSpec):
        self.spec, self.out = spec, spec.out
        self.model, self.layer_ids, self.src = spec.compute.model, spec.layer_values, spec.source
        self.runner = spec.compute.runner(layers=self.layer_ids, imgsz=spec.imgsz, conf=spec.conf, iou=spec.iou,
                                          max_det=spec.max_det, predict=spec.boxes is not BoxMode.GT,
                                          protos=spec.pool.masks and spec.boxes is not BoxMode.GT)
        self.boxes, self.pool_size, self.pool = spec.boxes, spec.pool_size, spec.pool
        src = self.src
        self.builder = ObjectBuilder(self.model.names, self.boxes, spec.match_iou, spec.class_map,
                                     {name: i for i, name in enumerate(src.class_names)})
        self.masks = MaskPooler(self.model, self.boxes) if spec.pool.masks else None
        wanted = {"video": src.has_video, "frame_index": src.has_video, "track_id": src.has_tracks,
                  "mask_fallback": self.masks is not None}
        self.extra_columns = tuple(c for c, on in wanted.items() if on)
        self.crops, self.crop_size = spec.crops, spec.crop_size
        self.crop_names = OutputNames(r.name for r in src.records) if spec.crops else None
        self.dims: dict[str, int] = {}
        self.attr_types = attribute_types(src.records)  # before the first window: one type per column
        self.strides: dict = {}
        self.decode = image_decoder(spec.max_image_bytes)
        self.table = spec.table()

    @property
    def schema(self) -> ObjectSchema:
        """The parts' columns (the embedding dims are known after the first batch)."""
        return ObjectSchema(dict(self.dims), self.extra_columns, self.attr_types, self.crops)

    def __call__(self, window: Window) -> WindowOutcome:
        """Run ``window``'s batches (one image shape each) and write its rows, in source order, as one part."""
        outcome = WindowOutcome(window[0].index)

        def on_skip(skip: Skip) -> None:
            if self.spec.strict:
                raise StrictModeError(f"--strict: {skip}")
            outcome.skips.append(skip)

        batches: list[Objects] = []
        for step in run_batches(self.runner, window, batch=self.spec.batch, window=len(window),
                                workers=self.spec.workers, progress=False, on_skip=on_skip, decode=self.decode):
            if step.result is not None:
                batches.append(self.batch_objects(step.decoded.records, step.result))
                outcome.keys.extend(r.name for r in step.decoded.records)
        outcome.rows = self._flush(self.table, batches, outcome.keys, window)
        outcome.facts = {"dims": dict(self.dims), "strides": dict(self.strides)}
        return outcome

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

    def _flush(self, table: ResumableTable, batches: list[Objects], keys: list[str], window: Window) -> int:
        """Write one window's rows, in source order, as a durable part named by the window (a window run again,
        e.g. by a restarted worker, replaces its part); the rows written."""
        if not keys:
            return 0
        part = Objects.concat(batches).to_table(self.schema)
        part = part.sort_by([("image_index", "ascending"), ("object", "ascending")])
        order = {r.name: r.index for r in window}
        table.write_part(part, sorted(keys, key=order.__getitem__), window[0].index, fixed=True)
        return part.num_rows

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


def build_extract_work(spec: ExtractSpec) -> ExtractWindows:
    """The extract job's ``build``: once per worker (the executor contract of :mod:`yololens.engine.executors`)."""
    return ExtractWindows(spec)
