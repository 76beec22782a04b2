"""Text that stays readable where the report shows a figure: at most the page width, tall ones capped in height.

A figure ``W`` pixels wide is shown at ``min(W, PAGE_WIDTH_PX)`` (and at most ``max_height_px`` tall), so a
``s``-point font renders at ``s * dpi / 72 * scale`` CSS pixels. :func:`font_pt` turns the wanted pixel size
into points for a figure's size; :func:`text_px` measures every text of a drawn figure the same way (tests).
"""

from __future__ import annotations

from matplotlib.figure import Figure

# the report's content width: `main { max-width:1240px; padding: ... 28px }` in report/templates/report.html.j2
PAGE_WIDTH_PX = 1240 - 2 * 28
TALL_MAX_PX = 1100  # `figure img.tall { max-height:1100px }`
MIN_TEXT_PX = 10.0

#: Okabe & Ito (2008), a palette colour-blind readers tell apart
OKABE_ITO = {"orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73", "yellow": "#F0E442", "blue": "#0072B2",
             "vermillion": "#D55E00", "purple": "#CC79A7", "black": "#000000"}


def display_scale(width_px: float, height_px: float, max_height_px: float | None = None,
                  page_px: float = PAGE_WIDTH_PX) -> float:
    """How much the page shrinks a ``width_px`` x ``height_px`` image (``<= 1``; images are not enlarged)."""
    s = min(1.0, page_px / max(width_px, 1.0))
    if max_height_px:
        s = min(s, max_height_px / max(height_px, 1.0))
    return s


def font_pt(width_px: float, height_px: float = 0.0, *, dpi: float = 100.0, max_height_px: float | None = None,
            px: float = MIN_TEXT_PX, at_least: float = 0.0) -> float:
    """The font size in points that renders at ``px`` CSS pixels (or more) on the report page."""
    scale = display_scale(width_px, height_px, max_height_px)
    return max(at_least, round(px * 72.0 / (dpi * scale) + 0.05, 1))


def text_px(fig: Figure, max_height_px: float | None = None, width_px: float | None = None,
            height_px: float | None = None) -> list[tuple[str, float]]:
    """``(text, rendered CSS px)`` for every visible, non-empty text of ``fig`` at report size.

    ``width_px``/``height_px``: the saved image's size when it differs from the figure's (``bbox_inches``).
    """
    from matplotlib.text import Text

    w = width_px if width_px is not None else fig.get_figwidth() * fig.dpi
    h = height_px if height_px is not None else fig.get_figheight() * fig.dpi
    scale = display_scale(w, h, max_height_px)
    out = []
    for t in fig.findobj(Text):
        if not t.get_visible() or not t.get_text().strip():
            continue
        if t.axes is not None and not t.axes.get_visible():
            continue
        out.append((t.get_text(), t.get_fontsize() * fig.dpi / 72.0 * scale))
    return out
