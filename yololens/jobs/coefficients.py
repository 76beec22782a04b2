"""The ``coefficients`` job: one table row per instance with its mask coefficients.

The seed's ``extract_specific_feature.py`` done right: every instance (not only the
first), aligned with Ultralytics' ``Results`` (its empty-mask filter applied), batched,
resumable and crash-safe (:class:`~yololens.store.table.ResumableTable`). The columns and the window work are
in :mod:`yololens.jobs.coef_windows`; this module holds the spec (settings resolved once) and the API.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

from yololens.engine.compute import ComputeSpec
from yololens.engine.executors import Executor
from yololens.errors import InputError
from yololens.jobs.coef_windows import KEY, ablation_path, build_coef_work, export_csv
from yololens.jobs.skeleton import JobRun, JobSpec, Resumed, executor_of, given_paths, run_job
from yololens.options import check_options
from yololens.seg.common import ensure_suffix, open_images, parse_indices
from yololens.sources.records import Skip
from yololens.store.manifest import claim_folder
from yololens.store.table import FORMATS, ResumableTable
from yololens.types import CoefLayout

DEFAULT_TABLE = "mask_coefficients.csv"
MAX_PROTOTYPE_PNGS = 8  # per image; more is a job for `yololens protos`


@dataclass
class CoefficientsResult:
    """What a ``coefficients`` run did. ``images``/``instances`` count this run's work only."""

    table: Path | None
    images: int = 0
    instances: int = 0
    resumed: int = 0
    skips: list[Skip] = field(default_factory=list)
    seconds: float = 0.0
    report: Path | None = None

    def summary(self) -> str:
        resumed = f", {self.resumed} already done" if self.resumed else ""
        return (f"coefficients: {self.images} image(s), {self.instances} instance(s), {len(self.skips)} skipped"
                f"{resumed}, {self.seconds:.1f} s -> {self.table}")


@dataclass(frozen=True, kw_only=True)
class CoefficientsSpec(JobSpec):
    """One coefficients run, resolved: the table (``path``, ``table_format``), the coefficient ``indices`` and
    the row settings. ``ablation_done``: images whose ablation part an earlier run wrote (set after resuming)."""

    job: ClassVar[str] = "coefficients"
    path: Path
    table_format: str
    indices: tuple[int, ...]
    layout: CoefLayout = CoefLayout.YOLOLENS
    retina_masks: bool = False
    mask_area: bool = True
    save_prototype_png: bool = False
    report: bool = False
    ablation_done: frozenset[str] = frozenset()

    @property
    def has_mask_area(self) -> bool:
        return self.mask_area and self.layout is not CoefLayout.SEED

    def tables(self) -> list[ResumableTable]:
        """The rows (a Parquet store; a CSV is exported from it at the end, so a resumed CSV is byte-identical to
        a clean run's) and, with ``report``, the ablation table. All working state stays under ``out``."""
        store = self.path if self.table_format == "parquet" else self.out / f".{self.path.name}.parquet"
        tables = [ResumableTable(store, key_column=KEY, fmt="parquet", work_dir=self.out)]
        if self.report:
            tables.append(ResumableTable(ablation_path(self.path), key_column=KEY, fmt="parquet", work_dir=self.out))
        return tables

    def guard(self) -> tuple[Path, Path, str]:
        return self.out / f".{self.path.name}.settings.json", self.path, "--out/--csv"

    def guarded(self) -> Path | None:
        """``--csv /elsewhere/x.csv``: that file is locked too."""
        return self.path if self.path.resolve().parent != self.out.resolve() else None

    def settings(self) -> dict:
        c = self.compute
        return {"model": c.model_id, "indices": list(self.indices), "layout": self.layout,
                "retina_masks": self.retina_masks, "mask_area": self.mask_area, "conf": self.conf, "iou": self.iou,
                "imgsz": self.imgsz, "max_det": self.max_det, "report": self.report, "backend": str(c.backend),
                "precision": str(c.precision), **c.calibration_setting()}

    def after_resume(self, start: Resumed) -> CoefficientsSpec:
        # The ablation part of a window is written first: a crash in between leaves it ahead, and the images it
        # already holds are not written to it again.
        return replace(self, ablation_done=frozenset(self.tables()[1].done_keys())) if self.report else self

    def finalize(self, run: JobRun) -> dict:
        tables = self.tables()
        final = tables[0].finalize(metadata={"yololens.settings": json.dumps(self.settings())})
        if final is not None and self.table_format == "csv":
            final = export_csv(final, self.path)
        run.final = final
        if self.report:
            from yololens.jobs.coef_report import coef_report

            ablation = tables[1].finalize()
            if final is not None:
                run.outputs["report"] = coef_report(final, self.out / "report", ablation=ablation).out
        run.counts = {"images_in_source": len(self.source.records), "images_resumed": run.start.resumed,
                      "images_processed": len(run.keys), "instances_written": run.rows, "skipped": len(run.skips)}
        return {}

    def params(self, run: JobRun) -> dict:
        return {"table": str(self.path), "table_format": self.table_format, **super().params(run)}


