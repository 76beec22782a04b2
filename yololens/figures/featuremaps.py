"""Feature-map figures: the top-K channel grid, heatmap overlays, PCA-RGB views and the per-image overview.

Figures are bare :class:`matplotlib.figure.Figure` objects on an Agg canvas (no pyplot state), so
they render headless and are freed when they go out of scope. Panels are pasted into one pixel
canvas (:mod:`yololens.figures._canvas`). Image products that must keep the original pixel size
(overlay, PCA-RGB) are plain uint8 arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from yololens.figures._canvas import DPI, Canvas
from yololens.figures.readable import TALL_MAX_PX, font_pt
from yololens.engine.mapmath import robust_unit

TILE_CMAP = "viridis"  # perceptually uniform: tiles compare honestly
HEAT_CMAP = "inferno"  # perceptually uniform, and dark-to-bright reads as cold-to-hot over a photo
PCA_TEXT = ("PCA→RGB: the first three principal components of the channels shown as red, green and blue; "
            "the % is the share of the channels' variance each one explains")
RANK_TEXT = {"energy": "energy (mean of squares)", "variance": "spatial variance", "index": "channel index"}


def colorize(values: np.ndarray, cmap: str = HEAT_CMAP, norm: Normalize | None = None) -> np.ndarray:
    """``(h, w)`` values -> ``(h, w, 3)`` uint8 RGB; without ``norm`` the values must be in [0, 1]."""
    unit = norm(values) if norm is not None else values
    return colormaps[cmap](np.clip(unit, 0, 1), bytes=True)[..., :3]


def overlay(image_bgr: np.ndarray, heat_unit: np.ndarray, cmap: str = HEAT_CMAP) -> np.ndarray:
    """Blend an ``(h0, w0)`` heatmap in [0, 1] over the original BGR image; ``(h0, w0, 3)`` uint8 BGR.

    The heat colour's opacity grows with the heat (0.25 -> 0.75), so cold regions keep the photo
    readable and hot regions stand out.
    """
    heat = colorize(heat_unit, cmap)[..., ::-1].astype(np.float32)
    alpha = (0.25 + 0.5 * np.clip(heat_unit, 0, 1))[..., None]
    return np.clip((1 - alpha) * image_bgr + alpha * heat, 0, 255).astype(np.uint8)


def rgb_to_uint8(rgb_unit: np.ndarray) -> np.ndarray:
    """``(h, w, 3)`` float RGB in [0, 1] -> uint8 RGB."""
    return np.clip(np.rint(rgb_unit * 255), 0, 255).astype(np.uint8)


def _grid_shape(k: int, tile_hw: tuple[int, int], target_ratio: float = 1.6) -> tuple[int, int]:
    """Rows, columns for ``k`` tiles so the whole grid is about ``target_ratio`` wide:tall."""
    th, tw = tile_hw
    cols = max(1, min(k, round(math.sqrt(target_ratio * k * th / max(tw, 1)))))
    return math.ceil(k / cols), cols


def _tile_size(h: int, w: int, cols: int, max_w: int = 1100, max_cell: int = 160) -> tuple[int, int]:
    """Cell ``(w, h)`` in pixels for an ``h`` x ``w`` map: at most ``max_cell`` on its long side."""
    cell_w = min(max_cell, max_w // cols, round(max_cell * w / h))
    return cell_w, max(round(cell_w * h / w), 1)


def _colorbar(fig: Figure, canvas: Canvas, norm: Normalize, label: str, ticks=None, fontsize: float = 8,
              cmap: str = TILE_CMAP, span: tuple[float, float] = (0.2, 0.8), x_off: float = 12) -> None:
    """A vertical colourbar in the right margin, over the fraction ``span`` of the grid's height."""
    grid_h = canvas.height - canvas.top - canvas.bottom
    cax = canvas.axes_at(fig, canvas.width - canvas.right + x_off, canvas.top + span[0] * grid_h, 14,
                         (span[1] - span[0]) * grid_h)
    bar = fig.colorbar(ScalarMappable(norm, cmap), cax=cax)
    if ticks is not None:
        bar.set_ticks(ticks[0], labels=ticks[1])
    bar.set_label(label, fontsize=fontsize)
    bar.ax.tick_params(labelsize=fontsize)


def _text_px(pt: float) -> int:
    """Height in figure pixels of a line of ``pt``-point text (with leading)."""
    return int(math.ceil(pt * DPI / 72 * 1.35)) + 2


