"""How far a reduced precision (bf16, int8) moves a run from the f32 one: the tolerance of ``--precision``.

Two numbers, per image pair accumulated over a run (docs/PRECISION.md):

* **detections kept**: of the f32 run's *confident* detections (score >= ``conf``), the share that the other run
  also has: a detection of the same class with IoU >= ``iou`` (any of them; no one-to-one assignment).
* **embedding cosine**: for each confident f32 detection, the cosine between the two runs' box embeddings
  (RoIAlign of each run's own feature map over the same f32 box), per layer; summarised by its median and
  1st percentile.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CONFIDENT = 0.5  # score of the f32 detections the share is taken over
KEPT_IOU = 0.9


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of ``(n, 4)`` and ``(m, 4)`` xyxy boxes: ``(n, m)``."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).clip(0).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).clip(0).prod(-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def kept_mask(ref_boxes, ref_classes, boxes, classes, iou: float = KEPT_IOU) -> np.ndarray:
    """``(n,)`` bool: whether each reference detection has a same-class detection at IoU >= ``iou``."""
    ref_classes, classes = np.asarray(ref_classes).reshape(-1), np.asarray(classes).reshape(-1)
    if len(ref_classes) == 0:
        return np.zeros(0, bool)
    if len(classes) == 0:
        return np.zeros(len(ref_classes), bool)
    same = ref_classes[:, None] == classes[None, :]
    return ((box_iou(ref_boxes, boxes) >= iou) & same).any(1)


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two ``(n, C)`` arrays (a zero row against anything: 0)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.where(norms > 0, (a * b).sum(1) / np.where(norms > 0, norms, 1), 0.0)


@dataclass
class Agreement:
    """Accumulates :func:`kept_mask` and :func:`cosine_rows` over a run's images (``add``), then summarises."""

    conf: float = CONFIDENT
    iou: float = KEPT_IOU
    kept: int = 0
    confident: int = 0
    cosines: dict = field(default_factory=dict)  # layer -> list of arrays

    def add(self, ref_boxes, ref_scores, ref_classes, boxes, classes) -> np.ndarray:
        """One image's detections (reference = f32); returns the mask of its confident reference detections."""
        confident = np.asarray(ref_scores) >= self.conf
        mask = kept_mask(np.asarray(ref_boxes)[confident], np.asarray(ref_classes)[confident], boxes, classes,
                         self.iou)
        self.kept += int(mask.sum())
        self.confident += int(confident.sum())
        return confident

    def add_embeddings(self, layer, ref: np.ndarray, other: np.ndarray) -> None:
        self.cosines.setdefault(layer, []).append(cosine_rows(ref, other))

    @property
    def kept_share(self) -> float:
        return self.kept / self.confident if self.confident else float("nan")

    def cosine_summary(self) -> dict:
        """layer -> ``{"median", "p1", "n"}`` of the embedding cosines."""
        out = {}
        for layer, parts in self.cosines.items():
            values = np.concatenate(parts) if parts else np.zeros(0)
            out[layer] = {"median": float(np.median(values)) if len(values) else float("nan"),
                          "p1": float(np.percentile(values, 1)) if len(values) else float("nan"), "n": len(values)}
        return out


def compare_runs(reference, other, images, layers, agreement: Agreement | None = None) -> Agreement:
    """Run two :class:`~yololens.engine.runner.Runner`\\ s (``reference``: f32) on each BGR image (batch 1) and
    accumulate their :class:`Agreement` (embeddings of the confident reference boxes at ``layers``)."""
    import torch

    from yololens.engine.pooling import clip_to_content, pool_boxes

    agreement = agreement or Agreement()
    for image in images:
        a, b = reference.run([image]).images[0], other.run([image]).images[0]
        da, db = a.detections, b.detections
        confident = agreement.add(da.boxes, da.scores, da.class_ids, db.boxes, db.class_ids)
        if not confident.any():
            continue
        boxes = [clip_to_content(da.boxes_lb[torch.from_numpy(confident)], a.letterbox.content)]
        shape = a.letterbox.input_shape
        for layer in layers:
            ea = pool_boxes(a.features[layer][None].float(), boxes, shape)
            eb = pool_boxes(b.features[layer][None].float(), boxes, shape)
            agreement.add_embeddings(layer, ea.numpy(), eb.numpy())
    return agreement
