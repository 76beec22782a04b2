"""Prototype x coefficient decomposition of one instance mask.

A YOLO-seg head predicts ``nm`` prototypes ``P`` (``(nm, h, w)``, ``h, w`` = letterboxed
input / 4) per image and ``nm`` coefficients ``c`` per instance. The instance's mask
logit is ``sum_k c_k P_k``; Ultralytics keeps the pixels where it is > 0 (sigmoid > 0.5)
inside the box. :class:`MaskDecomposition` holds every intermediate at prototype
resolution plus Ultralytics' own final mask (:mod:`yololens.seg.instances`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from yololens.model.ultra import LetterboxInfo
from yololens.seg.instances import SegInstances


@dataclass(frozen=True)
class ProtoGrid:
    """Where the prototype grid sits on the letterboxed input.

    Attributes:
        shape: ``(h, w)`` of the prototype grid (cells).
        input_shape: ``(H, W)`` of the letterboxed input (pixels).
        rows, cols: ``(start, stop)`` cell ranges covering the original image (padding
            removed); computed as Ultralytics' ``scale_masks`` crops the padding.
    """

    shape: tuple[int, int]
    input_shape: tuple[int, int]
    rows: tuple[int, int]
    cols: tuple[int, int]

    @classmethod
    def compute(cls, proto_shape: tuple[int, int], letterbox: LetterboxInfo) -> "ProtoGrid":
        (h, w), (h0, w0) = proto_shape, letterbox.orig_shape
        gain = min(h / h0, w / w0)
        new_h, new_w = max(round(h0 * gain), 1), max(round(w0 * gain), 1)
        top, left = round((h - new_h) / 2 - 0.1), round((w - new_w) / 2 - 0.1)
        return cls((h, w), letterbox.input_shape, (top, top + new_h), (left, left + new_w))

    @property
    def stride(self) -> tuple[float, float]:
        """Letterboxed pixels per cell, ``(y, x)`` (4 for every Ultralytics seg head)."""
        return (self.input_shape[0] / self.shape[0], self.input_shape[1] / self.shape[1])

    def unletterbox(self, arr: np.ndarray) -> np.ndarray:
        """``(..., h, w)`` -> the original-image part ``(..., h', w')`` (padding cells removed)."""
        return arr[..., self.rows[0]:self.rows[1], self.cols[0]:self.cols[1]]

    def box_to_cells(self, box_lb: np.ndarray) -> np.ndarray:
        """Letterboxed-pixel xyxy -> cell xyxy, as ``process_mask(upsample=False)`` scales boxes."""
        sy, sx = self.stride
        return np.asarray(box_lb, dtype=np.float32) / np.array([sx, sy, sx, sy], dtype=np.float32)

    def box_region(self, box_lb: np.ndarray) -> np.ndarray:
        """``(h, w)`` bool: cells whose index lies in the box (``crop_mask``'s ``x1 <= col < x2`` rule)."""
        x1, y1, x2, y2 = self.box_to_cells(box_lb)
        cols, rows = np.arange(self.shape[1]), np.arange(self.shape[0])
        return ((rows >= y1) & (rows < y2))[:, None] & ((cols >= x1) & (cols < x2))[None, :]


@dataclass
class MaskDecomposition:
    """Every step from prototypes to the final mask, for one instance.

    Prototype-resolution arrays are on the full letterboxed grid ``(h, w)`` (padding
    included); :meth:`unletterbox` (or ``grid.unletterbox``) gives the original-image part.
    All float arrays are float32 numpy.

    Attributes:
        instance: index in Ultralytics' ``Results`` (after its empty-mask filter).
        nms_index: row in the NMS output / :class:`~yololens.engine.runner.Detections`.
        class_id, class_name, score: the prediction.
        box: ``(4,)`` xyxy in original pixels; ``box_lb``: the same in letterboxed pixels.
        grid: the prototype grid's placement on the input.
        prototypes: ``(nm, h, w)`` the image's prototypes ``P_k`` (unitless activations).
        coefficients: ``(nm,)`` this instance's ``c_k``.
        contributions: ``(nm, h, w)`` the signed terms ``c_k * P_k``.
        positive: ``(h, w)`` sum of the positive terms at each cell (>= 0).
        negative: ``(h, w)`` sum of the negative terms at each cell (<= 0).
        logit: ``(h, w)`` ``c @ P`` exactly as Ultralytics computes it (= positive + negative
            up to float rounding).
        sigmoid: ``(h, w)`` ``sigmoid(logit)``, the mask probability.
        crop: ``(h, w)`` bool, the box's cells.
        cropped: ``(h, w)`` ``sigmoid`` zeroed outside the box.
        mask_proto: ``(h, w)`` uint8, ``logit > 0`` inside the box, at prototype resolution.
        final_mask: ``(H, W)`` uint8, Ultralytics' mask (``Results.masks.data[instance]``):
            letterboxed input size, or original size when ``retina_masks``.
        retina_masks: which path ``final_mask`` follows.
    """

    instance: int
    nms_index: int
    class_id: int
    class_name: str
    score: float
    box: np.ndarray
    box_lb: np.ndarray
    grid: ProtoGrid
    prototypes: np.ndarray
    coefficients: np.ndarray
    contributions: np.ndarray
    positive: np.ndarray
    negative: np.ndarray
    logit: np.ndarray
    sigmoid: np.ndarray
    crop: np.ndarray
    cropped: np.ndarray
    mask_proto: np.ndarray
    final_mask: np.ndarray
    retina_masks: bool

    @property
    def nm(self) -> int:
        return len(self.coefficients)

    def unletterbox(self, arr: np.ndarray) -> np.ndarray:
        return self.grid.unletterbox(arr)

    def order(self, by: str = "abs") -> np.ndarray:
        """Prototype indices sorted by ``|c_k|`` descending (``"abs"``) or by index (``"index"``)."""
        if by == "index":
            return np.arange(self.nm)
        if by == "abs":
            return np.argsort(-np.abs(self.coefficients), kind="stable")
        raise ValueError(f"unknown order {by!r}; use 'abs' or 'index'")


def decompose(instances: SegInstances, protos: torch.Tensor, i: int,
              names: dict[int, str] | None = None) -> MaskDecomposition:
    """Decompose instance ``i`` (``Results`` index) of ``instances``; ``protos`` is ``(nm, h, w)``."""
    p = protos.float()
    nm, h, w = p.shape
    c = instances.coefs[i].float().to(p.device)
    contributions = c[:, None, None] * p
    logit = (c[None] @ p.view(nm, -1)).view(h, w)  # the same matmul as ultralytics' process_mask
    grid = ProtoGrid.compute((h, w), instances.letterbox)
    box_lb = instances.boxes_lb[i].cpu().numpy().astype(np.float32)
    crop = grid.box_region(box_lb)
    logit_np = logit.cpu().numpy()
    sigmoid = torch.sigmoid(logit).cpu().numpy()
    class_id = int(instances.class_ids[i])
    return MaskDecomposition(
        instance=i,
        nms_index=int(instances.nms_index[i]),
        class_id=class_id,
        class_name=(names or {}).get(class_id, str(class_id)),
        score=float(instances.scores[i]),
        box=instances.boxes[i].astype(np.float32),
        box_lb=box_lb,
        grid=grid,
        prototypes=p.cpu().numpy(),
        coefficients=c.cpu().numpy(),
        contributions=contributions.cpu().numpy(),
        positive=contributions.clamp(min=0).sum(0).cpu().numpy(),
        negative=contributions.clamp(max=0).sum(0).cpu().numpy(),
        logit=logit_np,
        sigmoid=sigmoid,
        crop=crop,
        cropped=np.where(crop, sigmoid, 0).astype(np.float32),
        mask_proto=((logit_np > 0) & crop).astype(np.uint8),
        final_mask=instances.masks[i].cpu().numpy(),
        retina_masks=instances.retina_masks,
    )