def coefficients(model, source, out=".", *, table: str | Path = DEFAULT_TABLE, indices=None, table_format: str | None = None,
                 layout: CoefLayout | str = CoefLayout.YOLOLENS, retina_masks: bool = False, mask_area: bool = True, conf: float = 0.25,
                 iou: float = 0.7, imgsz: int = 640, max_det: int = 300, batch: int = 8, device: str | None = None,
                 workers: int = 2, window: int | None = None, save_prototype_png: bool = False,
                 report: bool = False, overwrite: bool = False, progress: bool = True, labels=None,
                 source_format: str | None = None, max_image_bytes: int | None = None, backend: str = "auto",
                 half: bool = False, threads: int = 0, precision: str | None = None,
                 executor: Executor | str | None = None,
                 ray_address: str | None = None) -> CoefficientsResult:
    """Write one row per instance of every image of ``source`` to ``out/table``.

    Args:
        model: seg model (path, yaml, ``YOLO`` or :class:`LoadedModel`); a detect model is refused.
        source: image, folder, list ... (``open_source``) or a :class:`Source`; ``source_format`` forces how
            it is read (``bdd``, ``coco``, ``yolo``, ...).
        table: file name (relative to ``out``) or path; ``.csv`` or ``.parquet``.
        indices: 0-based coefficient indices (ints or ``"3,5"`` strings); ``None`` = all ``nm``.
        table_format: ``csv`` or ``parquet`` (default: from ``table``'s suffix, else csv); fixes the suffix.
        layout: ``"yololens"`` (full columns) or ``"seed"`` (``image_name,type,mask_1..``).
        retina_masks: align rows with ``predict(retina_masks=True)`` (its empty-mask filter).
        mask_area: compute the ``mask_area`` column (original pixels, exact retina mask area).
        save_prototype_png: also save ``out/prototypes/<image>_p<k>.png`` per chosen index.
        report: also compute per-instance prototype ablation and write the analytics report
            to ``out/report`` (see :mod:`yololens.jobs.coef_report`).
        overwrite: discard earlier results in ``out`` instead of resuming.
        backend, half, threads, precision: compute backend (``auto``/``torch``/``openvino``), bf16/fp16/int8 and
            inference threads, as in :func:`yololens.jobs.extract.extract`; backend and
            precision are resume settings.
        window: consecutive source images per durable part (default ``max(8 * batch, 64)``); an
            interrupted run redoes at most the windows in flight. Batches hold one image shape
            inside a window, so larger windows fill batches better on mixed-size folders.
        executor, ray_address: what runs the windows (``"local"``, the default: this process; ``"ray"``:
            Ray workers, as in :func:`yololens.jobs.extract.extract`).

    Images already in the table (or in parts left by an interrupted run) are skipped; the
    final file equals an uninterrupted run's. ``out`` is locked for the run.
    """
    try:
        layout = CoefLayout(layout)
    except ValueError:
        raise InputError(f"--layout must be one of {', '.join(CoefLayout)}, not {layout!r}") from None
    check_options(imgsz=imgsz, batch=batch, window=window, workers=workers, conf=conf, iou=iou, max_det=max_det,
                  max_image_bytes=max_image_bytes)
    t0 = time.perf_counter()
    out = Path(out)
    path = Path(table) if Path(table).is_absolute() else out / table
    table_format = (table_format or path.suffix.lstrip(".") or "csv").lower()
    if table_format not in FORMATS:
        raise InputError(f"--format must be csv or parquet, not {table_format!r}")
    path = ensure_suffix(path, table_format)
    claim_folder(out, CoefficientsSpec.job)  # before the model loads: refused up front
    compute = ComputeSpec.resolve(model, device, backend, half, threads, precision=precision)
    compute.model.require_segment("coefficients")
    chosen = parse_indices(indices, compute.model.nm) or list(range(compute.model.nm))
    if save_prototype_png and len(chosen) > MAX_PROTOTYPE_PNGS:
        raise InputError(f"--save-prototype-png draws one PNG per chosen index; choose at most "
                         f"{MAX_PROTOTYPE_PNGS} with --index (or use `yololens protos` for all prototypes)")
    src = open_images(source, labels, source_format, exclude=out)
    compute = compute.calibrated_on(src.records)
    spec = CoefficientsSpec(
        compute=compute, source=src, out=out, path=path, table_format=table_format, indices=tuple(chosen),
        layout=layout, retina_masks=retina_masks, mask_area=mask_area,
        conf=conf, iou=iou, imgsz=imgsz, max_det=max_det, batch=batch, workers=workers,
        window=window or max(8 * batch, 64), max_image_bytes=max_image_bytes, save_prototype_png=save_prototype_png,
        report=report, overwrite=overwrite, progress=progress, labels=None if labels is None else str(labels),
        given=given_paths(source, labels), prepared_s=time.perf_counter() - t0)
    run = run_job(spec, build_coef_work, executor_of(executor, ray_address))
    return CoefficientsResult(run.final, len(run.keys), run.rows, run.start.resumed, run.skips,
                              run.timings["total"], run.outputs.get("report"))
