"""Feature-map figures: the top-K channel grid, heatmap overlays, PCA-RGB views and the per-image overview.

Figures are built on bare :class:`matplotlib.figure.Figure` objects with an Agg canvas (no
pyplot state), so they render headless and are freed as soon as they go out of scope. Image
products that must keep the original pixel size (overlay, PCA-RGB) are plain uint8 arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from yololens.figures._mapmath import robust_unit

TILE_CMAP = "viridis"  # perceptually uniform: channel tiles compare honestly
HEAT_CMAP = "turbo"  # high contrast over a photo
RANK_TEXT = {"energy": "energy (mean of squares)", "variance": "spatial variance", "index": "channel index"}


def colorize(unit: np.ndarray, cmap: str = HEAT_CMAP) -> np.ndarray:
    """``(h, w)`` values in [0, 1] -> ``(h, w, 3)`` uint8 RGB."""
    return colormaps[cmap](np.clip(unit, 0, 1), bytes=True)[..., :3]


def overlay(image_bgr: np.ndarray, heat_unit: np.ndarray, alpha: float = 0.55, cmap: str = HEAT_CMAP) -> np.ndarray:
    """Blend an ``(h0, w0)`` heatmap in [0, 1] over the original BGR image; returns ``(h0, w0, 3)`` uint8 BGR."""
    heat = colorize(heat_unit, cmap)[..., ::-1].astype(np.float32)
    return np.clip((1 - alpha) * image_bgr.astype(np.float32) + alpha * heat, 0, 255).astype(np.uint8)


def rgb_to_uint8(rgb_unit: np.ndarray) -> np.ndarray:
    """``(h, w, 3)`` float RGB in [0, 1] -> uint8 RGB."""
    return np.clip(np.rint(rgb_unit * 255), 0, 255).astype(np.uint8)


def _new_figure(width_in: float, height_in: float) -> Figure:
    fig = Figure(figsize=(width_in, height_in), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _grid_shape(k: int, tile_hw: tuple[int, int], target_ratio: float = 1.6) -> tuple[int, int]:
    """Rows, columns for ``k`` tiles so the whole grid is about ``target_ratio`` wide:tall."""
    th, tw = tile_hw
    cols = max(1, min(k, round(math.sqrt(target_ratio * k * th / max(tw, 1)))))
    return math.ceil(k / cols), cols


def channel_grid_figure(
    crop: np.ndarray,
    channels: np.ndarray,
    scores: np.ndarray,
    title: str,
    rank: str = "energy",
    shared_scale: bool = False,
) -> Figure:
    """Grid of the chosen channels of a ``(C, h, w)`` content crop, each tile labelled ``c<index>``.

    Tiles are scaled to their own 1st–99th percentile range unless ``shared_scale``, which puts
    every tile on one scale (the 1st–99th percentile of all shown tiles) with a value colourbar.
    """
    k = len(channels)
    h, w = crop.shape[1:]
    rows, cols = _grid_shape(k, (h, w))
    tile_w = min(1.6, 11.0 / cols, 2.2 * w / h)  # inches; caps tall tiles too
    fig = _new_figure(cols * tile_w + 1.0, rows * (tile_w * h / w + 0.22) + 0.7)
    tiles = crop[channels]
    norm = Normalize(*np.percentile(tiles, [1, 99])) if shared_scale and k else None
    axes = fig.subplots(rows, cols, squeeze=False)
    image = None
    for n, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if n >= k:
            continue
        tile = tiles[n]
        image = ax.imshow(tile if norm else robust_unit(tile), cmap=TILE_CMAP, norm=norm or Normalize(0, 1),
                          interpolation="nearest")
        label = f"c{int(channels[n])}" + ("" if norm else f"  [{tile.min():.2g}, {tile.max():.2g}]")
        ax.set_title(label, fontsize=7, pad=2)
    if image is not None:
        bar = fig.colorbar(image, ax=axes, shrink=0.6, fraction=0.04, pad=0.01)
        if norm:
            bar.set_label("activation", fontsize=8)
        else:
            bar.set_ticks([0, 1], labels=["low", "high"])
            bar.set_label("each tile: own 1–99% range", fontsize=8)
        bar.ax.tick_params(labelsize=7)
    fig.suptitle(f"{title}\ntop {k} of {crop.shape[0]} channels by {RANK_TEXT[rank]}; content region only",
                 fontsize=9)
    return fig


@dataclass
class OverviewRow:
    """One stage of the overview figure.

    Attributes:
        label: e.g. ``"L9 SPPF\\n256×20×20\\nstride 32"``.
        heat: RGB uint8 overlay of the channel heatmap, original aspect (a thumbnail).
        pca: RGB uint8 PCA view, original aspect (a thumbnail).
        tiles: ``(channel index, (h, w) map in [0, 1])`` for the top channels.
        pca_ratios: explained-variance ratios of the 3 components.
    """

    label: str
    heat: np.ndarray
    pca: np.ndarray
    tiles: list[tuple[int, np.ndarray]] = field(default_factory=list)
    pca_ratios: list[float] = field(default_factory=list)


def overview_figure(rows: list[OverviewRow], title: str, heat_text: str, rank: str) -> Figure:
    """One row per stage: heatmap overlay, PCA-RGB, then the top channels, all at the image's aspect."""
    n_tiles = max((len(r.tiles) for r in rows), default=0)
    h, w = rows[0].heat.shape[:2]
    aspect = w / h
    row_in = 1.9 if aspect < 1.2 else 1.5
    cols = 2 + n_tiles
    fig = _new_figure(1.2 + cols * row_in * aspect + 0.2, len(rows) * row_in + 0.9)
    grid = fig.add_gridspec(len(rows), cols)
    for r, row in enumerate(rows):
        panels = [(row.heat, "heatmap" if r else heat_text), (row.pca, "PCA → RGB" if r else "PCA 1-3 → RGB")]
        for c, (img, head) in enumerate(panels):
            ax = fig.add_subplot(grid[r, c])
            ax.imshow(img, interpolation="antialiased")
            _bare(ax)
            if r == 0:
                ax.set_title(head, fontsize=8)
            if c == 0:
                ax.set_ylabel(row.label, fontsize=8, rotation=0, ha="right", va="center", labelpad=6)
            if c == 1 and row.pca_ratios:
                ax.text(0.02, 0.02, "var " + "/".join(f"{v:.0%}" for v in row.pca_ratios), color="white",
                        fontsize=6, transform=ax.transAxes, va="bottom",
                        bbox={"facecolor": "black", "alpha": 0.5, "pad": 1, "linewidth": 0})
        for t, (channel, tile) in enumerate(row.tiles):
            ax = fig.add_subplot(grid[r, 2 + t])
            ax.imshow(tile, cmap=TILE_CMAP, vmin=0, vmax=1, interpolation="nearest")
            _bare(ax)
            ax.set_title(f"c{channel}", fontsize=7, pad=2)
    fig.suptitle(f"{title}\ntiles: top channels by {RANK_TEXT[rank]}, each on its own 1–99% scale", fontsize=9)
    return fig


def _bare(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
