"""Pool a feature map inside object boxes (RoIAlign, then a mean over the bins) or instance masks.

Mask pooling (``--pool mask``): the object's mask in letterboxed input pixels (padding zeroed) is resampled to
each layer's grid by area averaging (each cell gets the fraction of it the mask covers), and the embedding is
the mask-weighted mean of the feature map: ``sum(m * F) / sum(m)``.
"""

from __future__ import annotations

import functools
from enum import StrEnum

import numpy as np
import torch
import torch.nn.functional as F

from yololens.errors import InputError
from yololens.model import tv_ops

DEFAULT_POOL_SIZE = 7
#: Bytes of pooling temporaries per chunk of objects (RoIAlign bins, full-size masks): peak memory of pooling is
#: about this plus the outputs, whatever the number of objects in one image (docs/RELIABILITY.md).
POOL_CHUNK_BYTES = 64 * 2**20


class PoolMode(StrEnum):
    """``--pool``: what an embedding is averaged over."""

    BOX = "box"  # RoIAlign inside the box: emb_L<idx>
    MASK = "mask"  # inside the instance mask: emb_L<idx>_mask
    BOTH = "both"  # both columns, to compare them on the same objects

    @property
    def boxes(self) -> bool:
        return self in (PoolMode.BOX, PoolMode.BOTH)

    @property
    def masks(self) -> bool:
        return self in (PoolMode.MASK, PoolMode.BOTH)


@functools.cache
def _roi_align_kernel():
    """torchvision's compiled ``roi_align`` op, without importing the torchvision package when it can
    (:mod:`yololens.model.tv_ops`: the package imports ``torch._dynamo``). Same op, same numbers."""
    op = tv_ops.kernel("roi_align")
    if op is not None:
        return op
    from torchvision.ops import roi_align

    return lambda x, rois, scale, h, w, ratio, aligned: roi_align(x, rois, (h, w), scale, ratio, aligned)


def roi_align(features: torch.Tensor, boxes: torch.Tensor | list[torch.Tensor], output_size: int,
              spatial_scale: float, sampling_ratio: int, aligned: bool) -> torch.Tensor:
    """``torchvision.ops.roi_align``: ``boxes`` as per-image ``(n_i, 4)`` lists (its ``convert_boxes_to_roi_format``)
    or as ``(K, 5)`` rois ``(image, x1, y1, x2, y2)``, then its op."""
    rois = boxes
    if isinstance(boxes, (list, tuple)):
        ids = torch.cat([torch.full_like(b[:, :1], i) for i, b in enumerate(boxes)], dim=0)
        rois = torch.cat([ids, torch.cat(boxes, dim=0)], dim=1)
    return _roi_align_kernel()(features, rois, spatial_scale, output_size, output_size, sampling_ratio, aligned)


def check_pool_size(pool_size: object) -> None:
    """Refuse a ``--pool-size`` that cannot give a vector (RoIAlign needs at least one bin per side)."""
    if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
        raise InputError(f"--pool-size must be a whole number of RoIAlign bins >= 1, not {pool_size!r}")


def content_mask(content: tuple[float, float, float, float], input_shape: tuple[int, int]) -> torch.Tensor:
    """``(H, W)`` float32: 1 inside the un-padded image region ``content`` (letterboxed px), 0 in the padding."""
    x1, y1, x2, y2 = (int(round(v)) for v in content)
    m = torch.zeros(input_shape, dtype=torch.float32)
    m[max(y1, 0):y2, max(x1, 0):x2] = 1.0
    return m


def letterbox_mask(mask: np.ndarray, gain: tuple[float, float], pad: tuple[int, int],
                   input_shape: tuple[int, int], out: torch.Tensor | None = None) -> torch.Tensor:
    """An original-pixel ``(h0, w0)`` mask -> ``(H, W)`` letterboxed input pixels (resized like the image,
    bilinear, then placed at the padding offset; padding stays 0). ``out``: an ``(H, W)`` float32 tensor to
    write into (reused across objects: no new full-size buffer per object)."""
    import cv2

    h0, w0 = mask.shape
    new_h, new_w = max(round(h0 * gain[0]), 1), max(round(w0 * gain[1]), 1)
    resized = cv2.resize(mask.astype(np.float32, copy=False), (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    if out is None:
        out = torch.zeros(input_shape, dtype=torch.float32)
    else:
        out.zero_()
    px, py = pad
    out[py:py + new_h, px:px + new_w] = torch.from_numpy(resized)[: input_shape[0] - py, : input_shape[1] - px]
    return out


def chunk_rows(bytes_per_row: int, budget: int | None = None) -> int:
    """Rows (objects) per chunk so that one chunk's temporaries stay under ``budget`` bytes (at least 1)."""
    return max(1, int((POOL_CHUNK_BYTES if budget is None else budget) // max(int(bytes_per_row), 1)))


def pool_masks(features: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask-weighted mean embeddings of one image.

    Args:
        features: ``(C, h, w)`` the layer's map for the image.
        masks: ``(n, H, W)`` float masks in letterboxed input pixels (padding already 0); ``H/h`` is the stride.

    Returns:
        ``(n, C)`` float32 embeddings and ``(n,)`` bool "empty at this resolution" (those rows are zero:
        the caller falls back to the box).
    """
    n = len(masks)
    if n == 0:
        return torch.zeros((0, features.shape[0])), torch.zeros(0, dtype=torch.bool)
    grid = F.interpolate(masks[:, None].float(), size=tuple(features.shape[-2:]), mode="area")[:, 0]
    grid = grid.to(features.device, torch.float32)
    area = grid.flatten(1).sum(1)
    empty = area <= 1e-6
    summed = grid.flatten(1) @ features.float().flatten(1).T  # (n, C)
    pooled = summed / area.clamp_min(1e-6)[:, None]
    pooled[empty] = 0.0
    return pooled.cpu(), empty.cpu()


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
    rois = torch.cat([torch.cat([torch.full((len(b), 1), float(i)), b.reshape(-1, 4).float().cpu()], 1)
                      for i, b in enumerate(boxes_lb)]).to(device=features.device, dtype=features.dtype)
    # RoIAlign's output is (n, C, S, S): in chunks of boxes, so memory does not grow with boxes per image
    step = chunk_rows(features.shape[1] * output_size * output_size * 4)
    out = [roi_align(features, rois[k:k + step], output_size=output_size, spatial_scale=scale,
                     sampling_ratio=sampling_ratio, aligned=True).float().mean(dim=(2, 3)).cpu()
           for k in range(0, n, step)]
    return torch.cat(out)
