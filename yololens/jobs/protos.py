"""The ``protos`` job: per-instance decomposition figures, per-image mask figures, prototype arrays.

Output, per image ``OUT/<image>/`` (``<image>`` = the image name made file-safe by
:mod:`yololens.store.naming`: ``a/b.jpg`` -> ``a__b_jpg``, bounded, unique within the run):

* ``instance_<i>_<class>.<fmt>``: :func:`~yololens.figures.protos.instance_figure` of instance ``i``
  (``Results`` order);
* ``masks.<fmt>``: every final mask over the image;
* ``protos.npy``: ``(nm, h, w)`` float32 prototypes on the full letterboxed grid (``h, w`` =
  input / 4; ``meta.json`` gives the rows/cols covering the original image);
* ``coefs.npy``: ``(n, nm)`` float32 coefficients, row ``i`` = instance ``i``;
* ``meta.json``: letterbox, grid placement, and instance -> NMS index, class, score, boxes, area.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from yololens import reprs
from yololens.engine.runner import Runner
from yololens.errors import InputError
from yololens.options import check_options
from yololens.seg.common import open_images, seg_compute
from yololens.seg.decompose import ProtoGrid, decompose
from yololens.seg.stream import SegImage, iter_seg_windows
from yololens.sources.records import Skip
from yololens.store.atomic import save_fig, save_npy, write_json
from yololens.store.lock import DirectoryLock
from yololens.store.manifest import claim_folder, write_manifest
from yololens.store.naming import OutputNames, safe_component

FIGURE_FORMATS = ("png", "svg")
ORDERS = ("abs", "index")
REPR_PAGES = 3  # images shown inline in a notebook


@dataclass
class InstanceFigure:
    """One instance's decomposition figure: ``instance`` is its ``Results`` index."""

    instance: int
    class_name: str
    score: float
    path: Path


@dataclass
class ProtosPage:
    """What protos wrote for one image: the all-masks figure and the instance figures (``Results`` order)."""

    folder: Path
    masks: Path
    n_instances: int
    instances: list[InstanceFigure] = field(default_factory=list)


@dataclass
class ProtosResult:
    """What a ``protos`` run wrote."""

    out: Path
    images: int = 0
    instances: int = 0
    figures: int = 0
    skips: list[Skip] = field(default_factory=list)
    seconds: float = 0.0
    folders: dict[str, Path] = field(default_factory=dict)  # image name -> its output folder
    pages: dict[str, ProtosPage] = field(default_factory=dict)  # image name -> the figures written for it
    compute: dict = field(default_factory=dict)  # backend, precision, threads (also in each meta.json)

    def summary(self) -> str:
        return (f"protos: {self.images} image(s), {self.instances} instance(s), {self.figures} figure(s), "
                f"{len(self.skips)} skipped, {self.seconds:.1f} s -> {self.out}")

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:  # each image's all-masks figure and its first instance decomposition
        pages = list(self.pages.values())[:REPR_PAGES]
        figs = [p for page in pages for p in (page.masks, *(f.path for f in page.instances[:1]))]
        return reprs.block(self.summary(), *(reprs.img_tag(p) for p in figs))

    def _repr_png_(self) -> bytes | None:
        return reprs.png_bytes(next(iter(self.pages.values())).masks) if self.pages else None


