"""Match predictions to ground truth by IoU (greedy by score, class-aware)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchvision.ops import box_iou

# Label taxonomies differ from the model's (BDD says "pedestrian", COCO says "person").
CLASS_ALIASES = {"pedestrian": "person", "rider": "person", "motor": "motorcycle", "motorbike": "motorcycle",
                 "bike": "bicycle"}


def canonical_class(name: str | None) -> str:
    name = (name or "").strip().lower().replace("_", " ")
    return CLASS_ALIASES.get(name, name)


@dataclass(frozen=True)
class MatchResult:
    """For ``P`` predictions and ``G`` ground-truth boxes.

    Attributes:
        pred_to_gt: ``(P,)`` index of the matched gt, or -1.
        gt_to_pred: ``(G,)`` index of the matched prediction, or -1.
        iou: ``(P,)`` IoU with the matched gt (NaN when unmatched).
    """

    pred_to_gt: np.ndarray
    gt_to_pred: np.ndarray
    iou: np.ndarray


def match(pred_boxes: np.ndarray, pred_scores: np.ndarray, pred_classes: list[str],
          gt_boxes: np.ndarray, gt_classes: list[str], iou_threshold: float = 0.5) -> MatchResult:
    """Greedy matching, highest score first, each gt used once, same (canonical) class only.

    Boxes are ``(n, 4)`` xyxy in the same pixel space (original pixels).
    """
    p, g = len(pred_boxes), len(gt_boxes)
    pred_to_gt = np.full(p, -1, dtype=np.int64)
    gt_to_pred = np.full(g, -1, dtype=np.int64)
    ious = np.full(p, np.nan, dtype=np.float32)
    if p == 0 or g == 0:
        return MatchResult(pred_to_gt, gt_to_pred, ious)
    iou = box_iou(torch.as_tensor(pred_boxes, dtype=torch.float64), torch.as_tensor(gt_boxes, dtype=torch.float64)).numpy()
    same = np.array([[canonical_class(a) == canonical_class(b) for b in gt_classes] for a in pred_classes])
    iou = np.where(same, iou, -1.0)
    for i in np.argsort(-np.asarray(pred_scores), kind="stable"):
        candidates = np.where(gt_to_pred < 0, iou[i], -1.0)
        j = int(np.argmax(candidates))
        if candidates[j] >= iou_threshold:
            pred_to_gt[i], gt_to_pred[j], ious[i] = j, i, candidates[j]
    return MatchResult(pred_to_gt, gt_to_pred, ious)
