"""The maps job: stage feature maps for every image of a source, one forward pass per batch.

For each image and requested layer it writes, under ``OUT/<image>/`` (the name made safe by
:mod:`yololens.store.naming`, e.g. ``a/b.jpg`` -> ``a__b_jpg``):

* ``L<idx>_<Module>.npy``: the full ``(C, H, W)`` activations in letterboxed space (float16 by
  default) and ``L<idx>_<Module>.json``: letterbox metadata, stride, content cells, channel ranking;
* ``L<idx>_<Module>_channels.png``: the top-K channels (content region), labelled by index;
* ``L<idx>_<Module>_overlay.png``: the channel-mean/energy heatmap blended over the original image,
  at the original pixel size;
* ``L<idx>_<Module>_pca.png``: PCA of the C-dim cell vectors -> RGB, at the original pixel size;

plus ``overview.png`` (one row per layer) per image and ``OUT/manifest.json``. The seg prototypes
are layer ``proto`` (files ``proto.*``). Tensors are written and dropped per batch, so memory
stays flat however many images or layers are asked for.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from yololens.engine.backends import prepare_model
from yololens.engine.batching import image_decoder, iter_decoded_batches
from yololens.engine.mapmath import (HEATMAP_KINDS, RANK_METHODS, channel_heatmap, content_cells, crop_content,
                                     pca_rgb, rank_channels, robust_unit, to_original)
from yololens.engine.runner import ImageResult, Runner
from yololens.errors import InputError
from yololens.figures import featuremaps as figs
from yololens.model import ultra
from yololens.model.catalogue import PROTO, LayerInfo, build_catalogue, resolve_layers
from yololens.model.loading import LoadedModel
from yololens.options import DEFAULT_CALIBRATION, check_options
from yololens.sources.records import ImageRecord, Skip, Source
from yololens.sources.resolve import as_source
from yololens.store.atomic import save_figure, save_npy, write_bytes, write_json
from yololens.store.lock import DirectoryLock
from yololens.store.manifest import claim_folder, versions, write_manifest
from yololens.store.naming import OutputNames, data_name

DTYPES = ("float16", "float32")
FP16_MAX = float(np.finfo(np.float16).max)
OVERVIEW_TILES = 4  # top channels per row of the overview
THUMB_PX = 360  # longest side of the overview's heatmap/PCA panels


@dataclass(frozen=True)
class MapsOptions:
    """What to write per image and layer (see :func:`maps` for the meaning of each)."""

    channels: int = 32
    rank: str = "energy"
    shared_scale: bool = False
    heatmap: str = "mean"
    dtype: str = "float16"
    npy: bool = True
    figures: bool = True

    def check(self) -> None:
        for name, value, allowed in (("rank", self.rank, RANK_METHODS), ("heatmap", self.heatmap, HEATMAP_KINDS),
                                     ("dtype", self.dtype, DTYPES)):
            if value not in allowed:
                raise InputError(f"--{name} must be one of {', '.join(allowed)}, not {value!r}")
        check_options(channels=self.channels)


def stage_stem(layer: int | str, module: str) -> str:
    """The file stem of a layer's maps: ``L9_SPPF``, ``proto`` (a module name is data: through the namer)."""
    return "proto" if layer == PROTO else data_name(f"L{layer}_{module}")


@dataclass(frozen=True)
class MapLayer:
    """A layer ``maps`` draws: its catalogue row and the file stem its outputs use."""

    layer: int | str
    module: str
    stem: str
    info: LayerInfo | None

    @classmethod
    def of(cls, layer: int | str, catalogue: dict) -> "MapLayer":
        info = catalogue.get(layer)
        module = info.module if info else "Proto"
        return cls(layer, module, stage_stem(layer, module), info)


@dataclass
class ImageMaps:
    """What was written for one image: its folder (relative to OUT) and the files in it."""

    index: int
    name: str
    folder: str
    files: list[str] = field(default_factory=list)


