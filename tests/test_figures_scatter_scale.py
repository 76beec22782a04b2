"""The explorer at large N: above ``max_points`` a class-stratified sample is drawn over a log-density image of
every object, and the HTML stays under 25 MB at any N (a budget from measured bytes per point)."""

from __future__ import annotations

import base64
import gzip

import numpy as np
import pandas as pd

from test_figures_scatter import bokeh_sources
from yololens.analysis.synthetic import make_objects_table
from yololens.figures import explorer as E
from yololens.figures import scatter_html as H
from yololens.figures.scatter import plot

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


def test_html_budget_stays_under_25_mb_at_any_n(tmp_path):
    make_objects_table(tmp_path, 3000, n_images=30, write_images=False, seed=5)
    size = plot(tmp_path, 15, "pca", "class_name", hover_thumbnails=0).paths["html"].stat().st_size
    base = plot(tmp_path, 15, "pca", "class_name", sample=100, hover_thumbnails=0).paths["html"].stat().st_size
    per_point = (size - base) / 2900
    worst = base + per_point * H.MAX_POINTS + 1000 * CROP_BYTES + E.MAX_IMAGES * IMAGE_BYTES
    assert worst < HTML_LIMIT, (per_point, worst)
