"""The extract job: every object, its box, class and pooled embedding at chosen layers.

One forward pass per batch gives the hooked feature maps and (optionally) the
predictions; ground-truth and predicted boxes are pooled with RoIAlign in letterboxed
space, rows go to a crash-safe resumable Parquet table (``OUT/objects.parquet``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from yololens.engine.executors import Executor
from yololens.engine.matching import ClassMap
from yololens.engine.pooling import DEFAULT_POOL_SIZE, PoolMode
from yololens.errors import InputError
from yololens.jobs.extract_spec import TABLE_NAME, extract_spec
from yololens.jobs.extract_windows import build_extract_work
from yololens.jobs.skeleton import executor_of, run_job
from yololens.options import DEFAULT_CALIBRATION
from yololens.sources.records import Skip
from yololens.types import BoxMode

@dataclass(frozen=True)
class ExtractCounts:
    """What an extract run counted (``manifest.json`` ``counts``).

    Attributes:
        images_in_source: images the source lists; ``images_resumed``: of those, done by earlier runs;
        images_processed: done in this run; ``objects_written``: rows this run wrote; ``skipped``: inputs
        skipped; ``images_per_s``: this run's throughput (None when it processed nothing);
        objects_total: rows in the final table (None when there is none).
    """

    images_in_source: int = 0
    images_resumed: int = 0
    images_processed: int = 0
    objects_written: int = 0
    skipped: int = 0
    images_per_s: float | None = None
    objects_total: int | None = None

    def nothing_to_do(self) -> str | None:
        """``"nothing to do: 12 objects from 1 image already done"`` for a rerun that found every image done."""
        if self.images_processed or not self.images_resumed:
            return None
        n, m = self.objects_total or 0, self.images_resumed
        return f"nothing to do: {n:,} object{'s' * (n != 1)} from {m:,} image{'s' * (m != 1)} already done"

    def to_dict(self) -> dict:
        """As written to the manifest (``objects_total`` only when there is a table)."""
        d = dict(self.__dict__)
        if d["objects_total"] is None:
            del d["objects_total"]
        return d


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
        counts: the run's counts, typed (the manifest's ``counts``).
    """

    out: Path
    table_path: Path | None
    manifest: dict
    skips: list[Skip] = field(default_factory=list)
    images_done: int = 0
    objects: int = 0
    counts: ExtractCounts = field(default_factory=ExtractCounts)

    def table(self, columns: list[str] | None = None) -> pa.Table:
        """The whole objects table as a pyarrow Table (optionally only ``columns``)."""
        if self.table_path is None:
            raise InputError(f"{self.out}: no objects were extracted")
        import pyarrow.parquet as pq

        return pq.read_table(self.table_path, columns=columns)

    def to_pandas(self, columns: list[str] | None = None):
        return self.table(columns).to_pandas()

    def embeddings(self, layer: int | str = 9):
        """``layer``'s embeddings as ``(N, C)`` float32 with their object ids: ``X, ids = res.embeddings("L9")``
        (indices or aliases: ``"sppf"``, ``"p3"``)."""
        return self.run().embeddings(layer)

    def run(self):
        """The run folder opened for reading (:class:`~yololens.analysis.run.Run`)."""
        from yololens.analysis.run import open_run

        return open_run(self.out)

    def __fspath__(self) -> str:  # a result goes wherever its run folder goes: yololens.plot(res)
        return str(self.out)

    def __repr__(self) -> str:
        from yololens import reprs

        idle = self.counts.nothing_to_do() if self.counts is not None else None
        line = (f"{idle} -> {self.out}" if idle else
                f"{self.objects:,} objects from {self.images_done:,} images in this run, {len(self.skips)} skipped "
                f"-> {self.out}")
        return reprs.text("ExtractResult", line, reprs.table_fields(self.table_path))