@dataclass
class MapsResult:
    """Outcome of :func:`maps`.

    Attributes:
        out: the output folder.
        layers: the layers written (ints, and ``"proto"``).
        images: one :class:`ImageMaps` per image that was processed, in source order.
        skips: inputs that were skipped (source listing and decode failures).
        files_written: number of files written (manifest included).
        seconds: wall time of the run.
    """

    out: Path
    layers: list[int | str]
    images: list[ImageMaps]
    skips: list[Skip]
    files_written: int
    seconds: float

    @property
    def manifest(self) -> Path:
        return self.out / "manifest.json"

    def summary(self) -> str:
        return (f"maps: {len(self.images)} images, {len(self.layers)} layers, {self.files_written} files written, "
                f"{len(self.skips)} skipped, {self.seconds:.1f} s -> {self.out}")


def maps(
    model,
    source,
    layers=None,
    out: str | Path = "maps",
    *,
    imgsz: int = 640,
    batch: int = 8,
    device: str | None = None,
    half: bool = False,
    channels: int = 32,
    rank: str = "energy",
    shared_scale: bool = False,
    heatmap: str = "mean",
    dtype: str = "float16",
    npy: bool = True,
    figures: bool = True,
    labels=None,
    source_format: str | None = None,
    workers: int = 2,
    max_image_bytes: int | None = None,
    progress: bool = True,
    on_skip=None,
    backend: str = "auto",
    threads: int = 0,
    precision: str | None = None,
    calibration: int = DEFAULT_CALIBRATION,
) -> MapsResult:
    """Write stage feature maps of ``model`` for every image of ``source`` under ``out``.

    Args:
        model: checkpoint path, model yaml, ``ultralytics.YOLO`` object or :class:`LoadedModel`.
        source: anything ``open_source`` accepts (image, folder, list file, labels), a
            :class:`Source`, or a list of image paths.
        layers: ``"2,4,9,sppf,p3,proto"``, ``"all"``, a list, or ``None`` for SPPF + P3/P4/P5.
        imgsz, batch, device, half: inference settings (as Ultralytics predict).
        channels: top-K channels in the grid (0: no grid); rank: ``energy`` (mean of squares),
            ``variance`` or ``index``; shared_scale: one colour scale for all tiles.
        heatmap: ``mean`` or ``energy`` over channels for the overlay.
        dtype: ``float16`` or ``float32`` for the ``.npy`` tensors; npy / figures: write them or not.
        labels, source_format: passed to ``open_source`` (labels are not used by the maps).
        workers: image decoding threads.
        max_image_bytes: skip image files larger than this (default 1 GiB), before reading them.
        backend, threads: compute backend (``auto``/``torch``/``openvino``) and inference threads,
            as in :func:`yololens.jobs.extract.extract` (``half`` then means bf16 on OpenVINO).
        precision, calibration: ``f32`` (default), ``bf16`` or ``int8`` (calibrated on ``calibration`` images
            of the source), as in :func:`yololens.jobs.extract.extract`. Without ``proto`` among the layers
            the network runs only up to the deepest layer asked for.
        on_skip: called with each :class:`Skip` as it happens (the CLI prints it).
    """
    start = time.perf_counter()
    opts = MapsOptions(channels, rank, shared_scale, heatmap, dtype, npy, figures)
    opts.check()
    check_options(imgsz=imgsz, batch=batch, workers=workers, max_image_bytes=max_image_bytes)
    claim_folder(Path(out), "maps")
    lm, compute = prepare_model(model, device, backend, half, threads, precision=precision, calibration=calibration)
    requested = resolve_layers(lm, layers, allow_proto=True)
    catalogue = {row.index: row for row in build_catalogue(lm, ultra.check_imgsz(imgsz, lm.stride)[0])}
    map_layers = [MapLayer.of(layer, catalogue) for layer in requested]
    out = Path(out)
    src = as_source(source, labels, source_format, exclude=out)
    compute = compute.calibrated_on(src.records)
    folders = image_folders(src.records)
    skips: list[Skip] = list(src.skips)
    notify = on_skip or (lambda skip: None)
    for skip in skips:
        notify(skip)
    runner = Runner(lm, layers=requested, imgsz=imgsz, predict=False, **compute.runner_kwargs())
    done: list[ImageMaps] = []
    with DirectoryLock(out), tqdm(total=len(src.records), unit="img", desc="maps", disable=not progress) as bar:
        for decoded in iter_decoded_batches(src.records, batch, workers=workers,
                                            decode=image_decoder(max_image_bytes)):
            for skip in decoded.skips:
                skips.append(skip)
                notify(skip)
            if decoded.images:
                ran = runner.run(decoded.images)
                for record, image_result in zip(decoded.records, ran.images):
                    folder = folders[record.index]
                    files = write_image_maps(image_result, record.name, out / folder, map_layers, opts)
                    done.append(ImageMaps(record.index, record.name, folder, files))
                del ran  # drop this batch's activations before decoding the next
            bar.update(len(decoded.records) + len(decoded.skips))
        done.sort(key=lambda m: m.index)  # batches are grouped by image shape, so restore source order
        n_files = sum(len(m.files) for m in done) + 1
        result = MapsResult(out, requested, done, skips, n_files, time.perf_counter() - start)
        _write_manifest(out, lm, map_layers, imgsz, batch, opts, src, result, compute)
    return result


