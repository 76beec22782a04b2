"""Prototype ablation: how much each prototype matters to each instance's mask.

For instance ``i`` and prototype ``k``, zero ``c_k`` and compare the binary mask before
and after, at prototype resolution inside the box (the cells ``crop_mask`` keeps):
``drop_k = 1 - IoU(logit > 0, logit - c_k P_k > 0)``. Vectorised over ``k``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from yololens.seg.instances import SegInstances


def ablation_drops(instances: SegInstances, protos: torch.Tensor) -> np.ndarray:
    """``(n, nm)`` float32 mask-IoU drops (0 = no effect, 1 = the mask vanishes or is replaced).

    An instance whose prototype-resolution mask is empty both ways gets 0 for that ``k``.
    """
    p = protos.float()
    nm, h, w = p.shape
    out = np.zeros((len(instances), nm), np.float32)
    sy, sx = instances.letterbox.input_shape[0] / h, instances.letterbox.input_shape[1] / w
    for i in range(len(instances)):
        x1, y1, x2, y2 = (float(v) for v in instances.boxes_lb[i].tolist())
        # Cells with x1 <= col < x2 (crop_mask's rule) after scaling the box to the grid.
        c0, c1 = max(math.ceil(x1 / sx), 0), min(math.ceil(x2 / sx), w)
        r0, r1 = max(math.ceil(y1 / sy), 0), min(math.ceil(y2 / sy), h)
        if c1 <= c0 or r1 <= r0:
            continue
        region = p[:, r0:r1, c0:c1].reshape(nm, -1)  # (nm, cells)
        c = instances.coefs[i].float().to(p.device)
        terms = c[:, None] * region  # (nm, cells)
        logit = c[None] @ region  # (1, cells)
        full = logit > 0
        ablated = (logit - terms) > 0  # (nm, cells): mask without prototype k
        inter = (ablated & full).sum(1).float()
        union = (ablated | full).sum(1).float()
        iou = torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))
        out[i] = (1 - iou).cpu().numpy()
    return out
