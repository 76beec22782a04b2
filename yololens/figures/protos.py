"""Prototype-mask figures: one instance's full decomposition, one image's masks, one prototype.

The prototype and contribution grids are drawn as a single mosaic image each (one Axes,
text labels on top), because 2 x 32 separate Axes take seconds to lay out per figure.
All panels show the original-image part of the letterboxed grid (padding removed).
"""

from __future__ import annotations

import math

import matplotlib
import numpy as np
from matplotlib.colors import Normalize, TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from yololens.figures.readable import font_pt
from yololens.model import ultra
from yololens.seg.decompose import MaskDecomposition

COLS = 8  # prototypes per mosaic row (the seed's 4 x 8 layout for nm = 32)
GAP = 0.06  # gap between mosaic tiles, as a fraction of a tile's width
WIDTH_IN = 16.0
DPI = 100
PALETTE = np.array([[230, 25, 75], [60, 180, 75], [0, 130, 200], [245, 130, 48], [145, 30, 180], [70, 240, 240],
                    [240, 50, 230], [210, 245, 60], [250, 190, 212], [0, 128, 128], [170, 110, 40], [128, 0, 0]],
                   dtype=np.float32) / 255.0


def _mosaic(maps: np.ndarray, cols: int) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """``(n, h, w)`` -> one ``(H, W)`` array with NaN gaps, plus each tile's top-left ``(x, y)``."""
    n, h, w = maps.shape
    rows = math.ceil(n / cols)
    g = max(1, int(round(GAP * w)))
    out = np.full((rows * h + (rows - 1) * g, cols * w + (cols - 1) * g), np.nan, np.float32)
    origins = []
    for i in range(n):
        y, x = (i // cols) * (h + g), (i % cols) * (w + g)
        out[y:y + h, x:x + w] = maps[i]
        origins.append((x, y))
    return out, origins


def _normalise_each(maps: np.ndarray) -> np.ndarray:
    """Scale each map to 0..1 on its own range (flat maps become 0.5)."""
    lo = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - lo
    return np.where(span > 0, (maps - lo) / np.where(span > 0, span, 1), 0.5).astype(np.float32)


def _sym_limit(values: np.ndarray) -> float:
    lim = float(np.nanmax(np.abs(values))) if values.size else 0.0
    return lim if lim > 0 else 1.0


def _mosaic_axes(fig: Figure, ax, maps: np.ndarray, titles: list[str], cmap: str, norm, title: str,
                 colorbar: str | None, pt: float = 8) -> None:
    mosaic, origins = _mosaic(maps, COLS)
    cmap_obj = matplotlib.colormaps[cmap].with_extremes(bad="white")
    im = ax.imshow(np.ma.masked_invalid(mosaic), cmap=cmap_obj, norm=norm, interpolation="nearest")
    for (x, y), text in zip(origins, titles):
        ax.text(x + 1, y + 1, text, fontsize=pt, va="top", ha="left", color="black",
                bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.75})
    ax.set_title(title, fontsize=pt * 1.2, loc="left")
    _bare(ax)
    if colorbar:
        bar = fig.colorbar(im, ax=ax, fraction=0.02, pad=0.01)
        bar.set_label(colorbar, fontsize=pt)
        bar.ax.tick_params(labelsize=pt)


def zero_contour(ax, arr: np.ndarray, **kw) -> list[np.ndarray]:
    """Draw the 0-level contour of ``arr`` ``(h, w)`` (pixel centres at integer coordinates) as solid lines.

    Lines that never go further than one cell from the array's border are left out: they trace the
    prototypes' edge effect (the outermost row or column changing sign), not a mask boundary, and drew a
    stray edge along the panel's frame. Returns the ``(k, 2)`` x, y vertex arrays drawn.
    """
    import contourpy

    h, w = arr.shape
    kept = []
    for line in contourpy.contour_generator(z=np.asarray(arr, np.float64)).lines(0.0):
        inset = np.minimum.reduce([line[:, 0], w - 1 - line[:, 0], line[:, 1], h - 1 - line[:, 1]])
        if inset.max() > 1.0:
            kept.append(line)
    for line in kept:
        ax.plot(line[:, 0], line[:, 1], linestyle="-", **kw)
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    return kept


def _bare(ax) -> None:
    """No ticks or frame (cheaper than ``axis("off")``, whose hidden ticks still get laid out)."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_frame_on(False)


def _rgb(image_bgr: np.ndarray) -> np.ndarray:
    return image_bgr[..., ::-1]


def _to_original(mask: np.ndarray, retina: bool, orig_shape: tuple[int, int]) -> np.ndarray:
    """A final mask on the original-image grid: retina masks already are; default-path
    masks are un-letterboxed with Ultralytics' ``scale_masks`` (as its plotting does)."""
    if retina:
        return mask.astype(bool)
    import torch

    scaled = ultra.scale_masks(torch.from_numpy(mask)[None, None].float(), orig_shape)[0, 0]
    return (scaled > 0.5).numpy()