def write_image_maps(res: ImageResult, name: str, folder: Path, map_layers: Sequence[MapLayer],
                     opts: MapsOptions) -> list[str]:
    """Write every layer's files for one image; returns the file names written (relative to ``folder``)."""
    files: list[str] = []
    rows: list[figs.OverviewRow] = []
    for ml in map_layers:
        fm = res.features[ml.layer].float().cpu().numpy()  # (C, H, W) letterboxed
        row = _write_layer(fm, res, name, folder, ml, opts, files)
        if row is not None:
            rows.append(row)
        del fm
    if rows:
        title = f"{Path(name).name}  —  {res.image.shape[1]}×{res.image.shape[0]} px, network input " \
                f"{res.letterbox.input_shape[1]}×{res.letterbox.input_shape[0]}"
        fig = figs.overview_figure(rows, title, f"channel {opts.heatmap}", opts.rank)
        _save(fig, folder / "overview.png")
        files.append("overview.png")
    return files


def _write_layer(fm: np.ndarray, res: ImageResult, name: str, folder: Path, ml: MapLayer, opts: MapsOptions,
                 files: list[str]) -> figs.OverviewRow | None:
    """One layer of one image: tensor + sidecar, then the figures; returns its overview row (if figures)."""
    cells = content_cells(res.letterbox, fm.shape[1:])
    crop = crop_content(fm, cells)  # padding never enters rankings, scales or PCA
    order, scores = rank_channels(crop, opts.rank, opts.channels)
    h_in, h = res.letterbox.input_shape[0], fm.shape[1]
    stride = h_in // h if h_in % h == 0 else h_in / h
    if opts.npy:
        array, dtype = _as_dtype(fm, opts.dtype)
        save_npy(folder / f"{ml.stem}.npy", array)
        write_json(folder / f"{ml.stem}.json", {
            "image": name, "layer": ml.layer, "module": ml.module, "shape": list(fm.shape), "dtype": dtype,
            "stride": stride, "space": "letterboxed", "letterbox": res.letterbox.as_dict(),
            "ratio_pad": [list(res.letterbox.gain), list(res.letterbox.pad)],
            "content_px": list(res.letterbox.content), "content_cells": cells.as_dict(),
            "ranking": {"method": opts.rank, "channels": order.tolist(), "scores": scores.tolist()},
        })
        files += [f"{ml.stem}.npy", f"{ml.stem}.json"]
    if not opts.figures:
        return None
    text = f"L{ml.layer} {ml.module}" if ml.layer != PROTO else "proto (seg prototypes)"
    shape = "×".join(map(str, fm.shape))
    if len(order):
        title = f"{Path(name).name}  —  {text}  {shape}, stride {stride:g}"
        _save(figs.channel_grid_figure(crop, order, title, opts.rank, opts.shared_scale),
              folder / f"{ml.stem}_channels.png")
        files.append(f"{ml.stem}_channels.png")
    over, pca_bgr, ratios = _original_size_views(crop, res, cells, opts.heatmap)
    for suffix, bgr in (("overlay", over), ("pca", pca_bgr)):
        write_bytes(folder / f"{ml.stem}_{suffix}.png", _png(bgr))
        files.append(f"{ml.stem}_{suffix}.png")
    tiles = [(int(ch), robust_unit(crop[ch])) for ch in order[:OVERVIEW_TILES]]
    return figs.OverviewRow(f"{text}\n{shape}\nstride {stride:g}", _thumb(over)[..., ::-1],
                            _thumb(pca_bgr)[..., ::-1], tiles, ratios)


