"""The one place that touches Ultralytics internals.

Everything yololens claims to reproduce (letterbox, NMS, box mapping, masks) goes through
these thin wrappers, so a change in Ultralytics breaks in one file. Tested against
``yololens.ULTRALYTICS_TESTED``; Ultralytics changed the crop/upsample order of ``process_mask``
in 2026 (upsample first, then crop), and the exactness tests pin that behaviour.
"""

from __future__ import annotations

import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import ultralytics
from ultralytics.data.augment import LetterBox
from ultralytics.utils import nms as _nms
from ultralytics.utils import ops as _ops

from yololens.model import tv_ops
from yololens.types import Task

ULTRALYTICS_VERSION = ultralytics.__version__
NMS_TIME_BUDGET_S = 3600.0  # per image; see non_max_suppression


@dataclass(frozen=True)
class LetterboxInfo:
    """How one original image maps onto the letterboxed network input.

    Attributes:
        orig_shape: ``(h, w)`` of the original image (pixels, after EXIF orientation).
        input_shape: ``(h, w)`` of the letterboxed input tensor.
        gain: ``(gain_y, gain_x)``: letterboxed pixels per original pixel.
        pad: ``(pad_x, pad_y)``: left/top padding in letterboxed pixels.

    The numbers are computed exactly as ``ultralytics.utils.ops.scale_boxes`` does, so
    mapping a box there and back agrees with Ultralytics to float precision.
    """

    orig_shape: tuple[int, int]
    input_shape: tuple[int, int]
    gain: tuple[float, float]
    pad: tuple[int, int]

    @classmethod
    def compute(cls, input_shape: tuple[int, int], orig_shape: tuple[int, int]) -> "LetterboxInfo":
        h0, w0 = orig_shape
        h1, w1 = input_shape
        gain = min(h1 / h0, w1 / w0)
        new_h, new_w = (max(round(x * gain), 1) for x in (h0, w0))
        pad_x, pad_y = round((w1 - new_w) / 2 - 0.1), round((h1 - new_h) / 2 - 0.1)
        return cls((h0, w0), (h1, w1), (new_h / h0, new_w / w0), (pad_x, pad_y))

    @property
    def content(self) -> tuple[float, float, float, float]:
        """The un-padded image region in letterboxed pixels, ``(x1, y1, x2, y2)``."""
        (h0, w0), (gy, gx), (px, py) = self.orig_shape, self.gain, self.pad
        return (float(px), float(py), px + w0 * gx, py + h0 * gy)

    def to_original(self, boxes: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Letterboxed ``(N, 4)`` xyxy -> original pixels, clipped to the image (Ultralytics' scale_boxes)."""
        boxes = boxes.clone() if isinstance(boxes, torch.Tensor) else np.array(boxes, dtype=np.float64)
        return _ops.scale_boxes(self.input_shape, boxes, self.orig_shape)

    def to_letterbox(self, boxes: np.ndarray) -> np.ndarray:
        """Original-pixel ``(N, 4)`` xyxy -> letterboxed pixels (the inverse of :meth:`to_original`)."""
        out = np.array(boxes, dtype=np.float64).reshape(-1, 4).copy()
        (gy, gx), (px, py) = self.gain, self.pad
        out[:, [0, 2]] = out[:, [0, 2]] * gx + px
        out[:, [1, 3]] = out[:, [1, 3]] * gy + py
        return out

    def as_dict(self) -> dict:
        return {"orig_shape": list(self.orig_shape), "input_shape": list(self.input_shape),
                "gain": list(self.gain), "pad": list(self.pad)}


def letterbox_batch(images: list[np.ndarray], imgsz: tuple[int, int], stride: int, rect: bool = True) -> list[np.ndarray]:
    """Letterbox BGR images exactly as ``BasePredictor.pre_transform`` does.

    When every image has the same shape (and ``rect``), Ultralytics uses a minimal
    rectangle (``auto=True``: padding only up to a multiple of ``stride``); otherwise a
    full ``imgsz`` square. Returns HxWx3 uint8 BGR arrays of one common shape.
    """
    same_shapes = len({im.shape for im in images}) == 1
    lb = LetterBox(imgsz, auto=same_shapes and rect, stride=stride)
    return [lb(image=im) for im in images]


def to_input_tensor(batch: list[np.ndarray], device: torch.device, half: bool) -> torch.Tensor:
    """``BasePredictor.preprocess``: BGR uint8 HWC list -> RGB float BCHW in [0, 1]."""
    im = torch.from_numpy(batch[0]).unsqueeze(0) if len(batch) == 1 else torch.from_numpy(np.stack(batch))
    im = im.to(device).permute(0, 3, 1, 2).contiguous().flip(1)
    return (im.half() if half else im.float()).div_(255)


def nms_as_predict() -> None:
    """Make our NMS run the kernel ``predict``'s runs. Ultralytics' predictor imports torchvision in its warm-up,
    so its NMS calls ``torchvision.ops.nms``; without torchvision imported it would run its own NMS. yololens
    calls that same compiled kernel, loaded without the package (:mod:`yololens.model.tv_ops`: the package
    imports ``torch._dynamo``, ~1.5 s); only when the kernel cannot be loaded alone is the package imported."""
    if tv_ops.kernel("nms") is None:
        import torchvision  # noqa: F401


def check_imgsz(imgsz: int | tuple[int, int], stride: int) -> tuple[int, int]:
    """Ultralytics' imgsz check (rounds up to a multiple of the stride); returns ``(h, w)``."""
    from ultralytics.utils.checks import check_imgsz as _check

    size = _check(imgsz, stride=stride, min_dim=2)
    return (int(size[0]), int(size[1]))


def non_max_suppression(
    preds,
    conf: float,
    iou: float,
    max_det: int,
    nc: int,
    end2end: bool,
    classes: list[int] | None = None,
) -> list[torch.Tensor]:
    """Ultralytics' NMS, called as ``DetectionPredictor.postprocess`` calls it.

    Returns one ``(n, 6 + nm)`` tensor per image: letterboxed ``x1 y1 x2 y2``, score,
    class, then the mask coefficients for seg models.
    """
    # Ultralytics stops NMS after a wall-clock budget (2 s + 50 ms per image), which makes results
    # depend on machine load; yololens lifts the budget so the same inputs always give the same boxes.
    with _torchvision_nms():
        return _nms.non_max_suppression(
            preds, conf, iou, classes, False, max_det=max_det, nc=nc, end2end=end2end, rotated=False,
            max_time_img=NMS_TIME_BUDGET_S,
        )


_NMS_LOCK = threading.Lock()


@contextmanager
def _torchvision_nms():
    """While torchvision is not imported, Ultralytics' NMS falls back to ``TorchNMS.nms``; swap in torchvision's
    compiled kernel for the call (what ``torchvision.ops.nms`` runs, and so what ``predict`` runs). The swap is
    scoped to this call and locked, so other users of Ultralytics in the process are unaffected."""
    op = None if "torchvision" in sys.modules else tv_ops.kernel("nms")
    if op is None:
        yield
        return
    with _NMS_LOCK:
        saved = _nms.TorchNMS.__dict__["nms"]
        _nms.TorchNMS.nms = staticmethod(lambda boxes, scores, iou_threshold: op(boxes, scores, float(iou_threshold)))
        try:
            yield
        finally:
            _nms.TorchNMS.nms = saved


def split_head_output(output, task: str) -> tuple[object, torch.Tensor | None]:
    """Split a raw eval-mode model output into (predictions for NMS, prototypes or None).

    Mirrors ``SegmentationPredictor.postprocess``: for seg models the prototypes are
    ``preds[0][1]`` when the first element is a tuple, else ``preds[1]``.
    """
    if task == Task.SEGMENT:
        protos = output[0][1] if isinstance(output[0], tuple) else output[1]
        return output[0], protos
    return output, None


def process_mask(protos: torch.Tensor, coefs: torch.Tensor, boxes_lb: torch.Tensor, input_shape: tuple[int, int]) -> torch.Tensor:
    """Ultralytics' default mask path: ``(N, h_in, w_in)`` uint8 masks at letterboxed resolution."""
    return _ops.process_mask(protos, coefs, boxes_lb, input_shape, upsample=True)


def process_mask_native(protos: torch.Tensor, coefs: torch.Tensor, boxes_orig: torch.Tensor, orig_shape: tuple[int, int]) -> torch.Tensor:
    """Ultralytics' ``retina_masks`` path: ``(N, h0, w0)`` uint8 masks at original resolution."""
    return _ops.process_mask_native(protos, coefs, boxes_orig, orig_shape)


def scale_masks(masks: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Ultralytics' un-letterbox of ``(N, C, h, w)`` masks to ``shape`` (crop padding, bilinear resize)."""
    return _ops.scale_masks(masks, shape)


def predict_memory_format(device: torch.device) -> torch.memory_format:
    """The memory format ``AutoBackend`` gives a PyTorch model for predict.

    Ultralytics converts the model to ``channels_last`` on CUDA and on x86 Linux/Windows
    CPUs with oneDNN. Convolutions accumulate in another order in that format (~1e-5 on
    the prototypes), which flips mask pixels at the 0 threshold; a model in the same format
    (and run with the same torch thread count) gives bitwise the same outputs as predict.
    """
    import platform

    from ultralytics.utils import LINUX, WINDOWS

    dev = torch.device(device)
    cpu_ok = (dev.type == "cpu" and platform.machine() in {"AMD64", "x86_64"} and (LINUX or WINDOWS)
              and torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled)
    return torch.channels_last if dev.type == "cuda" or cpu_ok else torch.contiguous_format


def imread(path: str) -> np.ndarray | None:
    """Ultralytics' image reader (cv2, EXIF orientation applied, 3-channel BGR)."""
    import cv2
    from ultralytics.utils.patches import imread as _imread

    return _imread(path, cv2.IMREAD_COLOR)


def pil_open(path):
    """``PIL.Image.open`` as Pillow ships it.

    Importing Ultralytics replaces ``PIL.Image.open`` with a wrapper that tries to
    pip-install ``pi-heif`` whenever Pillow cannot identify a file; a text file named
    ``.png`` must be a one-line skip, not an install attempt (or, offline, an exception).
    """
    from PIL import Image
    from ultralytics.utils import patches

    return getattr(patches, "_image_open", Image.open)(path)


def yolo_class() -> type:
    """``ultralytics.YOLO`` (the model wrapper yololens loads checkpoints and yamls with)."""
    from ultralytics import YOLO

    return YOLO


#: ``YOLOLENS_TRUST_MODEL=1``: load checkpoints the old way (a full pickle: the file's code runs), for checkpoints
#: with layers outside Ultralytics' allow-list. Off: ``torch.load(weights_only=True)`` against that allow-list.
TRUST_MODEL_ENV = "YOLOLENS_TRUST_MODEL"


@contextmanager
def safe_checkpoint_load():
    """Load ``.pt`` files inside this with Ultralytics' restricted loader (``ULTRALYTICS_SAFE_LOAD``:
    ``weights_only=True`` plus its allow-list of known model classes), so a checkpoint cannot run code, unless
    ``$YOLOLENS_TRUST_MODEL`` is set. Yields whether the load is restricted."""
    import os

    from ultralytics.nn import tasks

    safe = os.environ.get(TRUST_MODEL_ENV, "") in ("", "0") and tasks._SafeLoad.SUPPORTED
    previous = tasks.SAFE_LOAD
    tasks.SAFE_LOAD = safe or previous  # read at call time by torch_safe_load and the model builder
    try:
        yield safe
    finally:
        tasks.SAFE_LOAD = previous


def assets_dir() -> Path:
    """The folder of sample images that ships with Ultralytics (``bus.jpg``, ``zidane.jpg``)."""
    from ultralytics.utils import ASSETS

    return Path(ASSETS)


def datasets_dir() -> Path:
    """Ultralytics' ``DATASETS_DIR`` setting: where a ``data.yaml``'s relative ``path`` may point."""
    from ultralytics.utils import DATASETS_DIR

    return Path(DATASETS_DIR)


class _NoPrototypes(torch.nn.Module):
    """Stands in for a seg head's ``proto`` branch: ``(B, nm, 0, 0)`` instead of the prototypes.

    The detections (boxes, scores, classes and mask coefficients) come from the head's other branches, so they
    are the same bit for bit; only the prototypes are not computed (about a fifth of a YOLOv8n-seg forward).
    """

    def __init__(self, nm: int):
        super().__init__()
        self.nm = nm

    def forward(self, x):
        ref = x[0] if isinstance(x, (list, tuple)) else x
        return ref.new_zeros((ref.shape[0], self.nm, 0, 0))


@contextmanager
def prototypes_skipped(net: torch.nn.Module, skip: bool = True):
    """While inside, ``net``'s seg head computes no prototypes (:class:`_NoPrototypes`); restored on exit.
    A no-op for detect models or ``skip=False``."""
    head = net.model[-1]
    proto = getattr(head, "proto", None)
    if not skip or proto is None:
        yield
        return
    head.proto = _NoPrototypes(int(getattr(head, "nm", 32)))
    try:
        yield
    finally:
        head.proto = proto


def forward_to(net: torch.nn.Module, x: torch.Tensor, last: int) -> torch.Tensor:
    """``BaseModel._predict_once`` stopped after layer ``last``: layer ``last``'s output.

    The same modules run on the same inputs in the same order as the full forward, so every layer up to
    ``last`` (and any forward hook on it) sees bitwise the same tensors; the layers after it (the rest of the
    neck, the head, its anchors) are simply not run. For jobs that need no head output (``extract --boxes
    gt``, ``maps`` without the prototypes).
    """
    y = []
    for m in net.model:
        if m.f != -1:  # input from earlier layers, exactly as _predict_once gathers it
            x = y[m.f] if isinstance(m.f, int) else [x if j == -1 else y[j] for j in m.f]
        x = m(x)
        if m.i == last:
            return x
        y.append(x if m.i in net.save else None)
    raise ValueError(f"layer {last} is not in this model ({len(net.model)} layers)")


class ExportNet(torch.nn.Module):
    """``net`` with flat tensor outputs, for compiling by another runtime (OpenVINO).

    ``forward(x)`` returns ``(preds, protos?, *features)``: ``preds`` is the tensor Ultralytics'
    NMS reads (``(B, 4 + nc + nm, N)``; for end-to-end heads ``(B, N, 4 + nc + nm)`` *before* the
    head's top-k, which :func:`head_output` applies in torch), the seg prototypes ``(B, nm, h, w)``
    when ``task == "segment"`` and ``protos``, then the outputs of ``layers`` in that order, ``(B, C, H, W)``.
    ``protos=False``: the prototype branch is not in the graph at all (see :func:`prototypes_skipped`).
    ``cut``: the graph ends at layer ``cut`` (:func:`forward_to`) and returns only ``layers``' outputs.
    Build it on a private copy of the net: :meth:`prepare` changes head attributes.
    """

    def __init__(self, net: torch.nn.Module, task: str, layers: list[int], protos: bool = True,
                 cut: int | None = None):
        super().__init__()
        self.net, self.task, self.layers, self.cut = net, task, list(layers), cut
        self.protos = protos and task == Task.SEGMENT and cut is None

    def prepare(self) -> "ExportNet":
        head = self.net.model[-1]
        head.dynamic = True  # anchors computed in the graph, so any input H, W works
        if getattr(head, "end2end", False):
            head.postprocess = lambda preds: preds  # top-k stays in torch (k depends on max_det, set per run)
        self.net = self.net.float().to(memory_format=torch.contiguous_format).eval()
        return self

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        from yololens.model.hooks import FeatureCapture

        if self.cut is not None:
            with FeatureCapture(self.net.model, self.layers) as capture:
                forward_to(self.net, x, self.cut)
            return tuple(capture.features[i] for i in self.layers)
        with FeatureCapture(self.net.model, self.layers) as capture, prototypes_skipped(self.net, not self.protos):
            output = self.net(x)
        preds, protos = split_head_output(output, self.task)
        preds = preds[0] if isinstance(preds, (list, tuple)) else preds
        extra = (protos,) if self.protos else ()
        return (preds, *extra, *(capture.features[i] for i in self.layers))


def head_output(net: torch.nn.Module, preds: torch.Tensor, protos: torch.Tensor | None, task: str):
    """Rebuild the eval-mode output structure of ``net`` from :class:`ExportNet`'s tensors.

    The result feeds :func:`split_head_output` and :func:`non_max_suppression` exactly as the
    torch model's own output does (``(preds, raw)`` for detect, ``((preds, protos), raw)`` for seg;
    the raw per-level dict, which neither reads, is ``None``).
    """
    head = net.model[-1]
    if getattr(head, "end2end", False):
        preds = head.postprocess(preds)
    return ((preds, protos), None) if task == Task.SEGMENT else (preds, None)
