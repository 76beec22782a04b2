"""Label-error suspects from the detector's own predictions (``--boxes both`` runs: gt and pred rows, matched).

Three kinds (:class:`yololens.types.SuspectKind`), each from one image's boxes:

* ``swap``: a confident prediction (``score >= conf``) of *another* class covers a gt box (IoU >= ``swap_iou``);
  "another" goes through the run's class map (label ``pedestrian`` and model ``person`` are the same class).
  The row is the gt object; score = that prediction's confidence; ``suggested`` = its class (model vocabulary).
* ``missing``: a confident prediction that overlaps no gt box (max IoU < ``missing_iou``): a possibly
  unlabelled object. The row is the prediction (``label`` is empty); score = its confidence.
* ``box``: a gt box matched (TP) by a confident prediction with IoU < ``box_iou``: the box may be loose or
  shifted. Score = ``1 - IoU``.

Scores are comparable within a kind, not across kinds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from yololens.types import SuspectKind

CONF = 0.5
SWAP_IOU = 0.5
MISSING_IOU = 0.1
BOX_IOU = 0.7
NEEDED = ("image", "origin", "object_id", "x1", "y1", "x2", "y2", "class_name", "score", "status", "gt_id",
          "match_iou")


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(len(a), len(b))`` IoU of ``x1, y1, x2, y2`` boxes ``a`` ``(n, 4)`` and ``b`` ``(m, 4)``."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: np.prod(np.clip(x[:, 2:] - x[:, :2], 0, None), axis=1)  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def detector_suspects(meta: pd.DataFrame, class_map=None, *, conf: float = CONF,
                      swap_iou: float = SWAP_IOU, missing_iou: float = MISSING_IOU,
                      box_iou_max: float = BOX_IOU) -> pd.DataFrame:
    """Rows ``object_id, label, suggested, score, margin, kind`` (see the module docstring) from a table with the
    :data:`NEEDED` columns; empty when it has no pred rows or no gt rows."""
    cols = ["object_id", "label", "suggested", "score", "margin", "kind"]
    if not set(NEEDED) <= set(meta.columns) or not {"gt", "pred"} <= set(meta["origin"].dropna()):
        return pd.DataFrame(columns=cols)
    from yololens.engine.matching import ClassMap, normalise_name  # torch: only for tables with predictions

    cmap = class_map or ClassMap({})
    rows: list[tuple] = []
    boxes = meta[["x1", "y1", "x2", "y2"]].to_numpy(np.float64)
    is_gt = (meta["origin"] == "gt").to_numpy()
    score = meta["score"].to_numpy(np.float64)
    names = meta["class_name"].astype(object).to_numpy()
    oid = meta["object_id"].astype(str).to_numpy()
    model_of = {n: cmap.model_name(n) for n in pd.unique(names[is_gt])}
    confident = ~is_gt & (np.nan_to_num(score) >= conf)
    for _, idx in meta.groupby("image", sort=False).indices.items():
        g, p = idx[is_gt[idx]], idx[confident[idx]]
        if not len(p):
            continue
        iou = box_iou(boxes[g], boxes[p]) if len(g) else np.zeros((0, len(p)))
        for j, pj in enumerate(p):  # missing: overlaps no label at all
            if not len(g) or iou[:, j].max() < missing_iou:
                rows.append((oid[pj], None, names[pj], score[pj], np.nan, SuspectKind.MISSING.value))
        for i, gi in enumerate(g):  # swap: the best confident other-class prediction on the box
            other = np.array([model_of[names[gi]] != normalise_name(names[pj]) for pj in p]) & (iou[i] >= swap_iou)
            if other.any():
                j = int(np.argmax(np.where(other, score[p], -1)))
                rows.append((oid[gi], names[gi], names[p[j]], score[p[j]], np.nan, SuspectKind.SWAP.value))
    # box: TP gt rows whose confident partner overlaps loosely (gt rows carry the partner's IoU)
    status = meta["status"].astype(object).to_numpy()
    partner_conf = _partner_confidence(meta)
    loose = is_gt & (status == "TP") & (meta["match_iou"].to_numpy(np.float64) < box_iou_max) & (partner_conf >= conf)
    for i in np.flatnonzero(loose):
        rows.append((oid[i], names[i], names[i], 1.0 - float(meta["match_iou"].iat[i]), np.nan, SuspectKind.BOX.value))
    out = pd.DataFrame(rows, columns=cols)
    out["score"] = out["score"].astype(np.float32)
    return out


def _partner_confidence(meta: pd.DataFrame) -> np.ndarray:
    """``(N,)``: for each TP gt row, the confidence of the pred row matched to it (same image and ``gt_id``); NaN else."""
    pred = meta[(meta["origin"] == "pred") & (meta["status"] == "TP") & meta["gt_id"].notna()]
    best = pred.groupby(["image", "gt_id"], sort=False)["score"].max()
    key = pd.MultiIndex.from_arrays([meta["image"], meta["gt_id"]])
    return best.reindex(key).to_numpy(np.float64)


def detector_confidence(meta: pd.DataFrame, labels: np.ndarray, class_map=None) -> np.ndarray:
    """The "detector confidence" baseline ``(n_gt,)`` for the gt rows of ``meta`` labelled ``labels`` (names):
    ``1 - confidence of the detector in the given label``, i.e. one minus the matched prediction's confidence when
    its class is the given label's (through the class map), else 1 (unmatched, or matched as another class)."""
    from yololens.engine.matching import ClassMap, normalise_name

    cmap = class_map or ClassMap({})
    gt = (meta["origin"] == "gt").to_numpy()
    conf = np.nan_to_num(_partner_confidence(meta)[gt], nan=0.0)
    if "pred_class" in meta:
        pred_class = meta.loc[gt, "pred_class"].astype(object).to_numpy()
    else:
        pred_class = _partner_class(meta)[gt]
    same = np.array([pc is not None and cmap.model_name(lab) == normalise_name(pc)
                     for lab, pc in zip(labels, pred_class)], dtype=bool)
    return np.where(same, 1.0 - conf, 1.0)


def _partner_class(meta: pd.DataFrame) -> np.ndarray:
    """``(N,)`` object: the class name of the pred row matched to each TP gt row; None else."""
    pred = meta[(meta["origin"] == "pred") & (meta["status"] == "TP") & meta["gt_id"].notna()]
    first = pred.sort_values("score", ascending=False).drop_duplicates(["image", "gt_id"])
    lookup = first.set_index(["image", "gt_id"])["class_name"]
    key = pd.MultiIndex.from_arrays([meta["image"], meta["gt_id"]])
    return lookup.reindex(key).astype(object).where(lambda s: s.notna(), None).to_numpy()