def _original_size_views(crop: np.ndarray, res: ImageResult, cells, heatmap: str):
    """Heatmap overlay and PCA-RGB, both BGR uint8 at the original image size, plus the PCA variance ratios."""
    heat = to_original(robust_unit(channel_heatmap(crop, heatmap)), res.letterbox, cells)
    rgb, ratios = pca_rgb(crop)
    pca_bgr = figs.rgb_to_uint8(to_original(rgb, res.letterbox, cells))[..., ::-1]
    return figs.overlay(res.image, heat), pca_bgr, ratios


def _save(fig, path: Path) -> None:
    save_figure(fig, path, pil_kwargs={"compress_level": 3})  # ~3x faster than the default 6, files ~10% larger
    fig.clear()  # break the figure's reference cycles now, not at the next GC pass


def _as_dtype(fm: np.ndarray, dtype: str) -> tuple[np.ndarray, str]:
    """Cast for saving; values beyond float16's range keep float32 rather than turning into inf."""
    if dtype == "float16" and float(np.abs(fm).max(initial=0)) <= FP16_MAX:
        return fm.astype(np.float16), "float16"
    return fm.astype(np.float32, copy=False), "float32"


def _png(bgr: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(bgr))
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def _thumb(bgr: np.ndarray) -> np.ndarray:
    h, w = bgr.shape[:2]
    scale = THUMB_PX / max(h, w)
    if scale >= 1:
        return bgr
    return cv2.resize(bgr, (max(round(w * scale), 1), max(round(h * scale), 1)), interpolation=cv2.INTER_AREA)


def image_folders(records: Sequence[ImageRecord]) -> dict[int, str]:
    """Record index -> output folder name (:mod:`yololens.store.naming`: ``a/b.jpg`` -> ``a__b_jpg``, unique,
    case-insensitively, within the run; reserved in source order before decoding, so a skip shifts nothing)."""
    names, out = OutputNames(), {}
    for record in records:  # the same name twice (a list naming one file twice) still gets two folders
        key = record.name if record.name not in names else f"{record.name}\0{record.index}"
        out[record.index] = names(key)
    return out


def _write_manifest(out: Path, lm: LoadedModel, map_layers: Sequence[MapLayer], imgsz: int, batch: int,
                    opts: MapsOptions, src: Source, result: MapsResult, compute) -> Path:
    """``OUT/manifest.json`` through the one manifest writer (store/manifest.py), with the maps-specific keys
    (``compute``: the resolved backend, precision and threads)."""
    import sklearn

    params = {"imgsz": imgsz, "batch": batch, "device": str(lm.device), "half": lm.half, **compute.describe()}
    counts = {"images": len(result.images), "layers": len(map_layers), "files": result.files_written,
              "skipped": len(result.skips)}
    extra = {
        **params,
        "layers": [{"layer": s.layer, "files": s.stem, **(s.info.as_dict() if s.info else {})} for s in map_layers],
        "options": {"channels": opts.channels, "rank": opts.rank, "shared_scale": opts.shared_scale,
                    "heatmap": opts.heatmap, "dtype": opts.dtype, "npy": opts.npy, "figures": opts.figures},
        "source": {"format": src.format, "images": len(src.records)},
        "images": [{"image": m.name, "folder": m.folder, "files": len(m.files)} for m in result.images],
        "seconds": round(result.seconds, 3),
        "versions": {**versions(), "scikit-learn": sklearn.__version__},
    }
    return write_manifest(out, "maps", params, lm.describe(), counts, {"total": result.seconds}, result.skips, extra)
