"""The extract job: every object, its box, class and pooled embedding at chosen layers.

One forward pass per batch gives the hooked feature maps and (optionally) the
predictions; ground-truth and predicted boxes are pooled with RoIAlign in letterboxed
space, rows go to a crash-safe resumable Parquet table (``OUT/objects.parquet``).
"""

from __future__ import annotations

import json
import pickle
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from yololens.engine.backends import prepare_model
from yololens.engine.batching import image_decoder
from yololens.engine.executors import Executor
from yololens.engine.mask_pool import mask_column
from yololens.engine.matching import ClassMap, load_class_map, table_matched_pairs
from yololens.engine.pooling import DEFAULT_POOL_SIZE, PoolMode, check_pool_size
from yololens.engine.runner import Runner
from yololens.errors import InputError, StrictModeError
from yololens.jobs.extract_windows import ExtractWindows, RayExtractWork
from yololens.jobs.ray_executor import RayExecutor
from yololens.jobs.skeleton import executor_of, resume
from yololens.model.catalogue import layer_aliases, resolve_layers
from yololens.options import DEFAULT_CALIBRATION, check_options
from yololens.sources.records import Skip, Source
from yololens.sources.resolve import as_source
from yololens.store.lock import DirectoryLock
from yololens.store.manifest import write_manifest
from yololens.store.table import ResumableTable
from yololens.types import Task, embedding_column

BOX_MODES = ("pred", "gt", "both")
TABLE_NAME = "objects.parquet"
RUN_CONFIG = ".yololens-run.json"


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
    calibration: int | None = None  # int8: calibration images (None otherwise, so older runs still resume)


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
    precision: str | None = None,
    calibration: int = DEFAULT_CALIBRATION,
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
    executor: Executor | RayExecutor | str | None = None,
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
        crops: also save object thumbnails (longest side ``crop_size`` px) under ``out/crops``.
        chunk_images: window of consecutive source images per durable part; an interrupted
            run redoes at most the windows in flight. Batches hold images of one shape, so each
            image gets its own minimal letterbox (as Ultralytics predict at batch 1).
        max_image_bytes: skip image files larger than this (default 1 GiB), before reading them.
        strict: stop at the first bad input instead of skipping it.
        overwrite: discard earlier results in ``out`` instead of resuming.
        executor: what runs the windows: ``"local"`` (default, this process), ``"ray"`` (Ray workers, one
            model per worker, each writing its windows' parts into ``out``, which must be shared; see
            :mod:`yololens.jobs.ray_executor`) or an executor object (``RayExecutor(address=...)``).
            The table equals the local executor's at the same ``batch``, ``chunk_images`` and ``threads``.
        ray_address: ``executor="ray"``: the cluster (``auto``, ``ray://HEAD:10001``); None: a local Ray.

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
        loaded, compute = prepare_model(model, device, backend, half, threads, end2end, precision, calibration)
        layer_ids = resolve_layers(loaded, layers)
        if pool_mode.masks and loaded.task != Task.SEGMENT and boxes == "pred":
            raise InputError(f"--pool {pool_mode}: a {loaded.task} model predicts no masks; use a -seg model or "
                             "--boxes gt/both with mask labels")
        timings["load_model"] = time.perf_counter() - t0
        src = as_source(source, labels, fmt, exclude=out)
        compute = compute.calibrated_on(src.records)
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
            calibration=len(compute.calibration_set) if compute.int8 else None,
        )
        table = ResumableTable(out / TABLE_NAME, key_column="image")
        start = resume(out, out / RUN_CONFIG, [table], settings.__dict__, overwrite, src.records, labels, where=out)
        if overwrite:
            shutil.rmtree(out / "crops", ignore_errors=True)
        done = start.done
        runner_kwargs = dict(layers=layer_ids, imgsz=imgsz, conf=conf, iou=iou, max_det=max_det,
                             predict=boxes != "gt", protos=pool_mode.masks and boxes != "gt", **compute.runner_kwargs())
        job_args = (layer_ids, src, out, boxes, match_iou, pool_size, crops, crop_size, cmap, pool_mode)
        ex = executor_of(executor, ray_address)
        remote = (RayExtractWork(pickle.dumps(loaded), runner_kwargs, job_args, table.path, batch, workers,
                                 chunk_images, strict, max_image_bytes) if isinstance(ex, RayExecutor) else None)
        runner = Runner(loaded, **runner_kwargs)
        job = ExtractWindows(loaded, runner, *job_args)
        timings["prepare"] = time.perf_counter() - t0 - timings["load_model"]
        t_run = time.perf_counter()
        skips = list(src.skips) + start.redone
        job.decode = image_decoder(max_image_bytes)
        if remote is not None:
            skips.extend(job.run_distributed(ex, remote, src.records, done, chunk_images, progress))
        else:
            skips.extend(job.run(src.records, done, table, batch, workers, chunk_images, strict, progress, ex))
        timings["run"] = time.perf_counter() - t_run
        t_fin = time.perf_counter()
        final = table.finalize(metadata={"yololens.settings": json.dumps(settings.__dict__)})
        timings["finalize"] = time.perf_counter() - t_fin
        timings["total"] = time.perf_counter() - t0
        n_images = len(job.done_images)
        counts = ExtractCounts(
            images_in_source=len(src.records), images_resumed=start.resumed, images_processed=n_images,
            objects_written=job.objects, skipped=len(skips),
            images_per_s=round(n_images / timings["run"], 3) if timings["run"] > 0 and n_images else None,
            objects_total=_num_rows(final))
        given_source, given_labels = _given(source, labels)
        params = {"source": given_source, "labels": given_labels, "format": src.format,
                  "out": str(out), "batch": batch, "device": str(loaded.device), "threads": threads,
                  **settings.__dict__}
        manifest_layers = _layer_info(runner, job)
        extra = {"layers": manifest_layers}
        if final is not None and src.has_labels and boxes == "both":
            extra["class_map"] = {**cmap.describe(), "matched": table_matched_pairs(final)}
        path = write_manifest(out, "extract", params, loaded.describe(), counts.to_dict(), timings, skips,
                              extra=extra)
        manifest = json.loads(path.read_text())
    return ExtractResult(out, final, manifest, skips, n_images, job.objects, counts)


