"""The ``coefficients`` job: one table row per instance with its mask coefficients.

The seed's ``extract_specific_feature.py`` done right: every instance (not only the
first), aligned with Ultralytics' ``Results`` (its empty-mask filter applied), batched,
resumable and crash-safe (:class:`~yololens.store.table.ResumableTable`).

Columns (``layout="yololens"``): ``image_name, instance, nms_index, class_id, class_name,
score, x1, y1, x2, y2`` (box in original pixels), ``mask_area``, ``coef_<k>``.
``mask_area`` is the pixel count of the instance's mask at *original* resolution, exactly
``Results.masks.data[i].sum()`` with ``retina_masks=True`` (``process_mask_native``),
whichever path aligns the rows. ``layout="seed"``: ``image_name, type, mask_1 .. mask_nm``
(``type`` = class name, ``mask_k`` = coefficient ``k - 1``), the seed's ``mask_coefficients.csv``.
"""

from __future__ import annotations

import contextlib
import json
import pickle
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pyarrow as pa

from yololens.engine.batching import plan_windows
from yololens.engine.runner import Runner
from yololens.errors import InputError
from yololens.options import check_options
from yololens.seg.ablation import ablation_drops
from yololens.seg.common import ensure_suffix, open_images, parse_indices, seg_compute
from yololens.seg.instances import original_areas
from yololens.seg.stream import SegImage, SegWindow, iter_seg_windows
from yololens.sources.records import Skip
from yololens.store.atomic import atomic_path
from yololens.engine.executors import Executor
from yololens.jobs.ray_executor import RayExecutor, WindowOutcome
from yololens.jobs.skeleton import executor_of, resume
from yololens.store.lock import DirectoryLock
from yololens.store.manifest import write_manifest
from yololens.store.naming import OutputNames
from yololens.store.table import FORMATS, ResumableTable

LAYOUTS = ("yololens", "seed")
DEFAULT_TABLE = "mask_coefficients.csv"
KEY = "image_name"
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


def table_schema(layout: str, indices: Sequence[int], mask_area: bool) -> pa.Schema:
    """The output columns for ``layout`` and the chosen coefficient ``indices`` (0-based)."""
    if layout == "seed":
        return pa.schema([(KEY, pa.string()), ("type", pa.string())]
                         + [(f"mask_{k + 1}", pa.float32()) for k in indices])
    fields = [(KEY, pa.string()), ("instance", pa.int32()), ("nms_index", pa.int32()), ("class_id", pa.int32()),
              ("class_name", pa.string()), ("score", pa.float32())]
    fields += [(c, pa.float32()) for c in ("x1", "y1", "x2", "y2")]
    fields += [("mask_area", pa.int64())] if mask_area else []
    return pa.schema(fields + [(f"coef_{k}", pa.float32()) for k in indices])


def instance_columns(item: SegImage, names: dict[int, str], indices: Sequence[int], layout: str,
                     mask_area: bool) -> dict[str, np.ndarray | list]:
    """One image's rows as columns (see :func:`table_schema`)."""
    inst = item.instances
    n = len(inst)
    coefs = inst.coefs.cpu().numpy().astype(np.float32)
    class_names = [names.get(int(c), str(int(c))) for c in inst.class_ids]
    cols: dict[str, np.ndarray | list] = {KEY: [item.record.name] * n}
    if layout == "seed":
        cols["type"] = class_names
        cols.update({f"mask_{k + 1}": coefs[:, k] for k in indices})
        return cols
    cols.update(instance=np.arange(n, dtype=np.int32), nms_index=inst.nms_index.astype(np.int32),
                class_id=inst.class_ids.astype(np.int32), class_name=class_names,
                score=inst.scores.astype(np.float32))
    for j, c in enumerate(("x1", "y1", "x2", "y2")):
        cols[c] = inst.boxes[:, j].astype(np.float32)
    if mask_area:
        cols["mask_area"] = original_areas(inst, item.result.protos)
    cols.update({f"coef_{k}": coefs[:, k] for k in indices})
    return cols


def _to_table(columns: list[dict], schema: pa.Schema) -> pa.Table:
    """Concatenate per-image column dicts into one table of ``schema``."""
    data = {}
    for f in schema:
        parts = [c[f.name] for c in columns]
        if pa.types.is_string(f.type):
            data[f.name] = [v for part in parts for v in part]
        else:
            data[f.name] = np.concatenate([np.asarray(part) for part in parts]) if parts else np.zeros(0)
    return pa.Table.from_pydict(data, schema=schema)