def extract(
    model=None,
    source=None,
    labels=None,
    *,
    out="yololens-out",
    layers=None,
    boxes: BoxMode | str = BoxMode.PRED,
    source_format: str | None = None,
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
    precision: str | None = None,
    calibration: int = DEFAULT_CALIBRATION,
    match_iou: float = 0.5,
    class_map: str | Path | ClassMap | None = None,
    pool: PoolMode | str = PoolMode.BOX,
    pool_size: int = DEFAULT_POOL_SIZE,
    crops: bool = False,
    crop_size: int = 128,
    workers: int = 2,
    window: int = 64,
    max_image_bytes: int | None = None,
    strict: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    executor: Executor | str | None = None,
    ray_address: str | None = None,
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
        backend: ``auto`` (OpenVINO on a bf16-capable CPU, else torch; ``$YOLOLENS_BACKEND`` overrides),
            ``torch`` (bitwise Ultralytics predict) or ``openvino``; see :mod:`yololens.engine.backends`.
        threads: inference threads (torch threads or OpenVINO ``INFERENCE_NUM_THREADS``; 0: default).
        precision: ``f32`` (default, exact), ``bf16`` (``half``) or ``int8`` (OpenVINO quantized by NNCF on
            ``calibration`` images spread over the source, cached); bf16/int8 can change detections
            (docs/PRECISION.md).
        end2end: YOLO26 only, ``True`` for the NMS-free one-to-one head.
        pool: ``box`` (RoIAlign inside the box: ``emb_L<idx>``), ``mask`` (mean inside the instance mask,
            resampled to each layer's grid, padding excluded: ``emb_L<idx>_mask``; predicted masks for pred
            rows, label polygons/RLE for gt rows; an object without a mask, or with one empty at a layer's
            resolution, gets its box pooling there, named in ``mask_fallback``) or ``both``.
        pool_size: RoIAlign bins per side (>= 1); the embedding is their mean.
        source_format: how to read ``source``/``labels`` (``bdd``, ``coco``, ``yolo``, ...; default: detected).
        crops: also save object thumbnails (longest side ``crop_size`` px) under ``out/crops``.
        window: window of consecutive source images per durable part; an interrupted
            run redoes at most the windows in flight. Batches hold images of one shape, so each
            image gets its own minimal letterbox (as Ultralytics predict at batch 1).
        max_image_bytes: skip image files larger than this (default 1 GiB), before reading them.
        strict: stop at the first bad input instead of skipping it.
        overwrite: discard earlier results in ``out`` instead of resuming.
        executor: what runs the windows: ``"local"`` (default, this process), ``"ray"`` (Ray workers, one
            model per worker, each writing its windows' parts into ``out``, which must be shared; see
            :mod:`yololens.engine.ray_executor`) or an executor object (``RayExecutor(address=...)``).
            The table equals the local executor's at the same ``batch``, ``window`` and ``threads``.
        ray_address: ``executor="ray"``: the cluster (``auto``, ``ray://HEAD:10001``); None: a local Ray.

    A rerun into the same ``out`` skips finished images; the final table equals an
    uninterrupted run's.
    """
    spec = extract_spec(
        model, source, labels, out=out, layers=layers, boxes=boxes, source_format=source_format, imgsz=imgsz,
        batch=batch, conf=conf, iou=iou, max_det=max_det, device=device, half=half, end2end=end2end, backend=backend,
        threads=threads, precision=precision, calibration=calibration, match_iou=match_iou, class_map=class_map, pool=pool, pool_size=pool_size, crops=crops,
        crop_size=crop_size, workers=workers, window=window, max_image_bytes=max_image_bytes, strict=strict,
        overwrite=overwrite, progress=progress)
    run = run_job(spec, build_extract_work, executor_of(executor, ray_address))
    counts = ExtractCounts(**run.counts)
    return ExtractResult(spec.out, run.final, run.manifest, run.skips, len(run.keys), run.rows, counts)


def load_objects(out, columns: list[str] | None = None) -> pa.Table:
    """Read ``out/objects.parquet`` (or a table path) written by :func:`extract`."""
    import pyarrow.parquet as pq

    path = Path(out)
    if path.is_dir():
        path = path / TABLE_NAME
    if not path.exists():
        raise InputError(f"{path}: no objects table here; run `yololens extract` first")
    return pq.read_table(path, columns=columns)
