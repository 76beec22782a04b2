"""End to end through the CLI (typer CliRunner): project -> plot -> stages on a synthetic objects table."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from yololens.analysis.synthetic import make_objects_table
from yololens.cli import cmd_project


@pytest.fixture(scope="module")
def app():
    a = typer.Typer()
    cmd_project.register(a)
    return a


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli") / "run"
    make_objects_table(d, 220, n_images=4, seed=9)  # emb_L9 noise, emb_L15 separable, real JPEGs
    return d


def run(app, *args):
    res = CliRunner().invoke(app, [str(a) for a in args])
    return res.exit_code, res.output


def test_project_tsne_is_reproducible(app, out):
    code, text = run(app, "project", out, "--layer", 15, "--method", "tsne", "--seed", 1, "--n-iter", 50, "-j", 1)
    assert code == 0, text
    assert "emb_L15: 220 objects" in text and "L15_tsne.parquet" in text
    first = pq.read_table(out / "projections" / "L15_tsne.parquet")
    code, _ = run(app, "project", out, "--layer", 15, "--method", "tsne", "--seed", 1, "--n-iter", 50, "-j", 1)
    assert code == 0
    again = pq.read_table(out / "projections" / "L15_tsne.parquet")
    assert first.equals(again)
    side = json.loads((out / "projections" / "L15_tsne.json").read_text())
    assert side["params"]["seed"] == 1 and side["params"]["n_iter"] == 50 and side["method"] == "tsne"


def test_project_sample_origin_all_layers(app, out):
    code, text = run(app, "project", out, "--layer", "all", "--method", "pca", "--sample", 40, "--origin", "pred")
    assert code == 0, text
    for stage in ("L9", "L15"):
        t = pq.read_table(out / "projections" / f"{stage}_pca_pred.parquet").to_pandas()
        assert len(t) == 40 and all(np.isfinite(t[["x", "y"]]).all())


def test_plot_png_html_and_thumbnails(app, out):
    code, text = run(app, "plot", out, "--layer", 15, "--method", "pca", "--color", "class_name",
                     "--thumbnails", 15, "--hover-thumbnails", 25)
    assert code == 0, text
    png = out / "figures" / "L15_pca_class_name.png"
    html = out / "figures" / "L15_pca.html"
    assert f"png: {png}" in text and f"html: {html}" in text
    img = np.asarray(Image.open(png).convert("RGB"))
    assert img.std() > 20 and len({tuple(c) for c in img.reshape(-1, 3)[::5]}) > 100
    doc = html.read_text()
    ids = pd.read_parquet(out / "objects.parquet", columns=["object_id"])["object_id"]
    assert all(f'"{i}"' in doc for i in ids)
    assert doc.count("data:image/jpeg;base64,") >= 20


def test_plot_small_multiples_and_colour_columns(app, out):
    code, text = run(app, "plot", out, "--layer", "all", "--method", "pca", "--color", "attr_weather", "--no-html")
    assert code == 0, text
    assert (out / "figures" / "stages_pca_attr_weather.png").is_file()
    assert not (out / "figures" / "stages_pca.html").exists()
    for colour in ("status", "size_bin", "origin", "score"):
        code, text = run(app, "plot", out, "--layer", 9, "--method", "pca", "--color", colour, "--no-html")
        assert code == 0, text


def test_stages_report(app, out):
    code, text = run(app, "stages", out, "--sample", 200, "--bootstrap", 100)
    assert code == 0, text
    assert text.startswith("Verdict: use L15") and "stages.csv" in text and "stages.csv" in text
    df = pd.read_csv(out / "stages.csv")
    assert list(df["stage"]) == ["L9", "L15"]
    assert df.loc[1, "knn_acc"] > 0.95 and df.loc[0, "knn_acc"] < 0.45
    assert (out / "stages.md").read_text().startswith("# Stage report")
    assert Image.open(out / "stages.png").size[0] > 600


def test_stages_label_option_and_tiny_classes(app, out):
    code, text = run(app, "stages", out, "--label", "attr_weather", "--bootstrap", 50, "--layer", "9,15",
                     "--sample", 100)
    assert code == 0, text
    assert "classes of 'attr_weather'" in text
    code, text = run(app, "stages", out, "--min-class-count", 1000, "--bootstrap", 50)
    assert code == 1 and text.startswith("not enough objects to compare stages:") and "need >= 1000 in >= 2" in text


def test_errors_are_one_line(app, out, tmp_path):
    code, text = run(app, "project", out, "--layer", 21, "--method", "pca")
    assert code == 2 and "no embedding column 'emb_L21'" in text and "Traceback" not in text
    code, text = run(app, "plot", tmp_path, "--layer", 9)
    assert code == 2 and "no objects table" in text
    code, text = run(app, "project", out, "--method", "isomap")
    # a value outside the choices (the Method enum) gets Typer's own error
    assert code == 2 and "Invalid value for '--method'" in text and "'isomap' is not one of" in text
    code, text = run(app, "stages", out, "--label", "nope")
    assert code == 2 and "label column 'nope'" in text
