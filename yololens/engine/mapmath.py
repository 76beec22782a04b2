"""Array maths behind the feature-map figures: content crop, channel ranking, heatmaps, PCA, un-letterbox.

Every function takes one image's ``(C, H, W)`` float feature map in *letterboxed* space (cell
``(i, j)`` covers input pixels ``[j*sx, (j+1)*sx) x [i*sy, (i+1)*sy)``) and a
:class:`~yololens.model.ultra.LetterboxInfo`. Outputs in *original* pixels say so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from yololens.model.ultra import LetterboxInfo

RANK_METHODS = ("energy", "variance", "index")
HEATMAP_KINDS = ("mean", "energy")


@dataclass(frozen=True)
class ContentCells:
    """The feature-map cells whose centres fall inside the letterbox content (the un-padded image).

    Attributes:
        rows, cols: ``[start, stop)`` cell ranges, in feature-map cells.
        cell: ``(sy, sx)``: letterboxed pixels per cell (the layer's stride).
    """

    rows: tuple[int, int]
    cols: tuple[int, int]
    cell: tuple[float, float]

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(*self.rows), slice(*self.cols)

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows[1] - self.rows[0], self.cols[1] - self.cols[0]

    def as_dict(self) -> dict:
        return {"rows": list(self.rows), "cols": list(self.cols), "cell": list(self.cell)}


def content_cells(info: LetterboxInfo, map_hw: tuple[int, int]) -> ContentCells:
    """Cells of an ``(H, W)`` map over ``info.input_shape`` whose centres lie in the content region."""
    (h, w), (h_in, w_in) = map_hw, info.input_shape
    sy, sx = h_in / h, w_in / w
    x1, y1, x2, y2 = info.content
    return ContentCells(_cell_range(y1, y2, sy, h), _cell_range(x1, x2, sx, w), (sy, sx))


def _cell_range(lo: float, hi: float, cell: float, n: int) -> tuple[int, int]:
    # cell j's centre is (j + 0.5) * cell; keep at least one cell for tiny images on coarse maps
    start = min(max(math.ceil(lo / cell - 0.5), 0), n - 1)
    stop = min(max(math.floor(hi / cell - 0.5) + 1, start + 1), n)
    return start, stop


def crop_content(fm: np.ndarray, cells: ContentCells) -> np.ndarray:
    """``(C, H, W)`` -> ``(C, h, w)``: the content cells only (padding dropped)."""
    rows, cols = cells.slices
    return fm[:, rows, cols]


def rank_channels(crop: np.ndarray, method: str = "energy", k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` channels of a ``(C, h, w)`` map, best first (ties: lower index first).

    ``energy`` ranks by the mean of squares, ``variance`` by the spatial variance, ``index``
    keeps channel order (its scores are the energies, for reference). Returns
    ``(channel indices, scores)``, both of length ``min(k, C)``.
    """
    if method not in RANK_METHODS:
        raise ValueError(f"rank must be one of {', '.join(RANK_METHODS)}, not {method!r}")
    flat = crop.reshape(crop.shape[0], -1).astype(np.float64)
    energy = np.mean(flat**2, axis=1)
    scores = flat.var(axis=1) if method == "variance" else energy
    order = np.arange(len(scores)) if method == "index" else np.argsort(-scores, kind="stable")
    order = order[: len(order) if k is None else max(k, 0)]
    return order, scores[order]


def channel_heatmap(crop: np.ndarray, kind: str = "mean") -> np.ndarray:
    """``(C, h, w)`` -> ``(h, w)`` float32: channel mean or energy (mean of squares)."""
    if kind not in HEATMAP_KINDS:
        raise ValueError(f"heatmap must be one of {', '.join(HEATMAP_KINDS)}, not {kind!r}")
    x = crop.astype(np.float32, copy=False)
    return (x.mean(axis=0) if kind == "mean" else np.mean(x * x, axis=0)).astype(np.float32)


def robust_unit(x: np.ndarray, lo_pct: float = 1.0, hi_pct: float = 99.0, axis=None) -> np.ndarray:
    """Scale to [0, 1] by the ``lo_pct``/``hi_pct`` percentiles (per ``axis`` slice); flat data -> 0.5."""
    lo = np.percentile(x, lo_pct, axis=axis, keepdims=True)
    hi = np.percentile(x, hi_pct, axis=axis, keepdims=True)
    span = hi - lo
    out = np.where(span > 0, (x - lo) / np.where(span > 0, span, 1), 0.5)
    return np.clip(out, 0, 1).astype(np.float32)


def pca_rgb(crop: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """First 3 principal components of the ``C``-dim cell vectors of a ``(C, h, w)`` crop, as RGB.

    Each component is scaled to [0, 1] by its own 1st/99th percentiles. Returns the
    ``(h, w, 3)`` float32 image and the explained-variance ratios (missing components,
    when ``C < 3`` or the map is flat, are black and reported as 0).
    """
    from sklearn.decomposition import PCA

    c, h, w = crop.shape
    x = crop.reshape(c, -1).T.astype(np.float32)
    rgb = np.zeros((h * w, 3), np.float32)
    ratios = [0.0, 0.0, 0.0]
    n = min(3, c, h * w)
    if n >= 1 and float(x.std(axis=0).max()) > 0:
        pca = PCA(n_components=n, svd_solver="full" if h * w < 4 * c else "auto", random_state=0)
        rgb[:, :n] = robust_unit(pca.fit_transform(x), axis=0)
        ratios[:n] = [float(r) for r in np.nan_to_num(pca.explained_variance_ratio_)]
    return rgb.reshape(h, w, 3), ratios


def to_original(crop_map: np.ndarray, info: LetterboxInfo, cells: ContentCells) -> np.ndarray:
    """Resample a content crop ``(h, w[, k])`` to the original image ``(h0, w0[, k])``, bilinear.

    Each original pixel centre is mapped into letterboxed pixels (``x * gain + pad``) and then
    into feature-map cells, so the result lines up with the image exactly, also at coarse strides
    where the padding is not a whole number of cells. Samples outside the content cells clamp to
    the border cell (padding never bleeds in).
    """
    (h0, w0), (gy, gx), (px, py) = info.orig_shape, info.gain, info.pad
    (sy, sx), out = cells.cell, crop_map.astype(np.float32, copy=False)
    extra = (1,) * (out.ndim - 2)  # broadcast the weights over a trailing k axis
    i0, i1, wy = _axis_weights(h0, gy, py, sy, cells.rows[0], out.shape[0])
    wy = wy.reshape((h0, 1) + extra)
    out = out[i0] * (1 - wy) + out[i1] * wy  # rows first: (h0, w[, k])
    j0, j1, wx = _axis_weights(w0, gx, px, sx, cells.cols[0], out.shape[1])
    wx = wx.reshape((w0,) + extra)
    return out[:, j0] * (1 - wx) + out[:, j1] * wx


def _axis_weights(n_out: int, gain: float, pad: float, cell: float, start: int, n_cells: int):
    """Source cells and weights for bilinear sampling along one axis (align_corners=False)."""
    lb = (np.arange(n_out, dtype=np.float64) + 0.5) * gain + pad  # letterboxed pixels
    u = np.clip(lb / cell - 0.5 - start, 0, n_cells - 1)
    i0 = np.floor(u).astype(np.intp)
    return i0, np.minimum(i0 + 1, n_cells - 1), (u - i0).astype(np.float32)
