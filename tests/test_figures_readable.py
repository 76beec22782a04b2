"""Figures people can read: every text renders at >= 10 px where the report shows the figure (page width,
tall figures capped in height), TP/FP/FN in Okabe-Ito colours, heatmaps on a perceptual colormap with a
colourbar, the PCA caption explained, the protos logit panel without border contours or colliding
colourbars, and the maps section on images spread over the source."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from yololens.figures import featuremaps as F
from yololens.figures import readable as R
from yololens.figures.coloring import color_categories
from yololens.figures.protos import image_masks_figure, zero_contour

TEMPLATE = Path(__file__).resolve().parents[1] / "yololens" / "report" / "templates" / "report.html.j2"


def _small(texts, limit=R.MIN_TEXT_PX):
    return [(t, round(px, 1)) for t, px in texts if px < limit - 1e-6]


def _rows(n_rows=5, n_tiles=4, hw=(720, 1280), seed=0):
    rng = np.random.default_rng(seed)
    h, w = hw
    th, tw = h // 4, w // 4
    return [F.OverviewRow(f"L{i} C2f\n64×48×80\nstride 8", rng.integers(0, 255, (th, tw, 3), dtype=np.uint8),
                          rng.integers(0, 255, (th, tw, 3), dtype=np.uint8),
                          [(c, rng.random((12, 20)).astype(np.float32)) for c in range(n_tiles)], [0.3, 0.19, 0.08])
            for i in range(n_rows)]


def test_page_width_matches_the_report_css():
    css = TEMPLATE.read_text()
    main = re.search(r"main \{ max-width:(\d+)px; margin:0 auto; padding:\d+px (\d+)px", css)
    assert main and R.PAGE_WIDTH_PX == int(main.group(1)) - 2 * int(main.group(2))
    assert f"figure img.tall {{ max-height:{R.TALL_MAX_PX}px" in css


def test_display_scale_and_font_pt():
    assert R.display_scale(2368, 500) == pytest.approx(0.5)
    assert R.display_scale(800, 2200, max_height_px=1100) == pytest.approx(0.5)
    assert R.display_scale(500, 300) == 1.0
    pt = R.font_pt(2368, dpi=100)  # half size on the page: 10 px needs 20 px = 14.4 pt
    assert pt == pytest.approx(14.4, abs=0.11) and pt * 100 / 72 * 0.5 >= 10


@pytest.mark.parametrize("hw,n_rows,n_tiles", [((720, 1280), 5, 4), ((480, 640), 3, 6), ((1280, 720), 8, 4)])
def test_overview_text_is_readable_in_the_report(hw, n_rows, n_tiles):
    fig = F.overview_figure(_rows(n_rows, n_tiles, hw), "frame.jpg — 1280×720 px", "channel mean", "energy")
    texts = R.text_px(fig, max_height_px=R.TALL_MAX_PX)
    assert _small(texts) == []
    assert any(t.startswith("c") and px >= 10 for t, px in texts)  # channel titles are measured too
    # the page shrinks every case here (before: 8 pt row labels and 7 pt titles rendered at 5.5-7 px)
    assert R.display_scale(fig.get_figwidth() * fig.dpi, fig.get_figheight() * fig.dpi, R.TALL_MAX_PX) < 0.95


def test_overview_heatmap_is_perceptual_with_colourbars_and_pca_explained():
    fig = F.overview_figure(_rows(), "t", "channel mean", "energy")
    assert F.HEAT_CMAP in ("inferno", "magma", "viridis", "cividis", "plasma")
    cmaps = [c.get_cmap().name for ax in fig.axes[1:] for c in ax.collections]  # the colourbars' mappables
    labels = [ax.get_ylabel() for ax in fig.axes[1:]]
    assert F.HEAT_CMAP in cmaps and F.TILE_CMAP in cmaps and "heatmap" in labels and "tiles" in labels
    text = " ".join(t.get_text() for t in fig.texts)
    assert "PCA→RGB 30%/19%/8%" in text and "share of the channels' variance" in text


def test_channel_grid_text_is_readable():
    crop = np.random.default_rng(1).random((64, 48, 80)).astype(np.float32)
    fig = F.channel_grid_figure(crop, np.arange(16), "frame.jpg — L4 C2f 64×48×80", "energy")
    assert _small(R.text_px(fig)) == []


def test_masks_figure_titles_readable_and_not_coloured():
    img = np.full((720, 1280, 3), 128, np.uint8)
    masks = [np.zeros((720, 1280), bool) for _ in range(5)]
    for k, m in enumerate(masks):
        m[100:300, 100 + 200 * k:250 + 200 * k] = True
    boxes = [np.array([100 + 200 * k, 100, 250 + 200 * k, 300], np.float32) for k in range(5)]
    fig = image_masks_figure(img, masks, boxes, [f"car 0.{9 - k}" for k in range(5)], retina_masks=True)
    assert _small(R.text_px(fig)) == []
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 5
    for ax in fig.axes:
        if ax.get_title():
            assert ax.title.get_color() == "black"  # was the mask's palette colour (yellow on white)


def test_zero_contour_leaves_out_the_border():
    import contourpy
    from matplotlib.figure import Figure

    yy, xx = np.mgrid[0:40, 0:60]
    arr = 9.0 - np.hypot(xx - 30, yy - 20)  # a disc of radius 9: one closed contour inside
    arr[5:30, -1] = 1.0  # the outermost column changes sign, as the prototypes' edge effect does
    raw = contourpy.contour_generator(z=arr).lines(0.0)
    assert len(raw) == 2  # matplotlib's contour draws the disc and a sliver along the right edge
    ax = Figure().add_subplot()
    lines = zero_contour(ax, arr, color="black")
    assert len(lines) == 1 and len(ax.lines) == 1
    r = np.hypot(lines[0][:, 0] - 30, lines[0][:, 1] - 20)
    assert np.abs(r - 9).max() < 0.6  # the disc's edge is still drawn, in full
    assert ax.lines[0].get_linestyle() == "-"
    assert ax.get_xlim() == (-0.5, 59.5) and ax.get_ylim() == (39.5, -0.5)


def test_status_and_origin_use_okabe_ito():
    st = color_categories(np.array(["TP", "FP", "FN", "TP"], dtype=object), "status")
    assert set(st.colors) <= set(R.OKABE_ITO.values())
    org = color_categories(np.array(["gt", "pred"], dtype=object), "origin")
    assert set(org.colors) <= set(R.OKABE_ITO.values())


def test_spread_indices_picks_first_last_and_between():
    from yololens.report.context import spread_indices

    assert spread_indices(100, 3) == [0, 50, 99]
    assert spread_indices(10, 4) == [0, 3, 6, 9]
    assert spread_indices(2, 3) == [0, 1]
    assert spread_indices(7, 1) == [0]


@pytest.mark.shared
def test_instance_figure_readable_and_colourbars_clear_of_the_next_panel(seg_weights, assets):
    from yololens.engine.runner import Runner
    from yololens.figures.protos import instance_figure
    from yololens.model import ultra
    from yololens.seg import decompose, instances_of
    from yololens.seg.common import seg_model

    lm = seg_model(str(seg_weights), "test", device="cpu")
    image = ultra.imread(str(assets / "zidane.jpg"))  # landscape: the panels fill their cells
    res = Runner(lm, imgsz=320, conf=0.25).run([image]).images[0]
    dec = decompose(instances_of(res, False), res.protos, 0, lm.names)
    fig = instance_figure(dec, image)
    assert _small(R.text_px(fig)) == []
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    renderer = fig.canvas.get_renderer()
    images = [ax for ax in fig.axes if ax.images and ax.get_label() != "<colorbar>"]
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(bars) >= 4
    for bar in bars:
        bb = bar.get_tightbbox(renderer)
        for ax in images:
            ab = ax.get_window_extent(renderer)
            if ab.x0 > bar.get_window_extent(renderer).x0:  # a panel to the right of this colourbar
                assert not (bb.x1 > ab.x0 and bb.y0 < ab.y1 and bb.y1 > ab.y0), (bb, ab)


def test_coefficient_heatmap_ticks_readable():
    import pandas as pd

    from yololens.analysis.coef_stats import ALL
    from yololens.figures.coef_figures import class_mean_figure

    classes = [ALL, "car", "person", "traffic light"]
    rng = np.random.default_rng(0)
    usage = pd.DataFrame([{"class_name": c, "prototype": k, "mean": rng.normal(), "n": 10 + i}
                          for i, c in enumerate(classes) for k in range(32)])
    fig = class_mean_figure(usage, classes[1:])
    texts = R.text_px(fig)
    assert any(t == "31" for t, _ in texts)  # the prototype ticks are measured
    assert _small(texts) == []
