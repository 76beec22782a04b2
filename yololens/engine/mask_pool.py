"""``extract --pool mask``: every object's instance mask in letterboxed pixels, and the mask-pooled embeddings.

Pred rows use the model's own masks (Ultralytics ``process_mask`` at the input resolution, as ``predict``
gives them without ``retina_masks``); gt rows rasterise the label's polygons or RLE
(:mod:`yololens.sources.masks`) in original pixels and letterbox them like the image. The letterbox padding is
zeroed in both. Pooling itself is :func:`yololens.engine.pooling.pool_masks`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from yololens.engine.pooling import content_mask, letterbox_mask, pool_masks
from yololens.model import ultra
from yololens.model.loading import LoadedModel
from yololens.sources.masks import MaskUnavailable, rasterize
from yololens.sources.records import ImageRecord, LabelBox
from yololens.types import BoxMode, embedding_column


def mask_column(layer: int | str) -> str:
    """``9 -> "emb_L9_mask"``: the mask-pooled embedding column of a layer."""
    return embedding_column(layer) + "_mask"


@dataclass
class ImageMasks:
    """The masks of one image's objects, in emission order (gt first, then predictions).

    Attributes:
        masks: ``(n, H, W)`` float32 in letterboxed input pixels, 0 in the padding.
        missing: per object, why it has no mask (None when it has one).
        fell_back: per object, the layers (``L21``) where its mask was empty and the box was used.
    """

    masks: torch.Tensor
    missing: list[str | None]
    fell_back: list[list[str]] = field(default_factory=list)
    n_layers: int = 0  # layers pooled so far

    def fallback_notes(self) -> list[str | None]:
        """The ``mask_fallback`` column: ``no mask: <why>``, ``empty mask``, ``box at L18,L21`` or None."""
        notes: list[str | None] = []
        for why, layers in zip(self.missing, self.fell_back):
            if why is not None:
                notes.append(f"no mask: {why}")
            elif layers and len(layers) == self.n_layers:
                notes.append("empty mask")
            else:
                notes.append(f"box at {','.join(layers)}" if layers else None)
        return notes


class MaskPooler:
    """Builds :class:`ImageMasks` per image and pools a layer inside them (box embedding where empty)."""

    def __init__(self, model: LoadedModel, boxes: BoxMode | str):
        self.model, self.boxes = model, BoxMode(boxes)

    def image_masks(self, result, records: list[ImageRecord],
                    gt_labels: Callable[[ImageRecord], list[LabelBox]]) -> list[ImageMasks]:
        """One :class:`ImageMasks` per image of the batch ``result`` (a BatchResult)."""
        out = []
        for record, res in zip(records, result.images):
            info, shape = res.letterbox, result.input_shape
            inside = content_mask(info.content, shape)
            rows, missing = [], []
            for lab in gt_labels(record):
                m, why = self._gt_mask(lab, res.image.shape[:2], info, shape)
                rows.append(m * inside)
                missing.append(why)
            dets = res.detections if self.boxes is not BoxMode.GT else None
            if dets is not None and len(dets):
                if dets.coefs is not None and res.protos is not None:
                    pm = ultra.process_mask(res.protos, dets.coefs, dets.boxes_lb, shape).float().cpu()
                    rows.extend(pm * inside)
                    missing.extend([None] * len(dets))
                else:
                    rows.extend(torch.zeros(shape) for _ in range(len(dets)))
                    missing.extend([f"a {self.model.task} model predicts no masks"] * len(dets))
            masks = torch.stack(rows) if rows else torch.zeros((0, *shape))
            out.append(ImageMasks(masks, missing, [[] for _ in rows], n_layers=0))
        return out

    @staticmethod
    def _gt_mask(lab: LabelBox, orig_shape: tuple[int, int], info, shape) -> tuple[torch.Tensor, str | None]:
        if lab.mask is None:
            return torch.zeros(shape), "the label has no mask"
        try:
            m = rasterize(lab.mask, orig_shape)
        except MaskUnavailable as exc:
            return torch.zeros(shape), str(exc)
        return letterbox_mask(m, info.gain, info.pad, shape), None

    @staticmethod
    def pool(features: torch.Tensor, im: ImageMasks, box_embeddings: np.ndarray, layer: int | str) -> np.ndarray:
        """``(n, C)`` mask-pooled embeddings of one image at ``layer``; rows whose mask is empty on this layer's
        grid take ``box_embeddings`` (and the layer is noted in ``im.fell_back``)."""
        pooled, empty = pool_masks(features, im.masks)
        pooled = pooled.numpy()
        im.n_layers += 1
        for k in np.flatnonzero(empty.numpy()):
            pooled[k] = box_embeddings[k]
            if im.missing[k] is None:
                im.fell_back[k].append(f"L{layer}")
        return pooled
