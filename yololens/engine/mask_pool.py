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

from yololens.engine.pooling import chunk_rows, content_mask, letterbox_mask, pool_masks
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
    """The mask-pooled embeddings of one image's objects, in emission order (gt first, then predictions).

    The masks themselves are never all held at once: they are built and pooled in chunks of objects
    (:data:`~yololens.engine.pooling.POOL_CHUNK_BYTES`), so memory does not grow with objects per image.

    Attributes:
        pooled: layer -> ``(n, C)`` float32 mask-weighted means (zero rows where the mask is empty there).
        empty: layer -> ``(n,)`` bool, the mask covers nothing on that layer's grid.
        missing: per object, why it has no mask (None when it has one).
        fell_back: per object, the layers (``L21``) where its mask was empty and the box was used.
    """

    pooled: dict
    empty: dict
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
        """One :class:`ImageMasks` per image of the batch ``result`` (a BatchResult), every layer pooled."""
        out = []
        shape = result.input_shape
        step = chunk_rows(2 * shape[0] * shape[1] * 4)  # a chunk's masks (reused buffer) and their area grids
        buffer = torch.zeros((0, *shape), dtype=torch.float32)
        for record, res in zip(records, result.images):
            info = res.letterbox
            inside = content_mask(info.content, shape)
            labels = gt_labels(record)
            dets = res.detections if self.boxes is not BoxMode.GT else None
            n_pred = len(dets) if dets is not None else 0
            has_masks = n_pred and dets.coefs is not None and res.protos is not None
            n = len(labels) + n_pred
            missing = [None] * n
            pooled: dict = {k: [] for k in res.features}
            empty: dict = {k: [] for k in res.features}
            if len(buffer) < min(step, n):  # one buffer for every chunk: glibc keeps freed full-size masks
                buffer = torch.zeros((min(step, n), *shape), dtype=torch.float32)
            for lo in range(0, n, step):
                hi = min(lo + step, n)
                masks = buffer[: hi - lo]
                for j in range(lo, hi):
                    if j < len(labels):
                        missing[j] = self._gt_mask(labels[j], res.image.shape[:2], info, masks[j - lo])
                    elif not has_masks:
                        masks[j - lo].zero_()
                        missing[j] = f"a {self.model.task} model predicts no masks"
                p_lo, p_hi = max(lo - len(labels), 0), hi - len(labels)
                if has_masks and p_hi > p_lo:
                    pm = ultra.process_mask(res.protos, dets.coefs[p_lo:p_hi], dets.boxes_lb[p_lo:p_hi], shape)
                    masks[p_lo + len(labels) - lo:] = pm.float().cpu()
                masks.mul_(inside)
                for layer, feats in res.features.items():
                    p, e = pool_masks(feats, masks)
                    pooled[layer].append(p)
                    empty[layer].append(e)
            C = {k: int(f.shape[0]) for k, f in res.features.items()}
            out.append(ImageMasks(
                {k: torch.cat(v).numpy() if v else np.zeros((0, C[k]), np.float32) for k, v in pooled.items()},
                {k: torch.cat(v).numpy() if v else np.zeros(0, bool) for k, v in empty.items()},
                missing, [[] for _ in range(n)], n_layers=0))
        return out

    @staticmethod
    def _gt_mask(lab: LabelBox, orig_shape: tuple[int, int], info, out: torch.Tensor) -> str | None:
        """Write the label's letterboxed mask into ``out`` (``(H, W)``; zeros without one); returns why not."""
        if lab.mask is None:
            out.zero_()
            return "the label has no mask"
        try:
            m = rasterize(lab.mask, orig_shape)
        except MaskUnavailable as exc:
            out.zero_()
            return str(exc)
        letterbox_mask(m, info.gain, info.pad, tuple(out.shape), out=out)
        return None

    @staticmethod
    def pool(features: torch.Tensor, im: ImageMasks, box_embeddings: np.ndarray, layer: int | str) -> np.ndarray:
        """``(n, C)`` mask-pooled embeddings of one image at ``layer`` (``features``: that layer's ``(C, h, w)``,
        already pooled by :meth:`image_masks`); rows whose mask is empty on this layer's grid take
        ``box_embeddings`` (and the layer is noted in ``im.fell_back``)."""
        pooled, empty = im.pooled[layer].copy(), im.empty[layer]
        im.n_layers += 1
        for k in np.flatnonzero(empty):
            pooled[k] = box_embeddings[k]
            if im.missing[k] is None:
                im.fell_back[k].append(f"L{layer}")
        return pooled
