"""Static and interactive scatter figures, colours, thumbnails and their placement."""

from __future__ import annotations

import base64
import gzip
import json
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from yololens.analysis.synthetic import make_objects_table
from yololens.figures.coloring import color_categories
from yololens.jobs.plot import plot
from yololens.figures.thumbnails import CropLoader, greedy_place, to_data_uri


# ----------------------------------------------------------------------------------------- helpers


def bokeh_sources(html: str) -> list[dict]:
    """Decode every ColumnDataSource ``data`` map embedded in a bokeh standalone HTML file."""
    m = re.search(r'<script type="application/json" id="[^"]+">\s*(.*?)\s*</script>', html, re.S)
    assert m, "no embedded bokeh document"
    doc = json.loads(m.group(1))
    found: list[dict] = []

    def decode(v):
        if isinstance(v, dict) and v.get("type") == "ndarray":
            arr = v["array"]
            if isinstance(arr, list):
                return np.asarray(arr, dtype=object)
            raw = base64.b64decode(arr["data"])
            if raw[:2] == b"\x1f\x8b":
                raw = gzip.decompress(raw)
            return np.frombuffer(raw, dtype=np.dtype(v["dtype"]).newbyteorder("<" if v.get("order", "little") == "little" else ">"))
        return v

    for o in _dicts(doc):
        if o.get("name") == "ColumnDataSource" and "attributes" in o:
            found.append({k: decode(v) for k, v in o["attributes"]["data"]["entries"]})
    return found


def hover_lookups(html: str) -> dict[str, list[str]]:
    """``{"h__class_name": [names...], ...}``: the lookup tables the hover formatters read, from the document's one
    PageData model (and checks that it is there once: the tables are not copied per callback)."""
    m = re.search(r'<script type="application/json" id="[^"]+">\s*(.*?)\s*</script>', html, re.S)
    doc = json.loads(m.group(1))
    pages = [o for o in _dicts(doc) if str(o.get("name", "")).endswith("PageData") and "attributes" in o]
    assert len(pages) == 1, len(pages)
    names = pages[0]["attributes"]["names"]
    entries = names["entries"] if isinstance(names, dict) and "entries" in names else list(names.items())
    formatters = [o for o in _dicts(doc) if o.get("name") == "CustomJSHover"]
    # every text formatter reads the one table; the score formatter reads the score by index (a gt box: no "NaN")
    assert formatters and all("page.names[col]" in o["attributes"]["code"] or "special_vars.index" in
                              o["attributes"]["code"] for o in formatters)
    assert sum("page.names[col]" in o["attributes"]["code"] for o in formatters) == len(formatters) - 1
    return {f"h__{col}": values for col, values in entries}


def _dicts(o):
    """Every dict nested anywhere in a JSON document, depth first."""
    if isinstance(o, dict):
        yield o
        for v in o.values():
            yield from _dicts(v)
    elif isinstance(o, list):
        for v in o:
            yield from _dicts(v)


def image_stats(path):
    img = np.asarray(Image.open(path).convert("RGB"))
    colours = {tuple(c) for c in img.reshape(-1, 3)[:: 7]}
    return img, float(img.std()), colours