def coefficients(model, source, out=".", *, table: str | Path = DEFAULT_TABLE, indices=None, fmt: str | None = None,
                 layout: str = "yololens", retina_masks: bool = False, mask_area: bool = True, conf: float = 0.25,
                 iou: float = 0.7, imgsz: int = 640, max_det: int = 300, batch: int = 8, device: str | None = None,
                 workers: int = 2, window: int | None = None, save_prototype_png: bool = False,
                 report: bool = False, overwrite: bool = False, progress: bool = True, labels=None,
                 source_format: str | None = None, max_image_bytes: int | None = None, backend: str = "auto",
                 half: bool = False, threads: int = 0, precision: str | None = None,
                 executor: Executor | RayExecutor | str | None = None,
                 ray_address: str | None = None) -> CoefficientsResult:
    """Write one row per instance of every image of ``source`` to ``out/table``.

    Args:
        model: seg model (path, yaml, ``YOLO`` or :class:`LoadedModel`); a detect model is refused.
        source: image, folder, list ... (``open_source``) or a :class:`Source`.
        table: file name (relative to ``out``) or path; ``.csv`` or ``.parquet``.
        indices: 0-based coefficient indices (ints or ``"3,5"`` strings); ``None`` = all ``nm``.
        fmt: ``csv`` or ``parquet`` (default: from ``table``'s suffix, else csv); fixes the suffix.
        layout: ``"yololens"`` (full columns) or ``"seed"`` (``image_name,type,mask_1..``).
        retina_masks: align rows with ``predict(retina_masks=True)`` (its empty-mask filter).
        mask_area: compute the ``mask_area`` column (original pixels, exact retina mask area).
        save_prototype_png: also save ``out/prototypes/<image>_p<k>.png`` per chosen index.
        report: also compute per-instance prototype ablation and write the analytics report
            to ``out/report`` (see :mod:`yololens.jobs.coef_report`).
        overwrite: discard earlier results in ``out`` instead of resuming.
        backend, half, threads, precision: compute backend (``auto``/``torch``/``openvino``), bf16/fp16/int8
            and inference threads, as in :func:`yololens.jobs.extract.extract`; backend and
            precision are resume settings.
        window: consecutive source images per durable part (default ``max(8 * batch, 64)``); an
            interrupted run redoes at most the windows in flight. Batches hold one image shape
            inside a window, so larger windows fill batches better on mixed-size folders.
        executor, ray_address: what runs the windows (``"local"``, the default: this process; ``"ray"``:
            Ray workers, as in :func:`yololens.jobs.extract.extract`).

    Images already in the table (or in parts left by an interrupted run) are skipped; the
    final file equals an uninterrupted run's. ``out`` is locked for the run.
    """
    if layout not in LAYOUTS:
        raise InputError(f"--layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
    check_options(imgsz=imgsz, batch=batch, window=window, workers=workers, conf=conf, iou=iou, max_det=max_det,
                  max_image_bytes=max_image_bytes)
    t0 = time.perf_counter()
    out = Path(out)
    path = Path(table) if Path(table).is_absolute() else out / table
    fmt = (fmt or path.suffix.lstrip(".") or "csv").lower()
    if fmt not in FORMATS:
        raise InputError(f"--format must be csv or parquet, not {fmt!r}")
    path = ensure_suffix(path, fmt)
    loaded, compute = seg_compute(model, "coefficients", device, backend, half, threads, precision)
    chosen = parse_indices(indices, loaded.nm) or list(range(loaded.nm))
    if save_prototype_png and len(chosen) > MAX_PROTOTYPE_PNGS:
        raise InputError(f"--save-prototype-png draws one PNG per chosen index; choose at most "
                         f"{MAX_PROTOTYPE_PNGS} with --index (or use `yololens protos` for all prototypes)")
    src = open_images(source, labels, source_format, exclude=out)
    compute = compute.calibrated_on(src.records)
    settings = {"model": loaded.sha256 or loaded.source, "indices": chosen, "layout": layout,
                "retina_masks": retina_masks, "mask_area": mask_area, "conf": conf, "iou": iou, "imgsz": imgsz,
                "max_det": max_det, "report": report, "backend": str(compute.backend),
                "precision": str(compute.precision)}
    schema = table_schema(layout, chosen, mask_area and layout != "seed")
    result = CoefficientsResult(path, skips=list(src.skips))
    outside = path.resolve().parent != out.resolve()  # --csv /elsewhere/x.csv: lock that file too
    with DirectoryLock(out), DirectoryLock(out, guards=path) if outside else contextlib.nullcontext():
        # Rows live in a Parquet store; a CSV is exported from it at the end, so a resumed CSV is
        # byte-identical to a clean run's (ResumableTable re-reads a CSV with inferred types). All working
        # state (store, parts, settings) stays under --out, wherever the final file goes.
        tables = {"main": ResumableTable(_store_path(path, fmt, out), key_column=KEY, fmt="parquet", work_dir=out)}
        if report:
            tables["ablation"] = ResumableTable(_ablation_path(path), key_column=KEY, fmt="parquet", work_dir=out)
        start = resume(out, out / f".{path.name}.settings.json", list(tables.values()), settings, overwrite,
                       src.records, labels, where=path, hint="--out/--csv")
        done = start.done
        # The ablation part of a window is written first: a crash in between leaves it ahead, and
        # the images it already holds are not written to it again.
        ablation_done = tables["ablation"].done_keys() if report else set()
        result.skips.extend(start.redone)
        result.resumed = start.resumed
        names = loaded.names
        writer = _WindowWriter(tables, names, chosen, layout, mask_area, schema, loaded.nm, ablation_done,
                               out / "prototypes" if save_prototype_png else None,
                               OutputNames(r.name for r in src.records), report)
        ex = executor_of(executor, ray_address)
        if isinstance(ex, RayExecutor):
            seg_window = window or max(8 * batch, 64)
            remote = _RayCoefWork(pickle.dumps(loaded), dict(imgsz=imgsz, conf=conf, iou=iou, max_det=max_det,
                                                             **compute.runner_kwargs()),
                                  replace(writer, fixed=True), batch, retina_masks, seg_window, workers, max_image_bytes)
            windows = [w for w in ([r for r in w if r.name not in done] for w in plan_windows(src.records, seg_window)) if w]
            for o in sorted(ex.run_windows(remote, windows, out, gpu=loaded.device.type == "cuda", progress=progress,
                                           desc="coefficients"), key=lambda o: o.first_index):
                result.skips.extend(o.skips)
                result.images += len(o.keys)
                result.instances += o.objects
        else:
            runner = Runner(loaded, imgsz=imgsz, conf=conf, iou=iou, max_det=max_det, **compute.runner_kwargs())
            for win in iter_seg_windows(runner, src.records, batch, retina_masks, window=window or max(8 * batch, 64),
                                        workers=workers, progress=progress, desc="coefficients", done=done,
                                        max_image_bytes=max_image_bytes, executor=ex):
                result.skips.extend(win.skips)
                images, instances = writer.write(win)
                result.images += images
                result.instances += instances
        final = tables["main"].finalize(metadata={"yololens.settings": json.dumps(settings)})
        if final is not None and fmt == "csv":
            final = _export_csv(final, path)
        result.table = final
        if report:
            from yololens.jobs.coef_report import coef_report

            ablation = tables["ablation"].finalize()
            if final is not None:
                result.report = coef_report(final, out / "report", ablation=ablation).out
        result.seconds = time.perf_counter() - t0
        counts = {"images_in_source": len(src.records), "images_resumed": result.resumed,
                  "images_processed": result.images, "instances_written": result.instances,
                  "skipped": len(result.skips)}
        params = {"source": str(source), "table": str(path), "format": fmt, "batch": batch, "threads": threads,
                  "device": str(loaded.device), **settings}
        write_manifest(out, "coefficients", params, loaded.describe(), counts, {"total": result.seconds},
                       result.skips)
    return result


@dataclass
class _WindowWriter:
    """Writes one window's parts (ablation first, then the prototype PNGs, then the rows); picklable, so a
    Ray worker writes its windows itself (``fixed``: parts named by their window, a retry replaces its part)."""

    tables: dict
    names: dict
    chosen: list
    layout: str
    mask_area: bool
    schema: pa.Schema
    nm: int
    ablation_done: set
    png_folder: Path | None
    png_names: OutputNames
    report: bool
    fixed: bool = False

    def write(self, win: SegWindow) -> tuple[int, int]:
        """``(images, instances)`` written."""
        if not win.images:
            return 0, 0
        keys = [item.record.name for item in win.images]
        cols = [instance_columns(item, self.names, self.chosen, self.layout, self.mask_area) for item in win.images]
        fresh = [item for item in win.images if item.record.name not in self.ablation_done]
        if self.report and fresh:
            self.tables["ablation"].write_part(_ablation_table(fresh, self.names, self.nm),
                                               [item.record.name for item in fresh], win.first_index, fixed=self.fixed)
        if self.png_folder is not None:  # before the part: a window is done only once its PNGs are
            _prototype_pngs(win.images, self.png_folder, self.chosen, self.names, self.png_names)
        self.tables["main"].write_part(_to_table(cols, self.schema), keys, win.first_index, fixed=self.fixed)
        return len(win.images), sum(len(item.instances) for item in win.images)


@dataclass
class _RayCoefWork:
    """Builds the runner once in a Ray worker; the result runs (and writes) one window per call."""

    model: bytes
    runner_kwargs: dict
    writer: _WindowWriter
    batch: int
    retina_masks: bool
    window: int
    workers: int
    max_image_bytes: int | None

    def __call__(self):
        loaded = pickle.loads(self.model)
        runner = Runner(loaded, **self.runner_kwargs)

        def work(records: list) -> WindowOutcome:
            outcome = WindowOutcome(records[0].index)
            for win in iter_seg_windows(runner, records, self.batch, self.retina_masks, window=self.window,
                                        workers=self.workers, progress=False, max_image_bytes=self.max_image_bytes):
                outcome.skips.extend(win.skips)
                outcome.keys += [item.record.name for item in win.images]
                outcome.objects += self.writer.write(win)[1]
            return outcome
        return work


def _store_path(path: Path, fmt: str, out: Path) -> Path:
    return path if fmt == "parquet" else out / f".{path.name}.parquet"


def _export_csv(store: Path, path: Path) -> Path:
    """Stream the Parquet store into ``path`` as CSV, atomically."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(store)
    schema = pf.schema_arrow.remove_metadata()
    with atomic_path(path) as tmp, pacsv.CSVWriter(tmp, schema) as writer:
        for batch in pf.iter_batches():
            writer.write_batch(batch)
    return path


def _ablation_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}_ablation.parquet")


def _ablation_table(items: list[SegImage], names: dict[int, str], nm: int) -> pa.Table:
    """Per-instance IoU drops ``drop_<k>`` (see :mod:`yololens.seg.ablation`)."""
    schema = pa.schema([(KEY, pa.string()), ("instance", pa.int32()), ("class_name", pa.string())]
                       + [(f"drop_{k}", pa.float32()) for k in range(nm)])
    cols = []
    for item in items:
        inst = item.instances
        drops = ablation_drops(inst, item.result.protos)
        col = {KEY: [item.record.name] * len(inst), "instance": np.arange(len(inst), dtype=np.int32),
               "class_name": [names.get(int(c), str(int(c))) for c in inst.class_ids]}
        col.update({f"drop_{k}": drops[:, k] for k in range(nm)})
        cols.append(col)
    return _to_table(cols, schema)


def _prototype_pngs(items: list[SegImage], folder: Path, chosen: list[int], names: dict[int, str],
                    png_names: OutputNames) -> None:
    """The seed's per-image PNG ``<image>_p<k>.png``: the chosen prototype, titled with each instance's weight."""
    from yololens.figures.protos import prototype_figure
    from yololens.seg.decompose import ProtoGrid
    from yololens.store.atomic import save_fig

    for item in items:
        protos = item.result.protos.float().cpu().numpy()
        grid = ProtoGrid.compute(protos.shape[1:], item.result.letterbox)
        coefs = item.instances.coefs.cpu().numpy()
        labels = [names.get(int(c), str(int(c))) for c in item.instances.class_ids]
        for k in chosen:
            weights = [(label, float(coefs[i, k])) for i, label in enumerate(labels)]
            fig = prototype_figure(grid.unletterbox(protos[k]), k, weights, title=f"{item.record.name}: ")
            save_fig(fig, folder / f"{png_names(item.record.name)}_p{k}.png")