def channel_grid_figure(
    crop: np.ndarray,
    channels: np.ndarray,
    title: str,
    rank: str = "energy",
    shared_scale: bool = False,
) -> Figure:
    """Grid of the chosen channels of a ``(C, h, w)`` content crop, each tile labelled ``c<index>``.

    Tiles are scaled to their own 1st–99th percentile range (the title gives the raw min/max)
    unless ``shared_scale``, which puts every tile on one scale (the 1st–99th percentile of all
    shown tiles) with a value colourbar. Cells are shown as crisp blocks (nearest).
    """
    k = len(channels)
    h, w = crop.shape[1:]
    rows, cols = _grid_shape(k, (h, w))
    cell_w, cell_h = _tile_size(h, w, cols)
    canvas = Canvas(rows, cols, cell_w, cell_h, right=100, top=48)
    pt = font_pt(canvas.width, dpi=DPI, at_least=8)
    canvas = Canvas(rows, cols, cell_w, cell_h, right=60 + 5 * _text_px(pt), top=4 * _text_px(pt),
                    title_h=_text_px(pt))
    pt = font_pt(canvas.width, dpi=DPI, at_least=8)
    tiles = crop[channels]
    norm = Normalize(*np.percentile(tiles, [1, 99])) if shared_scale else Normalize(0, 1)
    for n, tile in enumerate(tiles):
        canvas.put(n // cols, n % cols, colorize(tile if shared_scale else robust_unit(tile), TILE_CMAP, norm),
                   nearest=True)
    fig = canvas.figure()
    for n, tile in enumerate(tiles):
        extra = "" if shared_scale else f"  [{tile.min():.2g}, {tile.max():.2g}]"
        canvas.title(fig, n // cols, n % cols, f"c{int(channels[n])}{extra}", fontsize=pt)
    if shared_scale:
        _colorbar(fig, canvas, norm, "activation (1–99% range of all tiles)", fontsize=pt)
    else:
        _colorbar(fig, canvas, norm, "each tile: own 1–99% range", ([0, 1], ["low", "high"]), fontsize=pt)
    canvas.text(fig, canvas.width / 2, 6, f"{title}\ntop {k} of {crop.shape[0]} channels by {RANK_TEXT[rank]}; "
                "content region only (padding cropped)", ha="center", va="top", fontsize=pt * 1.1)
    return fig


@dataclass
class OverviewRow:
    """One stage of the overview figure.

    Attributes:
        label: e.g. ``"L9 SPPF\\n256×20×20\\nstride 32"``.
        heat: RGB uint8 overlay of the channel heatmap at the original aspect (a thumbnail is enough).
        pca: RGB uint8 PCA view at the original aspect.
        tiles: ``(channel index, (h, w) map in [0, 1])`` for the top channels (content region).
        pca_ratios: explained-variance ratios of the 3 components.
    """

    label: str
    heat: np.ndarray
    pca: np.ndarray
    tiles: list[tuple[int, np.ndarray]] = field(default_factory=list)
    pca_ratios: list[float] = field(default_factory=list)


def overview_figure(rows: list[OverviewRow], title: str, heat_text: str, rank: str) -> Figure:
    """One row per stage: heatmap overlay, PCA-RGB, then the top channels, all at the image's aspect.

    Text is sized so that it renders at 10 px or more where the report shows the figure (page width, at
    most :data:`~yololens.figures.readable.TALL_MAX_PX` tall): see :mod:`yololens.figures.readable`.
    """
    n_tiles = max((len(r.tiles) for r in rows), default=0)
    h, w = rows[0].heat.shape[:2]
    cell_h = 190 if w < 1.2 * h else 150
    cell_w = max(round(cell_h * w / h), 1)
    pt = 8.0
    for _ in range(3):  # the margins grow with the font, which grows with the shrink: settles in 2 rounds
        line = _text_px(pt)
        canvas = Canvas(len(rows), 2 + n_tiles, cell_w, cell_h, left=line * 7, right=line * 6 + 40,
                        top=line * 4, title_h=line)
        pt = font_pt(canvas.width, canvas.height, dpi=DPI, max_height_px=TALL_MAX_PX, at_least=8)
    for r, row in enumerate(rows):
        canvas.put(r, 0, row.heat)
        canvas.put(r, 1, row.pca)
        for t, (_, tile) in enumerate(row.tiles):
            canvas.put(r, 2 + t, colorize(tile, TILE_CMAP), nearest=True)
    fig = canvas.figure()
    for r, row in enumerate(rows):
        x, y = canvas.cell_origin(r, 0)
        canvas.text(fig, x - 10, y + canvas.cell_h / 2, row.label, ha="right", va="center", fontsize=pt)
        canvas.title(fig, r, 0, heat_text if r == 0 else "", fontsize=pt)
        canvas.title(fig, r, 1, "PCA→RGB " + "/".join(f"{v:.0%}" for v in row.pca_ratios), fontsize=pt)
        for t, (channel, _) in enumerate(row.tiles):
            canvas.title(fig, r, 2 + t, f"c{channel}", fontsize=pt)
    canvas.text(fig, canvas.width / 2, 6, f"{title}\ntiles: top channels by {RANK_TEXT[rank]}, each on its own "
                "1–99% scale; heatmap and PCA un-letterboxed to the original image\n" + PCA_TEXT,
                ha="center", va="top", fontsize=pt)
    _colorbar(fig, canvas, Normalize(0, 1), "heatmap", ([0, 1], ["low", "high"]), fontsize=pt, cmap=HEAT_CMAP,
              span=(0.05, 0.45), x_off=line)
    _colorbar(fig, canvas, Normalize(0, 1), "tiles", ([0, 1], ["low", "high"]), fontsize=pt,
              span=(0.55, 0.95), x_off=line)
    return fig


__all__ = ["DPI", "OverviewRow", "channel_grid_figure", "colorize", "overlay", "overview_figure", "rgb_to_uint8"]
