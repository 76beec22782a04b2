"""One forward pass per batch: letterbox, hooked layers, NMS, prototypes.

:class:`Runner` is what every command (extract, maps, protos, coefficients) builds on,
so each gets the same letterbox, the same fused weights and the same NMS as
Ultralytics' own predictor.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from yololens.engine.backends import Backend, ComputeBackend, create_backend
from yololens.engine.calibration import CalibrationSet
from yololens.model import ultra
from yololens.model.catalogue import PROTO
from yololens.model.loading import LoadedModel
from yololens.model.ultra import LetterboxInfo
from yololens.types import Task


@dataclass
class Detections:
    """Predictions for one image, in Ultralytics' order (after NMS).

    Attributes:
        boxes_lb: ``(n, 4)`` xyxy in letterboxed input pixels, as NMS returned them.
        boxes: ``(n, 4)`` xyxy in original pixels (``scale_boxes``, clipped), float32.
        scores: ``(n,)`` float32 confidences.
        class_ids: ``(n,)`` int64 model class ids.
        coefs: ``(n, nm)`` mask coefficients for seg models, else ``None``.
    """

    boxes_lb: torch.Tensor
    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    coefs: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.scores)


@dataclass
class ImageResult:
    """Everything one forward pass gives about one image.

    Attributes:
        image: the original BGR image ``(h0, w0, 3)``.
        letterbox: maps letterboxed <-> original pixels.
        features: layer -> ``(C, H, W)`` activations for this image (letterboxed space;
            views into the batch tensor). ``"proto"`` holds the seg prototypes ``(nm, h, w)``.
        detections: predictions, or ``None`` when the runner was built with ``predict=False``.
    """

    image: np.ndarray
    letterbox: LetterboxInfo
    features: dict[int | str, torch.Tensor] = field(default_factory=dict)
    detections: Detections | None = None

    @property
    def protos(self) -> torch.Tensor | None:
        return self.features.get(PROTO)


@dataclass
class BatchResult:
    """A batch's input tensor shape, its per-layer feature maps and per-image results."""

    input_shape: tuple[int, int]
    features: dict[int | str, torch.Tensor]
    images: list[ImageResult]


class Runner:
    """Run ``model`` on batches of BGR images, capturing ``layers`` in the same pass.

    Args:
        model: a :class:`LoadedModel`.
        layers: layer indices to capture (and ``"proto"`` for seg prototypes).
        imgsz: inference size; rounded up to a stride multiple like Ultralytics does.
        conf, iou, max_det: NMS settings (Ultralytics' predict defaults: 0.25, 0.7, 300).
        predict: run NMS and return detections (``False`` skips it, e.g. for ground-truth boxes).
        rect: minimal-padding letterbox when a batch's images share a shape (Ultralytics' default).
        backend: what runs the network (``torch``: bitwise Ultralytics predict; ``openvino``;
            ``auto``), see :mod:`yololens.engine.backends`.
        half: with the OpenVINO backend, bf16 compute where the CPU has it (torch fp16 is
            ``load_model(half=True)``).
        threads: inference threads (0: the backend's default).
        calibration: ``--precision int8`` (OpenVINO): the :class:`CalibrationSet` the model is quantized on,
            letterboxed as this runner letterboxes (batch 1).
        protos: compute a seg model's prototypes (``None``: when ``"proto"`` is in ``layers`` or ``predict``;
            ``False`` skips the branch, e.g. for ``extract --pool box``, which uses no masks; ``"proto"`` in
            ``layers`` always computes them). Detections are the same either way.

    When nothing of the head is needed (``predict=False`` and no prototypes), the backend runs the network only
    up to the deepest hooked layer (``self.cut``): the features are those of the full forward (bitwise with
    torch), the rest of the neck and the head are not computed.
    """

    def __init__(self, model: LoadedModel, layers: list[int | str] = (), imgsz: int | tuple[int, int] = 640,
                 conf: float = 0.25, iou: float = 0.7, max_det: int = 300, predict: bool = True,
                 rect: bool = True, classes: list[int] | None = None, backend: Backend | str = Backend.TORCH,
                 half: bool = False, threads: int = 0, protos: bool | None = None,
                 calibration: CalibrationSet | None = None):
        self.model = model
        self.layers = list(layers)
        self.imgsz = ultra.check_imgsz(imgsz, model.stride)
        self.conf, self.iou, self.max_det = conf, iou, max_det
        self.predict = predict
        self.rect = rect
        self.classes = classes
        self._hooked = [layer for layer in self.layers if layer != PROTO]
        self._want_protos = model.task == Task.SEGMENT and (PROTO in self.layers or (predict if protos is None
                                                                                   else protos))
        if model.end2end:
            # Class filtering needs candidates before max_det truncation (as Ultralytics' predictor does).
            model.net.set_head_attr(max_det=max(max_det, 300), agnostic_nms=False)
        if predict:
            ultra.nms_as_predict()
        needs_head = predict or self._want_protos or not self._hooked
        self.cut: int | None = None if needs_head else max(self._hooked)
        self.backend: ComputeBackend = create_backend(model, self._hooked, backend, half=half, threads=threads,
                                                      imgsz=self.imgsz, protos=self._want_protos, cut=self.cut,
                                                      calibration=None if calibration is None
                                                      else (calibration, self._calibration_input))

    def letterbox(self, images: list[np.ndarray]) -> list[np.ndarray]:
        return ultra.letterbox_batch(images, self.imgsz, self.model.stride, rect=self.rect)

    def _calibration_input(self, image: np.ndarray) -> np.ndarray:
        """One BGR image as the network gets it at batch 1: ``(1, 3, H, W)`` float32."""
        return ultra.to_input_tensor(self.letterbox([image]), torch.device("cpu"), False).numpy()

    @torch.inference_mode()
    def run(self, images: list[np.ndarray]) -> BatchResult:
        """Forward ``images`` (original BGR uint8 arrays) as one batch."""
        lb_images = self.letterbox(images)
        x = ultra.to_input_tensor(lb_images, self.model.device, self.model.half)
        input_shape = (int(x.shape[2]), int(x.shape[3]))
        output, hooked = self.backend.forward(x)
        features: dict[int | str, torch.Tensor] = dict(hooked)
        preds, protos = (None, None) if output is None else ultra.split_head_output(output, self.model.task)
        if protos is not None and self._want_protos:
            features[PROTO] = protos
        infos = [LetterboxInfo.compute(input_shape, im.shape[:2]) for im in images]
        per_image_dets = self._detections(preds, infos) if self.predict else [None] * len(images)
        results = [
            ImageResult(image=im, letterbox=info, features={k: v[b] for k, v in features.items()}, detections=dets)
            for b, (im, info, dets) in enumerate(zip(images, infos, per_image_dets))
        ]
        return BatchResult(input_shape, features, results)

    def _detections(self, preds, infos: list[LetterboxInfo]) -> list[Detections]:
        nc = 0 if self.model.task == "detect" else self.model.nc
        out = ultra.non_max_suppression(preds, self.conf, self.iou, self.max_det, nc, self.model.end2end, self.classes)
        dets = []
        for pred, info in zip(out, infos):
            boxes_lb = pred[:, :4].float()
            dets.append(Detections(
                boxes_lb=boxes_lb,
                boxes=info.to_original(boxes_lb).cpu().numpy().astype(np.float32),
                scores=pred[:, 4].float().cpu().numpy(),
                class_ids=pred[:, 5].long().cpu().numpy(),
                coefs=pred[:, 6:] if self.model.task == Task.SEGMENT else None,
            ))
        return dets
