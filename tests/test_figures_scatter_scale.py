"""The explorer at large N: above ``max_points`` a class-stratified sample is drawn over a log-density image of
every object, and the HTML stays under 25 MB at any N (a budget from measured bytes per point)."""

from __future__ import annotations

import base64
import gzip
from html import unescape

import numpy as np
import pandas as pd
import pytest

from test_figures_scatter import bokeh_sources
from yololens.analysis.synthetic import make_objects_table
from yololens.figures import explorer as E
from yololens.figures import scatter_html as H
from yololens.jobs.plot import plot

HTML_LIMIT = 25_000_000
CROP_BYTES = 2_500  # a 64 px hover crop as a JPEG data URI (measured ~1.3 KB on COCO photos)
IMAGE_BYTES = 30_000  # a 320 px whole image as a JPEG data URI (measured ~19 KB on COCO photos)


def test_density_image_counts_every_point():
    xy = np.random.default_rng(0).normal(size=(5000, 2))
    img, (x0, y0, dw, dh) = H.density_image(xy, bins=50)
    assert img.shape == (50, 50) and img.dtype == np.uint8
    H2, _, _ = np.histogram2d(xy[:, 0], xy[:, 1], bins=50, range=[[x0, x0 + dw], [y0, y0 + dh]])
    assert ((img > 0) == (H2.T > 0)).all()  # every occupied bin is drawn, rows are y
    assert img.max() == 255 and img[H2.T == H2.max()].min() == 255
    assert x0 == xy[:, 0].min() and np.isclose(x0 + dw, xy[:, 0].max())


def test_large_n_draws_a_stratified_sample_over_the_density(tmp_path):
    make_objects_table(tmp_path, 3000, n_images=30, write_images=False, seed=5,
                       class_weights=(60, 30, 5, 3, 1.5, 0.5))
    res = plot(tmp_path, 15, "pca", "class_name", hover_thumbnails=0, max_points=600)
    html = res.paths["html"].read_text()
    srcs = bokeh_sources(html)
    pts = next(s for s in srcs if "object_id" in s)
    assert len(pts["object_id"]) == 600
    meta = pd.read_parquet(tmp_path / "objects.parquet", columns=["object_id", "class_name"]).set_index("object_id")
    shown = meta.loc[list(pts["object_id"]), "class_name"]
    assert set(shown) == set(meta.class_name)  # the rarest class (0.5%) is still there
    dens = next(s for s in srcs if "image" in s and "object_id" not in s)
    enc = dens["image"][0]  # a list of one 2-D ndarray: {"type": "ndarray", "array": {"data": base64}, "shape"}
    raw = base64.b64decode(enc["array"]["data"])
    raw = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    img = np.frombuffer(raw, dtype=enc["dtype"]).reshape(enc["shape"])
    want, _ = H.density_image(res.projections[0].coords)  # all 3000 objects
    assert (img == want).all() and (img > 0).sum() > 500
    assert "600 of 3,000 objects drawn" in html and "density image underneath shows all 3,000" in html


def test_small_n_has_no_density_image(tmp_path):
    make_objects_table(tmp_path, 200, n_images=3, write_images=False, seed=5)
    html = plot(tmp_path, 15, "pca", "class_name", hover_thumbnails=0).paths["html"].read_text()
    assert not [s for s in bokeh_sources(html) if "image" in s and "object_id" not in s]
    assert "density image" not in html


@pytest.mark.parametrize("layers", ["15", "all"])
def test_html_budget_stays_under_25_mb_at_any_n(tmp_path, layers):
    """Size per drawn point, measured, times the cap. The images are as many as half the objects (a sample of
    150k from BDD100K's 1.8M boxes touches ~75k of its 100k images), so the per-image name tables count; with
    every stage (small multiples) the neighbour tables and images must not be copied into each panel."""
    make_objects_table(tmp_path, 3000, n_images=1500, write_images=False, seed=5)
    layer = [15, 9] if layers == "all" else 15
    size = plot(tmp_path, layer, "pca", "class_name", hover_thumbnails=0).paths["html"].stat().st_size
    base = plot(tmp_path, layer, "pca", "class_name", sample=100, hover_thumbnails=0).paths["html"].stat().st_size
    per_point = (size - base) / 2900
    stages = 2 if layers == "all" else 1
    cap = H.default_max_points(stages, hover_thumbnails=1000)
    assert cap == H.MAX_POINTS if stages == 1 else 100_000 < cap < H.MAX_POINTS
    worst = base + per_point * cap + 1000 * CROP_BYTES + E.MAX_IMAGES * IMAGE_BYTES
    assert worst < HTML_LIMIT, (per_point, worst)
    # the constants the cap is computed from hold what was measured here
    assert per_point <= H.POINT_BYTES + H.STAGE_POINT_BYTES * (stages - 1) and base <= H.BASE_BYTES