def _overlay(ax, image_bgr: np.ndarray, masks: list[np.ndarray], boxes: list[np.ndarray], labels: list[str],
             pt: float = 9) -> None:
    rgb = _rgb(image_bgr).astype(np.float32) / 255.0
    for k, mask in enumerate(masks):
        color = PALETTE[k % len(PALETTE)]
        rgb[mask] = 0.45 * rgb[mask] + 0.55 * color
    ax.imshow(rgb)
    for k, (box, label) in enumerate(zip(boxes, labels)):
        color = PALETTE[k % len(PALETTE)]
        x1, y1, x2, y2 = (float(v) for v in box)
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec=color, lw=2))
        ax.text(x1, y1, label, fontsize=pt, color="white" if color.mean() < 0.6 else "black", va="bottom",
                bbox={"boxstyle": "square,pad=0.15", "fc": color, "ec": "none"})
    _bare(ax)


def _clamp_aspect(ratio: float, limit: float = 4.0) -> float:
    """Height/width used to size a figure; extreme images (1×8000 px) must not make a 1e6-px canvas."""
    return min(max(ratio, 1 / limit), limit)


def _proto_box(ax, dec: MaskDecomposition) -> None:
    """Draw the box on an un-letterboxed prototype-resolution panel (cell units)."""
    x1, y1, x2, y2 = dec.grid.box_to_cells(dec.box_lb)
    ox, oy = dec.grid.cols[0], dec.grid.rows[0]
    ax.add_patch(Rectangle((x1 - ox - 0.5, y1 - oy - 0.5), x2 - x1, y2 - y1, fill=False, ec="lime", lw=1.2))


