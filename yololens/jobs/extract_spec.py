"""The extract job's spec: every setting resolved once, frozen and picklable (what a Ray worker gets).

:func:`extract_spec` is the one place the API's arguments are checked and resolved (model, compute backend and
precision, layers, source, class map); the CLI and the report reach it through :func:`yololens.extract`.
:class:`ExtractSpec` then tells :func:`~yololens.jobs.skeleton.run_job` what to guard, resume, finalize and
record.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from yololens.engine.compute import ComputeSpec
from yololens.engine.mask_pool import mask_column
from yololens.engine.matching import ClassMap, load_class_map, table_matched_pairs
from yololens.engine.pooling import DEFAULT_POOL_SIZE, PoolMode, check_pool_size
from yololens.errors import InputError, StrictModeError
from yololens.jobs.skeleton import JobRun, JobSpec, Resumed, given_paths
from yololens.model.catalogue import layer_aliases, resolve_layers
from yololens.options import DEFAULT_CALIBRATION, check_options
from yololens.sources.resolve import as_source
from yololens.store.manifest import claim_folder
from yololens.store.table import ResumableTable
from yololens.types import BoxMode, LayerId, Task, embedding_column

TABLE_NAME = "objects.parquet"
RUN_CONFIG = ".yololens-run.json"


@dataclass(frozen=True, kw_only=True)
class ExtractSpec(JobSpec):
    """One extract run, resolved: the hooked ``layers``, the ``boxes`` and ``pool`` modes (enums), the class
    map, and the settings that shape the rows (see :func:`~yololens.jobs.extract.extract`)."""

    job: ClassVar[str] = "extract"
    layers: tuple[LayerId, ...]
    boxes: BoxMode
    class_map: ClassMap
    match_iou: float = 0.5
    pool: PoolMode = PoolMode.BOX
    pool_size: int = DEFAULT_POOL_SIZE
    crops: bool = False
    crop_size: int = 128
    strict: bool = False

    @property
    def layer_values(self) -> list[int | str]:
        """The layers as the runner and the feature maps key them (``9``, ``"proto"``)."""
        return [layer.value for layer in self.layers]

    def table(self) -> ResumableTable:
        return ResumableTable(self.out / TABLE_NAME, key_column="image")

    def tables(self) -> list[ResumableTable]:
        return [self.table()]

    def guard(self) -> tuple[Path, Path, str]:
        return self.out / RUN_CONFIG, self.out, "--out"

    def settings(self) -> dict:
        """Everything that changes the rows (the resume guard's record and the table's metadata)."""
        c = self.compute
        return {"model": c.model_id, "layers": [str(v) for v in self.layer_values], "boxes": self.boxes,
                "imgsz": self.imgsz, "conf": self.conf, "iou": self.iou, "max_det": self.max_det,
                "match_iou": self.match_iou, "pool_size": self.pool_size, "pool": str(self.pool),
                "half": c.compute.half, "end2end": c.model.end2end, "crops": self.crops, "crop_size": self.crop_size,
                "class_map": self.class_map.describe(), "backend": str(c.backend), "precision": str(c.precision),
                **c.calibration_setting()}

    def after_resume(self, start: Resumed) -> ExtractSpec:
        if self.overwrite:
            shutil.rmtree(self.out / "crops", ignore_errors=True)
        return self

    def finalize(self, run: JobRun) -> dict:
        """Merge the parts; the counts; the manifest's ``layers`` (and ``class_map`` with matched pairs)."""
        final = self.table().finalize(metadata={"yololens.settings": json.dumps(self.settings())})
        run.final = final
        n, seconds = len(run.keys), run.timings["run"]
        run.counts = {"images_in_source": len(self.source.records), "images_resumed": run.start.resumed,
                      "images_processed": n, "objects_written": run.rows, "skipped": len(run.skips),
                      "images_per_s": round(n / seconds, 3) if seconds > 0 and n else None}
        if final is not None:
            import pyarrow.parquet as pq

            run.counts["objects_total"] = pq.read_metadata(final).num_rows
        extra = {"layers": self._layer_info(run.facts.get("dims", {}), run.facts.get("strides", {}))}
        if final is not None and self.source.has_labels and self.boxes is BoxMode.BOTH:
            extra["class_map"] = {**self.class_map.describe(), "matched": table_matched_pairs(final)}
        return extra

    def params(self, run: JobRun) -> dict:
        return {"source_format": self.source.format, "out": str(self.out), **super().params(run)}

    def _layer_info(self, dims: dict, strides: dict) -> list[dict]:
        """The manifest's layers: column, channels, stride, and the aliases a reader may use (``sppf``, ``p3``)."""
        aliases: dict = {}
        for name, idx in layer_aliases(self.compute.model).items():
            aliases.setdefault(idx, []).append(name)
        info = []
        for layer in self.layer_values:
            names = ([embedding_column(layer)] if self.pool.boxes else []) + (
                [mask_column(layer)] if self.pool.masks else [])
            info += [{"layer": layer, "column": c, "channels": dims.get(c), "stride": strides.get(layer),
                      "aliases": sorted(aliases.get(layer, []))} for c in names]
        return info


