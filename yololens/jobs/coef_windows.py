"""The ``coefficients`` job's rows and window work: one row per instance with its mask coefficients.

Columns (``layout="yololens"``): ``image_name, instance, nms_index, class_id, class_name,
score, x1, y1, x2, y2`` (box in original pixels), ``mask_area``, ``coef_<k>``.
``mask_area`` is the pixel count of the instance's mask at *original* resolution, exactly
``Results.masks.data[i].sum()`` with ``retina_masks=True`` (``process_mask_native``),
whichever path aligns the rows. ``layout="seed"``: ``image_name, type, mask_1 .. mask_nm``
(``type`` = class name, ``mask_k`` = coefficient ``k - 1``), the seed's ``mask_coefficients.csv``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from yololens.engine.executors import Window, WindowOutcome
from yololens.seg.ablation import ablation_drops
from yololens.seg.instances import original_areas
from yololens.seg.stream import SegImage, SegWindow, iter_seg_windows
from yololens.store.atomic import atomic_path
from yololens.store.naming import OutputNames
from yololens.types import CoefLayout

KEY = "image_name"


def table_schema(layout: CoefLayout, indices: Sequence[int], mask_area: bool) -> pa.Schema:
    """The output columns for ``layout`` and the chosen coefficient ``indices`` (0-based)."""
    if layout is CoefLayout.SEED:
        return pa.schema([(KEY, pa.string()), ("type", pa.string())]
                         + [(f"mask_{k + 1}", pa.float32()) for k in indices])
    fields = [(KEY, pa.string()), ("instance", pa.int32()), ("nms_index", pa.int32()), ("class_id", pa.int32()),
              ("class_name", pa.string()), ("score", pa.float32())]
    fields += [(c, pa.float32()) for c in ("x1", "y1", "x2", "y2")]
    fields += [("mask_area", pa.int64())] if mask_area else []
    return pa.schema(fields + [(f"coef_{k}", pa.float32()) for k in indices])


def instance_columns(item: SegImage, names: dict[int, str], indices: Sequence[int], layout: CoefLayout,
                     mask_area: bool) -> dict[str, np.ndarray | list]:
    """One image's rows as columns (see :func:`table_schema`)."""
    inst = item.instances
    n = len(inst)
    coefs = inst.coefs.cpu().numpy().astype(np.float32)
    class_names = [names.get(int(c), str(int(c))) for c in inst.class_ids]
    cols: dict[str, np.ndarray | list] = {KEY: [item.record.name] * n}
    if layout is CoefLayout.SEED:
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


class CoefWindows:
    """The coefficients job's window work, built once per worker from a
    :class:`~yololens.jobs.coefficients.CoefficientsSpec`: each call runs one window and writes its parts
    (ablation first, then the prototype PNGs, then the rows: a window is done only once all are written)."""

    def __init__(self, spec):
        self.spec = spec
        model = spec.compute.model
        self.runner = spec.compute.runner(imgsz=spec.imgsz, conf=spec.conf, iou=spec.iou, max_det=spec.max_det)
        self.names, self.nm = model.names, model.nm
        self.tables = spec.tables()
        self.schema = table_schema(spec.layout, spec.indices, spec.has_mask_area)
        self.png_names = OutputNames(r.name for r in spec.source.records) if spec.save_prototype_png else None

    def __call__(self, window: Window) -> WindowOutcome:
        outcome = WindowOutcome(window[0].index)
        s = self.spec
        for win in iter_seg_windows(self.runner, window, s.batch, s.retina_masks, window=len(window),
                                    workers=s.workers, progress=False, on_skip=lambda skip: None,
                                    max_image_bytes=s.max_image_bytes):
            outcome.skips.extend(win.skips)
            outcome.keys += [item.record.name for item in win.images]
            outcome.rows += self._write(win)
        return outcome

    def _write(self, win: SegWindow) -> int:
        """Write one window's parts (named by the window: a window run again replaces them); instances written."""
        if not win.images:
            return 0
        s = self.spec
        keys = [item.record.name for item in win.images]
        cols = [instance_columns(item, self.names, s.indices, s.layout, s.has_mask_area) for item in win.images]
        fresh = [item for item in win.images if item.record.name not in s.ablation_done]
        if s.report and fresh:
            self.tables[1].write_part(_ablation_table(fresh, self.names, self.nm),
                                      [item.record.name for item in fresh], win.first_index, fixed=True)
        if self.png_names is not None:  # before the part: a window is done only once its PNGs are
            _prototype_pngs(win.images, s.out / "prototypes", s.indices, self.names, self.png_names)
        self.tables[0].write_part(_to_table(cols, self.schema), keys, win.first_index, fixed=True)
        return sum(len(item.instances) for item in win.images)


def build_coef_work(spec) -> CoefWindows:
    """The coefficients job's ``build``: once per worker (see :mod:`yololens.engine.executors`)."""
    return CoefWindows(spec)


def export_csv(store: Path, path: Path) -> Path:
    """Stream the Parquet store into ``path`` as CSV, atomically."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(store)
    schema = pf.schema_arrow.remove_metadata()
    with atomic_path(path) as tmp, pacsv.CSVWriter(tmp, schema) as writer:
        for batch in pf.iter_batches():
            writer.write_batch(batch)
    return path


def ablation_path(path: Path) -> Path:
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