def protos(model, source, out, *, order: str = "abs", shared_scale: bool = False, retina_masks: bool = False,
           max_instances: int | None = None, conf: float = 0.25, iou: float = 0.7, imgsz: int = 640,
           max_det: int = 300, batch: int = 1, device: str | None = None, fmt: str = "png", workers: int = 2,
           progress: bool = True, labels=None, source_format: str | None = None,
           max_image_bytes: int | None = None, backend: str = "auto", half: bool = False,
           threads: int = 0, precision: str | None = None) -> ProtosResult:
    """Draw every instance's prototype decomposition for every image of ``source`` into ``out``.

    Args:
        model: seg model (path, yaml, ``YOLO`` or :class:`LoadedModel`); a detect model is refused.
        source: image, folder, list, ... (see ``open_source``) or a :class:`Source`.
        order: prototypes sorted by ``|c|`` (``"abs"``) or by index (``"index"``, the seed's layout).
        shared_scale: one colour range for all prototypes instead of one per prototype.
        retina_masks: final masks at original resolution (Ultralytics' ``retina_masks``).
        max_instances: at most this many instance figures per image (``Results`` order).
        fmt: ``png`` or ``svg``.
        backend, half, threads, precision: compute backend (``auto``/``torch``/``openvino``), bf16/fp16/int8
            and inference threads, as in :func:`yololens.jobs.extract.extract`.
    """
    if order not in ORDERS:
        raise InputError(f"--order must be one of {', '.join(ORDERS)}, not {order!r}")
    if fmt not in FIGURE_FORMATS:
        raise InputError(f"--format must be one of {', '.join(FIGURE_FORMATS)}, not {fmt!r}")
    check_options(imgsz=imgsz, batch=batch, workers=workers, conf=conf, iou=iou, max_det=max_det,
                  max_instances=max_instances, max_image_bytes=max_image_bytes)
    t0 = time.perf_counter()
    out = Path(out)
    claim_folder(out, "protos")
    loaded, compute = seg_compute(model, "protos", device, backend, half, threads, precision)
    src = open_images(source, labels, source_format, exclude=out)
    compute = compute.calibrated_on(src.records)
    result = ProtosResult(out, skips=list(src.skips), compute=compute.describe())
    runner = Runner(loaded, imgsz=imgsz, conf=conf, iou=iou, max_det=max_det, **compute.runner_kwargs())
    folder_of = OutputNames(r.name for r in src.records)  # reserved in source order: skips shift nothing
    with DirectoryLock(out):
        for window in iter_seg_windows(runner, src.records, batch, retina_masks, workers=workers,
                                       progress=progress, desc="protos", max_image_bytes=max_image_bytes):
            result.skips.extend(window.skips)
            for item in window.images:
                folder = result.folders[item.record.name] = out / folder_of(item.record.name)
                _write_image(item, folder, loaded, order, shared_scale,
                             max_instances, fmt, result)
        result.seconds = time.perf_counter() - t0
        params = {"source": str(source) if isinstance(source, (str, Path)) else f"{len(src)} images",
                  "order": order, "shared_scale": shared_scale, "retina_masks": retina_masks,
                  "max_instances": max_instances, "conf": conf, "iou": iou, "imgsz": imgsz, "max_det": max_det,
                  "batch": batch, "figure_format": fmt}
        counts = {"images": result.images, "instances": result.instances, "figures": result.figures,
                  "skipped": len(result.skips)}
        write_manifest(out, "protos", params, loaded.describe(), counts, {"total": result.seconds}, result.skips,
                       extra={"images": {name: str(f.relative_to(out)) for name, f in result.folders.items()}})
    return result


def _write_image(item: SegImage, folder: Path, loaded, order: str, shared_scale: bool,
                 max_instances: int | None, fmt: str, result: ProtosResult) -> None:
    from yololens.figures.protos import image_masks_figure, instance_figure

    inst, protos_t = item.instances, item.result.protos
    names = loaded.names
    labels = [f"{names.get(int(c), str(c))} {s:.2f}" for c, s in zip(inst.class_ids, inst.scores)]
    save_npy(folder / "protos.npy", protos_t.float().cpu().numpy())
    save_npy(folder / "coefs.npy", inst.coefs.cpu().numpy().astype(np.float32))
    write_json(folder / "meta.json", _meta(item, loaded) | {"compute": result.compute})
    page = result.pages[item.record.name] = ProtosPage(folder, folder / f"masks.{fmt}", len(inst))
    save_fig(image_masks_figure(item.image, [m.cpu().numpy() for m in inst.masks], list(inst.boxes), labels,
                                inst.retina_masks, title=f"{item.record.name}: {len(inst)} instance(s)"),
             page.masks)
    result.figures += 1
    n = len(inst) if max_instances is None else min(len(inst), max_instances)
    for i in range(n):
        dec = decompose(inst, protos_t, i, names)
        fig = instance_figure(dec, item.image, order=order, shared_scale=shared_scale,
                              title=f"{item.record.name} — instance {i}: {dec.class_name} {dec.score:.2f}")
        page.instances.append(InstanceFigure(i, dec.class_name, float(dec.score),
                                             folder / f"instance_{i:03d}_{safe_component(dec.class_name)[:64]}.{fmt}"))
        save_fig(fig, page.instances[-1].path)
        result.figures += 1
    result.images += 1
    result.instances += len(inst)


def _meta(item: SegImage, loaded) -> dict:
    inst, res = item.instances, item.result
    grid = ProtoGrid.compute(tuple(res.protos.shape[1:]), res.letterbox)
    areas = inst.mask_areas()
    return {
        "image": item.record.name,
        "path": str(item.record.path),
        "model": {"source": loaded.source, "sha256": loaded.sha256, "family": loaded.family, "nm": loaded.nm},
        "letterbox": res.letterbox.as_dict(),
        "proto_shape": list(res.protos.shape),
        "proto_content": {"rows": list(grid.rows), "cols": list(grid.cols)},
        "retina_masks": inst.retina_masks,
        "mask_shape": list(inst.masks.shape[1:]),
        "mask_space": inst.mask_space,
        "instances": [
            {"instance": i, "nms_index": int(inst.nms_index[i]), "class_id": int(inst.class_ids[i]),
             "class_name": loaded.names.get(int(inst.class_ids[i]), str(int(inst.class_ids[i]))),
             "score": float(inst.scores[i]), "box": [float(v) for v in inst.boxes[i]],
             "box_lb": [float(v) for v in inst.boxes_lb[i].tolist()], "mask_area": int(areas[i])}
            for i in range(len(inst))
        ],
    }