def has_colour(img, hexcol, tol=40, min_pixels=20):
    rgb = np.array([int(hexcol[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(img.astype(int) - rgb).sum(-1) < tol).sum()) >= min_pixels


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    d = tmp_path_factory.mktemp("scatter")
    make_objects_table(d, 240, n_images=5, seed=4)
    return d


# ----------------------------------------------------------------------------------------- colours


def test_color_categories_counts_other_and_missing():
    vals = pd.Series(["car"] * 50 + ["person"] * 30 + ["bus"] * 5 + [None] * 3 + [f"c{i}" for i in range(12)])
    col = color_categories(vals, "class_name", max_categories=5)
    assert col.labels[:4] == ["car", "person", "bus", "c0"]
    assert col.labels[4].startswith("other (11") and col.labels[-1] == "(none)"
    assert col.counts == [50, 30, 5, 1, 11, 3] and sum(col.counts) == len(vals)
    assert len(set(col.colors)) == len(col.colors)
    assert col.legend_labels()[0] == "car (50)"
    st = color_categories(pd.Series(["TP", "FP", "FN", "TP"]), "status")
    assert dict(zip(st.labels, st.colors)) == {"TP": "#009E73", "FP": "#D55E00", "FN": "#CC79A7"}  # Okabe-Ito
    num = color_categories(pd.Series(np.linspace(0, 1, 100)), "score", n_bins=4)
    assert len(num.labels) == 4 and num.counts == [25, 25, 25, 25]
    sb = color_categories(pd.Categorical(["large", "small", "small", "medium"]), "size_bin")
    assert sb.labels == ["small", "medium", "large"]


# ----------------------------------------------------------------------------------------- thumbnails


def test_greedy_place_never_overlaps():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 500, size=(2000, 2))
    idx = greedy_place(xy, (40, 30))
    assert 40 < len(idx) < 400
    p = xy[idx]
    dx = np.abs(p[:, None, 0] - p[None, :, 0])
    dy = np.abs(p[:, None, 1] - p[None, :, 1])
    overlap = (dx < 40) & (dy < 30)
    np.fill_diagonal(overlap, False)
    assert not overlap.any()
    assert len(greedy_place(xy, (40, 30), max_n=10)) == 10


def test_crop_loader_cuts_box_from_image_or_reads_crop(out, tmp_path):
    meta = pd.read_parquet(out / "objects.parquet", columns=["image", "x1", "y1", "x2", "y2"])
    loader = CropLoader(out, size=64, pad=0.0)
    row = meta.iloc[0].to_dict()
    im = loader.load(row)
    assert im is not None and max(im.size) == 64
    src = Image.open(out / row["image"]).convert("RGB")
    box = (int(np.floor(row["x1"])), int(np.floor(row["y1"])), int(np.ceil(row["x2"])), int(np.ceil(row["y2"])))
    ref = np.asarray(src.crop(box).resize(im.size), dtype=float)
    assert np.abs(np.asarray(im, dtype=float) - ref).mean() < 12
    # the crop column wins when its file exists
    Image.new("RGB", (30, 20), (255, 0, 0)).save(out / "red.jpg")
    red = loader.load({**row, "crop": "red.jpg"})
    assert np.asarray(red)[..., 0].mean() > 200 and np.asarray(red)[..., 1].mean() < 60
    # unreachable image -> None, not an error
    assert CropLoader(tmp_path).load({**row, "image": "nope/missing.jpg"}) is None
    uri = to_data_uri(im)
    assert uri.startswith("data:image/jpeg;base64,") and len(uri) < 6000


# ----------------------------------------------------------------------------------------- static


def test_static_plot_is_readable(out):
    res = plot(out, 15, "pca", "class_name", html=False, thumbnails=12)
    png = res.paths["png"]
    assert png.name == "L15_pca_class_name.png" and png.parent.name == "figures"
    img, std, colours = image_stats(png)
    assert std > 20 and len(colours) > 50
    from yololens.figures.coloring import color_categories as cc

    meta = pd.read_parquet(out / "objects.parquet", columns=["class_name"])
    col = cc(meta["class_name"], "class_name")
    assert sum(has_colour(img, c) for c in col.colors) >= 5  # every class colour is visible


def test_thumbnails_are_drawn_without_overlap(out):
    import matplotlib.pyplot as plt
    from matplotlib.offsetbox import AnnotationBbox

    from yololens.figures.scatter import scatter_figure

    rng = np.random.default_rng(0)
    coords = rng.normal(size=(300, 2))
    col = color_categories(pd.Series(rng.choice(["a", "b", "c"], 300)), "x")
    thumbs = [Image.new("RGB", (64, 48), (0, 0, 255))] * 300
    fig = scatter_figure(coords, col, title="t", thumbnails=thumbs, max_thumbnails=25)
    fig.canvas.draw()
    boxes = [a.get_window_extent() for a in fig.axes[0].artists if isinstance(a, AnnotationBbox)]
    assert 5 <= len(boxes) <= 25
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            assert not boxes[i].overlaps(boxes[j])
    plt.close(fig)


def test_svg_and_colour_by_status_and_size_bin(out):
    res = plot(out, 9, "pca", "status", fmt="svg", html=False)
    svg = res.paths["svg"].read_text()
    assert svg.startswith("<?xml") and "TP (" in svg and "FN (" in svg
    res = plot(out, 9, "pca", "size_bin", html=False)
    img, std, _ = image_stats(res.paths["png"])
    assert std > 10
    with pytest.raises(Exception, match="not a column"):
        plot(out, 9, "pca", "nope", html=False)


def test_small_multiples_png_and_linked_html(out):
    res = plot(out, "all", "pca", "class_name", hover_thumbnails=20)
    assert res.paths["png"].name == "stages_pca_class_name.png" and len(res.projections) == 2
    assert list(res.projections[0].object_ids) == list(res.projections[1].object_ids)
    img, std, _ = image_stats(res.paths["png"])
    assert std > 20 and img.shape[1] > img.shape[0]  # panels side by side
    html = res.paths["html"].read_text()
    srcs = [s for s in bokeh_sources(html) if "object_id" in s]
    assert len(srcs) == 1  # one shared source -> linked selection
    assert {"x0", "y0", "x1", "y1"} <= set(srcs[0])
    assert html.count('"output_backend": "webgl"') + html.count('"output_backend":"webgl"') >= 2


# ----------------------------------------------------------------------------------------- HTML


def test_html_holds_every_point_with_hover_data(out):
    res = plot(out, 15, "pca", "class_name", hover_thumbnails=30)
    html = res.paths["html"].read_text()
    meta = pd.read_parquet(out / "objects.parquet")
    for oid in meta["object_id"]:
        assert f'"{oid}"' in html
    src = next(s for s in bokeh_sources(html) if "object_id" in s)
    assert list(src["object_id"]) == list(meta["object_id"])  # same order as the projection (= table)
    assert len(src["x0"]) == len(meta) and np.isfinite(src["x0"]).all()
    # hover lookups decode back to the real values
    lookups = hover_lookups(html)
    for c in ("class_name", "image", "status", "attr_weather", "origin"):
        names = np.asarray(lookups[f"h__{c}"], dtype=object)
        decoded = names[src[f"h__{c}"].astype(int)]
        assert list(decoded) == [("" if v is None else str(v)) for v in meta[c]], c
    for c in ("class_name", "image", "status", "attr_weather"):
        assert f"@h__{c}{{custom}}" in html
    np.testing.assert_allclose(src["score"], meta["score"].to_numpy(dtype=np.float32), equal_nan=True)
    thumbs = [t for t in src["thumb"] if t]
    assert 20 <= len(thumbs) <= 30 and all(t.startswith("data:image/jpeg;base64,") for t in thumbs)
    # offline: inline BokehJS, no CDN scripts
    assert "cdn.bokeh.org" not in html and "Bokeh" in html
    # colour switching, selection export
    for opt in ("status", "origin", "size_bin", "attr_weather", "score"):
        assert f"c__{opt}" in src
    assert "Download selection (CSV)" in html and "text/csv" in html and "selected.indices" in html
    assert "c__' + opt" in html


def test_html_size_stays_reasonable(tmp_path):
    make_objects_table(tmp_path, 3000, n_images=30, write_images=False, seed=5)
    res = plot(tmp_path, 15, "pca", "class_name", hover_thumbnails=0)
    size = res.paths["html"].stat().st_size
    base = plot(tmp_path, 15, "pca", "class_name", sample=100, hover_thumbnails=0).paths["html"].stat().st_size
    per_point = (size - base) / 2900
    assert per_point < 120, per_point  # bytes per point; strings are lookups, numbers typed arrays
