"""One image's object rows as :class:`~yololens.objects.Objects`: label boxes first, then predictions.

What the extract job used to build row by row as dicts (``_add_image``), now column by column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from yololens.engine.matching import ClassMap, match
from yololens.engine.runner import ImageResult
from yololens.objects import MISSING, Objects
from yololens.sources.records import ImageRecord
from yololens.types import BoxMode, Origin


@dataclass(frozen=True)
class ObjectBuilder:
    """Turns an image's forward pass and pooled embeddings into its object rows.

    Attributes:
        names: model class id -> name.
        boxes: which boxes are rows (:class:`BoxMode`).
        match_iou: IoU threshold of the TP/FP/FN match; ``class_map``: which label class matches which model class.
        class_index: label category -> its index (the gt rows' ``class_id``).
    """

    names: dict[int, str]
    boxes: BoxMode
    match_iou: float
    class_map: ClassMap
    class_index: dict[str, int]

    def labels(self, record: ImageRecord) -> list:
        """The label boxes that are rows of this image (emitted first)."""
        return list(record.labels or []) if self.boxes in (BoxMode.GT, BoxMode.BOTH) else []

    def build(self, record: ImageRecord, res: ImageResult, boxes_orig: np.ndarray,
              emb: dict[str, np.ndarray]) -> Objects:
        """The image's rows; ``boxes_orig`` ``(n, 4)`` original pixels in emission order, ``emb`` column ->
        ``(n, C)`` (plus ``"mask_fallback"``: ``n`` notes, with mask pooling)."""
        labels = self.labels(record)
        dets = res.detections if self.boxes in (BoxMode.PRED, BoxMode.BOTH) else None
        n_gt, n_pred = len(labels), (len(dets) if dets is not None else 0)
        n = n_gt + n_pred
        h, w = res.image.shape[:2]
        objs = Objects.empty(n)
        objs.image = [record.name] * n
        objs.image_index = np.full(n, record.index, np.int64)
        objs.image_w, objs.image_h = np.full(n, w, np.int32), np.full(n, h, np.int32)
        objs.boxes = np.asarray(boxes_orig, np.float32).reshape(n, 4)
        objs.video = [record.video] * n
        objs.frame_index = np.full(n, MISSING if record.frame_index is None else record.frame_index, np.int32)
        pred_names = [self.names[int(c)] for c in dets.class_ids] if n_pred else []
        objs.origin = [Origin.GT] * n_gt + [Origin.PRED] * n_pred
        objs.class_id[:n_gt] = [self.class_index.get(lab.category, MISSING) for lab in labels]
        objs.class_name = [lab.category for lab in labels] + pred_names
        objs.gt_id[:n_gt] = [lab.gt_id for lab in labels]
        objs.track_id[:n_gt] = [lab.track_id for lab in labels]
        if n_pred:
            objs.class_id[n_gt:] = dets.class_ids
            objs.score[n_gt:] = dets.scores
        self._match(objs, record, dets, pred_names, n_gt)
        objs.attributes = _attributes(record, labels, n_pred)
        objs.embeddings = {name: np.asarray(v, np.float32) for name, v in emb.items()  # (n, C) each
                           if name != "mask_fallback"}
        if "mask_fallback" in emb:
            objs.mask_fallback = list(emb["mask_fallback"])
        if n_pred and dets.coefs is not None:
            coefs = np.zeros((n, dets.coefs.shape[1]), np.float32)
            coefs[n_gt:] = dets.coefs.float().cpu().numpy()
            objs.embeddings["emb_coef"] = coefs
            objs.missing["emb_coef"] = np.arange(n) < n_gt
        return objs

    def _match(self, objs: Objects, record: ImageRecord, dets, pred_names: list[str], n_gt: int) -> None:
        """TP/FP/FN status, match IoU, and the matched gt's id and track on pred rows (labelled sources)."""
        if record.labels is None or dets is None:
            return
        gt_all = np.array([lab.box for lab in record.labels], dtype=np.float64).reshape(-1, 4)
        m = match(dets.boxes, dets.scores, pred_names, gt_all, [lab.category for lab in record.labels],
                  self.match_iou, self.class_map)
        for k in range(n_gt):
            j = m.gt_to_pred[k]
            objs.status[k] = "TP" if j >= 0 else "FN"
            objs.match_iou[k] = m.iou[j] if j >= 0 else np.nan
        for p, j in enumerate(m.pred_to_gt.tolist()):
            k = n_gt + p
            objs.status[k] = "TP" if j >= 0 else "FP"
            objs.match_iou[k] = m.iou[p] if j >= 0 else np.nan
            objs.gt_id[k] = record.labels[j].gt_id if j >= 0 else None
            objs.track_id[k] = record.labels[j].track_id if j >= 0 else None


def _attributes(record: ImageRecord, labels: list, n_pred: int) -> dict[str, list]:
    """Attribute name -> one value per row: the frame's attributes, a gt row's label attributes over them."""
    rows = [{**record.attributes, **lab.attributes} for lab in labels] + [dict(record.attributes)] * n_pred
    names = dict.fromkeys(k for row in rows for k in row)
    return {k: [row.get(k) for row in rows] for k in names}