def test_interactive_rows_keep_every_kept_row_then_sample_the_rest():
    labels = np.array(["car"] * 900 + ["bus"] * 90 + ["train"] * 10, dtype=object)
    keep = np.zeros(1000, bool)
    keep[[5, 950, 991, 999]] = True
    rows = H.interactive_rows(labels, 100, seed=0, keep=keep)
    assert len(rows) == 100 and (np.diff(rows) > 0).all()
    assert set(np.flatnonzero(keep)) <= set(rows)
    assert set(labels[rows]) == {"car", "bus", "train"}
    many = np.ones(1000, bool)  # the kept rows alone exceed the cap: a stratified sample of them
    rows = H.interactive_rows(labels, 100, seed=0, keep=many)
    assert len(rows) == 100 and set(labels[rows]) == {"car", "bus", "train"}
    assert H.interactive_rows(labels, 1000, keep=keep) is None  # under the cap: everything is drawn


def test_keep_puts_every_matching_object_among_the_html_points(tmp_path):
    from typer.testing import CliRunner

    from yololens.cli.app import app

    make_objects_table(tmp_path, 3000, n_images=30, write_images=False, seed=5,
                       class_weights=(60, 30, 5, 3, 1.5, 0.5))
    meta = pd.read_parquet(tmp_path / "objects.parquet", columns=["object_id", "class_name", "score"])
    rare = meta.class_name.value_counts().index[-1]
    want = set(meta.object_id[(meta.class_name == rare) | (meta.score < 0.2)])
    assert 15 < len(want) < 400
    query = f"class_name == '{rare}' or score < 0.2"
    r = CliRunner().invoke(app, ["plot", str(tmp_path), "-l", "15", "--method", "pca", "--hover-thumbnails", "0",
                                 "--max-points", "400", "--keep", query])
    assert r.exit_code == 0, r.output
    html = (tmp_path / "figures" / "L15_pca.html").read_text()
    pts = next(s for s in bokeh_sources(html) if "object_id" in s)
    assert len(pts["object_id"]) == 400 and want <= set(pts["object_id"])
    shown = unescape(unescape(html))  # the note is HTML inside the document's JSON, which bokeh escapes again
    assert f"including all {len(want):,} objects where {query}" in shown

    bad = CliRunner().invoke(app, ["plot", str(tmp_path), "-l", "15", "--method", "pca", "--keep", "colour == 'red'"])
    assert bad.exit_code == 2 and "--keep \"colour == 'red'\"" in bad.output and "Traceback" not in bad.output
    assert len(bad.output.strip().splitlines()) == 1
    not_bool = CliRunner().invoke(app, ["plot", str(tmp_path), "-l", "15", "--method", "pca", "--keep", "score + 1"])
    assert not_bool.exit_code == 2 and "'score + 1' is not allowed in a filter" in not_bool.output  # issue 19
    zero = CliRunner().invoke(app, ["plot", str(tmp_path), "-l", "15", "--method", "pca", "--max-points", "0"])
    assert zero.exit_code == 2 and "--max-points" in zero.output


def test_density_raster_colours_every_point_by_its_class_mix():
    from yololens.figures.coloring import Coloring
    from yololens.figures.density import density_rgba

    rng = np.random.default_rng(0)
    n = 30_000
    a = rng.normal([0, 0], 0.3, size=(n, 2))  # class 0 alone on the left
    b = rng.normal([10, 0], 0.3, size=(n, 2))  # class 1 alone on the right
    mixed = rng.normal([5, 5], 0.3, size=(2 * n, 2))  # both classes, half each, at the top
    coords = np.vstack([a, b, mixed, [[np.nan, 1.0]]])
    codes = np.concatenate([np.zeros(n), np.ones(n), np.tile([0, 1], n), [0]]).astype(np.int16)
    col = Coloring("class_name", codes, ["car", "bus"], [2 * n, 2 * n], ["#ff0000", "#0000ff"])
    rgba, (x0, x1, y0, y1) = density_rgba(coords, col, px=300)
    assert rgba.dtype == np.uint8 and rgba.shape[2] == 4 and max(rgba.shape[:2]) == 300
    assert x0 < -1 and x1 > 11 and y0 < -1 and y1 > 6  # the NaN row is left out, every other point is inside

    def pixel(x, y):
        col_ = int((x - x0) / (x1 - x0) * (rgba.shape[1] - 1))
        row = int((y1 - y) / (y1 - y0) * (rgba.shape[0] - 1))  # row 0 at the top
        return rgba[row, col_]

    red, blue, mix, empty = pixel(0, 0), pixel(10, 0), pixel(5, 5), pixel(10, 6)
    assert red[3] > 200 and red[0] > 200 and red[2] < 30
    assert blue[3] > 200 and blue[2] > 200 and blue[0] < 30
    assert mix[3] > 200 and 80 < mix[0] < 180 and 80 < mix[2] < 180  # an even mix: between red and blue
    assert empty[3] == 0  # no point there: transparent


def test_static_plot_above_the_threshold_is_a_density_raster(tmp_path, monkeypatch):
    from PIL import Image

    from yololens.figures import density as D
    from yololens.figures import scatter as S

    make_objects_table(tmp_path, 2000, n_images=20, write_images=False, seed=5)
    monkeypatch.setattr(S, "DENSITY_MIN", 1000)
    drawn = []
    monkeypatch.setattr(S, "draw_density", lambda ax, coords, col: drawn.append(len(coords)) or
                        D.draw_density(ax, coords, col))
    png = plot(tmp_path, 15, "pca", "class_name", html=False).paths["png"]
    assert drawn == [2000]
    assert Image.open(png).size[0] > 500
