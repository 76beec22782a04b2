"""Pool a feature map inside object boxes (RoIAlign, then a mean over the bins)."""

from __future__ import annotations

import torch
from torchvision.ops import roi_align

DEFAULT_POOL_SIZE = 7


def clip_to_content(boxes_lb: torch.Tensor, content: tuple[float, float, float, float]) -> torch.Tensor:
    """Clip letterboxed ``(n, 4)`` boxes to the un-padded image region, so padding never enters a pool."""
    x1, y1, x2, y2 = content
    out = boxes_lb.clone()
    out[:, 0::2] = out[:, 0::2].clamp(x1, x2)
    out[:, 1::2] = out[:, 1::2].clamp(y1, y2)
    return out


def pool_boxes(
    features: torch.Tensor,
    boxes_lb: list[torch.Tensor],
    input_shape: tuple[int, int],
    output_size: int = DEFAULT_POOL_SIZE,
    sampling_ratio: int = 2,
) -> torch.Tensor:
    """Average-pooled RoIAlign embeddings.

    Args:
        features: ``(B, C, H, W)`` layer output for the whole batch.
        boxes_lb: per image, ``(n_i, 4)`` xyxy boxes in letterboxed input pixels (already
            clipped to the content region, see :func:`clip_to_content`).
        input_shape: ``(h, w)`` of the letterboxed input; the layer's scale is ``W / w``
            (= 1 / stride).
        output_size: RoIAlign bins per side before the mean.

    Returns:
        ``(sum n_i, C)`` float32 embeddings, in the order of ``boxes_lb``.
    """
    n = sum(len(b) for b in boxes_lb)
    if n == 0:
        return torch.zeros((0, features.shape[1]), dtype=torch.float32)
    scale = features.shape[-1] / input_shape[1]
    rois = [b.to(device=features.device, dtype=features.dtype) for b in boxes_lb]
    pooled = roi_align(features, rois, output_size=output_size, spatial_scale=scale,
                       sampling_ratio=sampling_ratio, aligned=True)
    return pooled.float().mean(dim=(2, 3)).cpu()