def _num_rows(table: Path | None) -> int | None:
    if table is None:
        return None
    import pyarrow.parquet as pq

    return pq.read_metadata(table).num_rows


def _given(source, labels) -> tuple[str | None, str | None]:
    """``(source, labels)`` as the user gave them, as text; an opened Source reports the paths it was opened
    from (never its repr, which later steps would read as a path)."""
    if isinstance(source, Source):
        return source.given
    return (None if source is None else str(source)), (None if labels is None else str(labels))


def _layer_info(runner: Runner, job: ExtractWindows) -> list[dict]:
    """The manifest's layers: column, channels, stride, and the aliases a reader may use for it (``sppf``, ``p3``)."""
    aliases: dict = {}
    for name, idx in layer_aliases(runner.model).items():
        aliases.setdefault(idx, []).append(name)
    info = []
    for layer in job.layer_ids:
        names = ([embedding_column(layer)] if job.pool.boxes else []) + ([mask_column(layer)] if job.pool.masks else [])
        info += [{"layer": layer, "column": c, "channels": job.dims.get(c), "stride": job.strides.get(layer),
                  "aliases": sorted(aliases.get(layer, []))} for c in names]
    return info


def load_objects(out, columns: list[str] | None = None) -> pa.Table:
    """Read ``out/objects.parquet`` (or a table path) written by :func:`extract`."""
    import pyarrow.parquet as pq

    path = Path(out)
    if path.is_dir():
        path = path / TABLE_NAME
    if not path.exists():
        raise InputError(f"{path}: no objects table here; run `yololens extract` first")
    return pq.read_table(path, columns=columns)
