"""A grid of image cells drawn straight into one RGB array, shown as a single matplotlib image.

Channel grids and overviews hold dozens to hundreds of panels; one matplotlib Axes per panel costs
~10 ms each plus seconds of layout, so panels are pasted into a pixel canvas instead and only the
text (titles, labels) and colourbars are matplotlib artists. Units here are figure pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 100
MAX_CELL_ASPECT = 4.0  # a cell is at most 4x wider than tall, or taller than wide (as protos' figures)
MAX_CANVAS_PX = 8000  # longest side of any canvas, pixels (a 8000x8000 RGB canvas is 192 MB)


@dataclass
class Canvas:
    """``rows`` x ``cols`` cells of ``cell_w`` x ``cell_h`` pixels, each with a title band above it.

    Margins (``left``, ``right``, ``top``, ``bottom``) leave room for row labels, a colourbar
    and the suptitle. All sizes are in figure pixels at :data:`DPI`.
    """

    rows: int
    cols: int
    cell_w: int
    cell_h: int
    left: int = 10
    right: int = 10
    top: int = 60
    bottom: int = 10
    title_h: int = 18
    gap: int = 6
    pixels: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Clamp the cells, whatever the image's aspect: a 3000x2 image would otherwise ask for a
        # 324,190-pixel-wide figure (GBs of RAM). Cells stretch instead; axes and titles stay readable.
        self.cell_w, self.cell_h = max(int(self.cell_w), 1), max(int(self.cell_h), 1)
        self.cell_w = min(self.cell_w, round(self.cell_h * MAX_CELL_ASPECT))
        self.cell_h = min(self.cell_h, round(self.cell_w * MAX_CELL_ASPECT))
        shrink = min(1.0, MAX_CANVAS_PX / self.width, MAX_CANVAS_PX / self.height)
        if shrink < 1:
            self.cell_w, self.cell_h = max(int(self.cell_w * shrink), 1), max(int(self.cell_h * shrink), 1)
        self.pixels = np.full((self.height, self.width, 3), 255, np.uint8)

    @property
    def width(self) -> int:
        return self.left + self.cols * self.cell_w + (self.cols - 1) * self.gap + self.right

    @property
    def height(self) -> int:
        return self.top + self.rows * (self.title_h + self.cell_h) + (self.rows - 1) * self.gap + self.bottom

    def cell_origin(self, row: int, col: int) -> tuple[int, int]:
        """Top-left ``(x, y)`` pixel of a cell's image area (below its title band)."""
        x = self.left + col * (self.cell_w + self.gap)
        y = self.top + row * (self.title_h + self.cell_h + self.gap) + self.title_h
        return x, y

    def put(self, row: int, col: int, rgb: np.ndarray, nearest: bool = False) -> None:
        """Paste an ``(h, w, 3)`` uint8 RGB image into a cell, resized to fill it.

        ``nearest`` keeps feature-map cells as crisp blocks; otherwise area/linear resampling.
        """
        h, w = rgb.shape[:2]
        shrink = h > self.cell_h and w > self.cell_w
        interp = cv2.INTER_NEAREST if nearest else (cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        x, y = self.cell_origin(row, col)
        self.pixels[y:y + self.cell_h, x:x + self.cell_w] = cv2.resize(rgb, (self.cell_w, self.cell_h),
                                                                        interpolation=interp)

    def figure(self) -> Figure:
        """A figure of exactly ``width`` x ``height`` pixels showing the canvas 1:1."""
        fig = Figure(figsize=(self.width / DPI, self.height / DPI), dpi=DPI)
        FigureCanvasAgg(fig)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.imshow(self.pixels, interpolation="none", aspect="auto")
        ax.set_axis_off()
        return fig

    def text(self, fig: Figure, x: float, y: float, s: str, **kwargs) -> None:
        """Figure text at pixel ``(x, y)`` (y down, as in the canvas)."""
        fig.text(x / self.width, 1 - y / self.height, s, **kwargs)

    def title(self, fig: Figure, row: int, col: int, s: str, fontsize: float = 7) -> None:
        x, y = self.cell_origin(row, col)
        self.text(fig, x + self.cell_w / 2, y - 3, s, ha="center", va="bottom", fontsize=fontsize)

    def axes_at(self, fig: Figure, x: float, y: float, w: float, h: float):
        """A matplotlib Axes over the pixel box ``(x, y, w, h)`` (e.g. for a colourbar)."""
        return fig.add_axes((x / self.width, 1 - (y + h) / self.height, w / self.width, h / self.height))