def extract_spec(model, source, labels=None, *, out="yololens-out", layers=None, boxes: BoxMode | str = BoxMode.PRED,
                 source_format: str | None = None, imgsz: int = 640, batch: int = 8, conf: float = 0.25,
                 iou: float = 0.7, max_det: int = 300, device: str | None = None, half: bool = False,
                 end2end: bool | None = None, backend: str = "auto", threads: int = 0,
                 precision: str | None = None, calibration: int = DEFAULT_CALIBRATION, match_iou: float = 0.5,
                 class_map: str | Path | ClassMap | None = None, pool: PoolMode | str = PoolMode.BOX,
                 pool_size: int = DEFAULT_POOL_SIZE, crops: bool = False, crop_size: int = 128, workers: int = 2,
                 window: int = 64, max_image_bytes: int | None = None, strict: bool = False,
                 overwrite: bool = False, progress: bool = True) -> ExtractSpec:
    """Check and resolve :func:`~yololens.jobs.extract.extract`'s arguments once (see there)."""
    try:
        box_mode = BoxMode(boxes)
    except ValueError:
        raise InputError(f"--boxes must be one of {', '.join(BoxMode)}, not {boxes!r}") from None
    check_pool_size(pool_size)
    try:
        pool_mode = PoolMode(pool)
    except ValueError:
        raise InputError(f"--pool must be one of {', '.join(PoolMode)}, not {pool!r}") from None
    check_options(imgsz=imgsz, batch=batch, window=window, workers=workers, conf=conf, iou=iou,
                  match_iou=match_iou, max_det=max_det, pool_size=pool_size, crop_size=crop_size,
                  max_image_bytes=max_image_bytes)
    t0 = time.perf_counter()
    out = Path(out)
    claim_folder(out, ExtractSpec.job)  # before the model loads: refused up front
    compute = ComputeSpec.resolve(model, device, backend, half, threads, end2end, precision, calibration)
    loaded = compute.model
    layer_ids = tuple(LayerId.of(x) for x in resolve_layers(loaded, layers))
    if pool_mode.masks and loaded.task is not Task.SEGMENT and box_mode is BoxMode.PRED:
        raise InputError(f"--pool {pool_mode}: a {loaded.task} model predicts no masks; use a -seg model or "
                         "--boxes gt/both with mask labels")
    src = as_source(source, labels, source_format, exclude=out)
    compute = compute.calibrated_on(src.records)
    if strict and src.skips:
        raise StrictModeError(f"--strict: {src.skips[0]}")
    given = given_paths(source, labels)
    if box_mode is not BoxMode.PRED and not src.has_labels:
        raise InputError(f"{given[0]}: --boxes {box_mode} needs labels; pass --labels FILE_OR_DIR")
    cmap = class_map if isinstance(class_map, ClassMap) else load_class_map(
        class_map, loaded.names.values(), src.class_names or None)
    return ExtractSpec(
        compute=compute, source=src, out=out, layers=layer_ids, boxes=box_mode, class_map=cmap, imgsz=imgsz, conf=conf, iou=iou, max_det=max_det,
        match_iou=match_iou, pool=pool_mode, pool_size=pool_size, crops=crops, crop_size=crop_size, batch=batch,
        workers=workers, window=window, max_image_bytes=max_image_bytes, strict=strict, overwrite=overwrite,
        progress=progress, labels=None if labels is None else str(labels), given=given,
        prepared_s=time.perf_counter() - t0)
