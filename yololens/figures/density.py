"""Every point of a large scatter as one density raster coloured by category (datashader).

Above :data:`DENSITY_MIN` points a scatter only overplots: the commonest class paints over the rest and a
blob of 10,000 points looks like one of a million. datashader bins every point into a pixel grid per
category; a pixel's hue is the mix of its categories' colours weighted by their counts, and its opacity
follows the total count, histogram-equalised so that sparse and dense regions both show.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from yololens.figures.coloring import Coloring

DENSITY_MIN = 200_000  # points; at or below this the static figure draws every point as a dot
RASTER_PX = 900  # the raster's longer side, pixels
MIN_ALPHA = 60  # the opacity of a pixel holding one point (0-255): single outliers stay visible


def density_rgba(coords: np.ndarray, coloring: Coloring, *, px: int = RASTER_PX
                 ) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """``(H, W, 4)`` uint8 RGBA raster of ``coords`` ``(N, 2)`` coloured by ``coloring`` (row 0 at the top) and its
    ``(x0, x1, y0, y1)`` extent in data units; non-finite rows are left out. Pixels hold square data cells."""
    import datashader as ds
    import datashader.transfer_functions as tf

    xy = np.asarray(coords, np.float64)
    ok = np.isfinite(xy).all(axis=1)
    xy, codes = xy[ok], np.asarray(coloring.codes)[ok]
    if len(xy) == 0:
        return np.zeros((1, 1, 4), np.uint8), (0.0, 1.0, 0.0, 1.0)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    pad = span * 0.01  # the extreme points land inside the grid, not on its edge
    lo, hi, span = lo - pad, hi + pad, span + 2 * pad
    w = px if span[0] >= span[1] else max(1, int(round(px * span[0] / span[1])))
    h = px if span[1] > span[0] else max(1, int(round(px * span[1] / span[0])))
    k = len(coloring.labels)
    frame = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1],
                          "c": pd.Categorical.from_codes(np.clip(codes, 0, k - 1), categories=list(range(k)))})
    canvas = ds.Canvas(plot_width=w, plot_height=h, x_range=(lo[0], hi[0]), y_range=(lo[1], hi[1]))
    agg = canvas.points(frame, "x", "y", ds.count_cat("c"))
    img = tf.shade(agg, color_key=list(coloring.colors), how="eq_hist", min_alpha=MIN_ALPHA)
    rgba = np.asarray(img.to_pil().convert("RGBA"))
    return rgba, (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))


def draw_density(ax, coords: np.ndarray, coloring: Coloring) -> None:
    """Draw :func:`density_rgba` on ``ax`` (equal aspect, no ticks) with a one-line note of what it shows."""
    rgba, (x0, x1, y0, y1) = density_rgba(coords, coloring)
    ax.imshow(rgba, extent=(x0, x1, y0, y1), origin="upper", interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_aspect("equal", adjustable="datalim")
    ax.text(0.01, 0.01, f"all {len(coords):,} points as a density raster: hue = class mix, opacity = count "
                        "(histogram-equalised)", transform=ax.transAxes, fontsize=7, color="#555", va="bottom")
