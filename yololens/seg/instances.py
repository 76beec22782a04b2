"""Seg instances aligned exactly with Ultralytics' ``Results``.

``SegmentationPredictor.construct_result`` computes each NMS detection's mask and then
drops the detections whose mask is empty (``masks.amax((-2, -1)) > 0``). So ``Results``
index ``i`` is not NMS index ``i`` whenever a mask came out empty. :func:`align_instances`
applies the same masks and the same filter and keeps the mapping back to NMS order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from yololens.engine.runner import Detections, ImageResult
from yololens.model import ultra
from yololens.model.ultra import LetterboxInfo


@dataclass
class SegInstances:
    """One image's instances, in the count and order of Ultralytics' ``Results``.

    Attributes:
        nms_index: ``(n,)`` int64: each instance's row in :class:`Detections` (NMS order).
        boxes: ``(n, 4)`` float32 xyxy in original pixels (``Results.boxes.xyxy``).
        boxes_lb: ``(n, 4)`` float32 tensor, xyxy in letterboxed input pixels.
        scores: ``(n,)`` float32 confidences.
        class_ids: ``(n,)`` int64 model class ids.
        coefs: ``(n, nm)`` float32 tensor of mask coefficients.
        masks: ``(n, H, W)`` uint8 tensor, Ultralytics' final masks (``Results.masks.data``):
            letterboxed input size ``(H, W) = letterbox.input_shape`` on the default path,
            original size ``letterbox.orig_shape`` with ``retina_masks``.
        retina_masks: which of the two paths ``masks`` follows.
        letterbox: maps letterboxed <-> original pixels.
    """

    nms_index: np.ndarray
    boxes: np.ndarray
    boxes_lb: torch.Tensor
    scores: np.ndarray
    class_ids: np.ndarray
    coefs: torch.Tensor
    masks: torch.Tensor
    retina_masks: bool
    letterbox: LetterboxInfo

    def __len__(self) -> int:
        return len(self.nms_index)

    @property
    def mask_space(self) -> str:
        """``"original"`` (retina) or ``"letterboxed"`` pixels: the grid ``masks`` lives on."""
        return "original" if self.retina_masks else "letterboxed"

    def mask_areas(self) -> np.ndarray:
        """``(n,)`` int64 pixel counts of ``masks`` (in :attr:`mask_space` pixels)."""
        return self.masks.sum((1, 2), dtype=torch.int64).cpu().numpy()


def final_masks(protos: torch.Tensor, coefs: torch.Tensor, boxes_lb: torch.Tensor, letterbox: LetterboxInfo,
                retina_masks: bool) -> torch.Tensor:
    """Ultralytics' final ``(n, H, W)`` uint8 masks for the given detections, before its empty-mask filter.

    Exactly ``construct_result``'s calls: ``process_mask(..., upsample=True)`` at the
    letterboxed input size, or ``process_mask_native`` with the boxes scaled to original
    pixels (``scale_boxes``) when ``retina_masks``.
    """
    if retina_masks:
        return ultra.process_mask_native(protos, coefs, letterbox.to_original(boxes_lb), letterbox.orig_shape)
    return ultra.process_mask(protos, coefs, boxes_lb, letterbox.input_shape)


def align_instances(detections: Detections, protos: torch.Tensor, letterbox: LetterboxInfo,
                    retina_masks: bool = False) -> SegInstances:
    """Detections + prototypes ``(nm, h, w)`` of one image -> :class:`SegInstances` aligned with ``Results``."""
    if detections.coefs is None:
        raise ValueError("detections carry no mask coefficients (not a seg model)")
    masks = final_masks(protos, detections.coefs, detections.boxes_lb, letterbox, retina_masks)
    # Ultralytics only filters when there is at least one detection; the filter itself is a no-op then.
    keep = (masks.amax((-2, -1)) > 0) if len(masks) else torch.zeros(0, dtype=torch.bool)
    idx = torch.nonzero(keep.cpu(), as_tuple=False).flatten()
    idx_np = idx.numpy().astype(np.int64)
    return SegInstances(
        nms_index=idx_np,
        boxes=detections.boxes[idx_np],
        boxes_lb=detections.boxes_lb[idx.to(detections.boxes_lb.device)].float(),
        scores=detections.scores[idx_np],
        class_ids=detections.class_ids[idx_np],
        coefs=detections.coefs[idx.to(detections.coefs.device)].float(),
        masks=masks[keep],
        retina_masks=retina_masks,
        letterbox=letterbox,
    )


def instances_of(result: ImageResult, retina_masks: bool = False) -> SegInstances:
    """:func:`align_instances` for one :class:`ImageResult` of a seg :class:`Runner`."""
    if result.detections is None or result.protos is None:
        raise ValueError("this ImageResult has no detections or prototypes (Runner(predict=True) on a seg model?)")
    return align_instances(result.detections, result.protos, result.letterbox, retina_masks)


def coefficient_vectors(detections: Detections) -> np.ndarray:
    """``(n, nm)`` float32 mask coefficients per predicted object, in Runner's (NMS) order.

    This is ``Detections.coefs`` as numpy; NMS order includes instances that Ultralytics'
    ``Results`` drop for an empty mask (use :func:`align_instances` for ``Results`` order).
    """
    if detections.coefs is None:
        raise ValueError("detections carry no mask coefficients (not a seg model)")
    return detections.coefs.float().cpu().numpy()


def original_areas(instances: SegInstances, protos: torch.Tensor) -> np.ndarray:
    """``(n,)`` int64 pixel counts of each instance's mask at original resolution.

    Exactly ``Results.masks.data[i].sum()`` with ``retina_masks=True`` (``process_mask_native``),
    whichever path ``instances`` follows; reuses ``instances.masks`` when they are retina masks.
    """
    if len(instances) == 0:
        return np.zeros(0, dtype=np.int64)
    if instances.retina_masks:
        return instances.mask_areas()
    masks = final_masks(protos, instances.coefs, instances.boxes_lb, instances.letterbox, retina_masks=True)
    return masks.sum((1, 2), dtype=torch.int64).cpu().numpy()