def instance_figure(dec: MaskDecomposition, image_bgr: np.ndarray, order: str = "abs",
                    shared_scale: bool = False, title: str | None = None) -> Figure:
    """Every step of one instance's mask, from the prototypes to the final mask on the image.

    Sections: (a) the ``nm`` prototypes titled ``#k c=...`` (sorted by ``|c|`` or by index;
    each on its own colour range, or one shared range); (b) the signed contributions
    ``c_k P_k`` on RdBu_r with symmetric limits shared by all; (c) positive and negative
    sums, logit (0-contour), sigmoid; (d) crop to the box, binary mask at prototype
    resolution, Ultralytics' final mask, and the final mask over the original image.
    """
    idx = dec.order(order)
    protos = dec.unletterbox(dec.prototypes)[idx]
    contrib = dec.unletterbox(dec.contributions)[idx]
    labels = [f"#{k}  c={dec.coefficients[k]:+.2f}" for k in idx]
    h, w = protos.shape[1:]
    rows = math.ceil(len(idx) / COLS)
    mosaic_ratio = _clamp_aspect((rows * h * (1 + GAP)) / (COLS * w * (1 + GAP)))
    grid_h = WIDTH_IN * 0.9 * mosaic_ratio + 0.45  # mosaic plus its title band (inches)
    cell_h = (WIDTH_IN / 4) * 0.75 * _clamp_aspect(h / w) + 0.55
    height = 2 * grid_h + 2 * cell_h + 1.2
    fig = Figure(figsize=(WIDTH_IN, height), dpi=DPI)
    pt = font_pt(WIDTH_IN * DPI, dpi=DPI, at_least=8)
    # Fixed margins instead of constrained layout: that layout costs seconds on 40 artists. The wide
    # column gap keeps each colourbar's tick labels clear of the next panel.
    gs = fig.add_gridspec(4, 4, height_ratios=[grid_h, grid_h, cell_h, cell_h], left=0.01, right=0.95,
                          bottom=0.01, top=1 - 0.9 / height, hspace=0.16, wspace=0.32)

    if shared_scale:
        proto_maps, proto_norm, proto_cbar = protos, Normalize(float(protos.min()), float(protos.max())), "P_k"
    else:
        proto_maps, proto_norm, proto_cbar = _normalise_each(protos), Normalize(0, 1), None
    scale_note = "shared colour scale" if shared_scale else "each scaled to its own min..max"
    order_note = "sorted by |c|" if order == "abs" else "by index"
    _mosaic_axes(fig, fig.add_subplot(gs[0, :]), proto_maps, labels, "viridis", proto_norm,
                 f"(a) prototypes P_k, {order_note} ({scale_note})", proto_cbar, pt)
    lim = _sym_limit(contrib)
    _mosaic_axes(fig, fig.add_subplot(gs[1, :]), contrib, labels, "RdBu_r", Normalize(-lim, lim),
                 "(b) contributions c_k·P_k (red adds to the mask, blue removes)", "c_k·P_k", pt)

    pos, neg, logit = (dec.unletterbox(a) for a in (dec.positive, dec.negative, dec.logit))
    lim = _sym_limit(np.concatenate([pos.ravel(), neg.ravel()]))
    panels = [
        ("(c) positive sum Σ max(c_k P_k, 0)", pos, "Reds", Normalize(0, lim)),
        ("(c) negative sum Σ min(c_k P_k, 0)", neg, "Blues_r", Normalize(-lim, 0)),
        ("(d) logit = positive + negative", logit, "RdBu_r", TwoSlopeNorm(0, -_sym_limit(logit), _sym_limit(logit))),
        ("(d) sigmoid(logit)", dec.unletterbox(dec.sigmoid), "magma", Normalize(0, 1)),
        ("(d) sigmoid cropped to the box", dec.unletterbox(dec.cropped), "magma", Normalize(0, 1)),
        ("(d) binary mask (logit > 0, in box)", dec.unletterbox(dec.mask_proto), "gray", Normalize(0, 1)),
    ]
    for j, (name, arr, cmap, norm) in enumerate(panels):
        ax = fig.add_subplot(gs[2 + j // 4, j % 4])
        im = ax.imshow(arr, cmap=cmap, norm=norm, interpolation="nearest")
        if j == 2:
            zero_contour(ax, arr, color="black", linewidth=0.8)
        if j >= 3:
            _proto_box(ax, dec)
        ax.set_title(name, fontsize=pt)
        _bare(ax)
        if j < 4:
            bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
            bar.ax.tick_params(labelsize=pt)

    orig_shape = tuple(image_bgr.shape[:2])
    final = _to_original(dec.final_mask, dec.retina_masks, orig_shape)
    ax = fig.add_subplot(gs[3, 2])
    ax.imshow(final, cmap="gray", interpolation="nearest")
    res = "original" if dec.retina_masks else "letterboxed input, shown un-letterboxed"
    ax.set_title(f"(d) final mask ({res})\n{int(dec.final_mask.sum())} px", fontsize=pt)
    _bare(ax)
    _overlay(fig.add_subplot(gs[3, 3]), image_bgr, [final], [dec.box], [f"{dec.class_name} {dec.score:.2f}"], pt)
    fig.axes[-1].set_title("(e) final mask on the image", fontsize=pt)
    fig.suptitle(title or f"instance {dec.instance}: {dec.class_name} {dec.score:.2f}  "
                 f"(logit = Σ c_k P_k, {dec.nm} prototypes)", fontsize=pt * 1.4, y=1 - 0.2 / height)
    return fig


def image_masks_figure(image_bgr: np.ndarray, masks: list[np.ndarray], boxes: list[np.ndarray], labels: list[str],
                       retina_masks: bool, title: str = "") -> Figure:
    """All instances of one image: every final mask over the image, then one panel per mask."""
    orig_shape = tuple(image_bgr.shape[:2])
    full = [_to_original(m, retina_masks, orig_shape) for m in masks]
    n = len(full)
    cols = min(4, max(n, 1))
    rows = math.ceil(n / cols) if n else 0
    aspect = _clamp_aspect(orig_shape[0] / orig_shape[1])
    height = 9 * aspect + rows * 3 * aspect + 1.0
    fig = Figure(figsize=(12, height), dpi=DPI)
    pt = font_pt(12 * DPI, height * DPI, dpi=DPI, at_least=9)
    gs = fig.add_gridspec(1 + rows, cols, height_ratios=[3.0] + [1.0] * rows, left=0.01, right=0.99,
                          bottom=0.01, top=1 - 0.6 / height, hspace=0.2, wspace=0.05)
    _overlay(fig.add_subplot(gs[0, :]), image_bgr, full, boxes, labels, pt)
    for k, (mask, label) in enumerate(zip(full, labels)):
        ax = fig.add_subplot(gs[1 + k // cols, k % cols])
        # the mask in its overlay colour on black; the title stays black on white (coloured text is unreadable)
        ax.imshow(mask[..., None] * PALETTE[k % len(PALETTE)], interpolation="nearest")
        ax.set_title(f"{k}: {label} ({int(mask.sum())} px)", fontsize=pt, color="black")
        _bare(ax)
    fig.suptitle(title or f"{n} instance mask(s)", fontsize=pt * 1.3)
    return fig


def prototype_figure(prototype: np.ndarray, index: int, weights: list[tuple[str, float]], title: str = "") -> Figure:
    """One prototype (un-letterboxed ``(h, w)``) titled with each instance's weight for it (the seed's PNG)."""
    h, w = prototype.shape
    fig = Figure(figsize=(6, 6 * _clamp_aspect(h / w) + 1.2), dpi=DPI, layout="constrained")  # one Axes: cheap
    ax = fig.add_subplot()
    im = ax.imshow(prototype, cmap="viridis", interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02).ax.tick_params(labelsize=10)
    shown = ", ".join(f"{name} {c:+.3f}" for name, c in weights[:6]) or "no instances"
    more = f" (+{len(weights) - 6} more)" if len(weights) > 6 else ""
    ax.set_title(f"{title}prototype {index} — weight: {shown}{more}", fontsize=10, wrap=True)
    _bare(ax)
    return fig
