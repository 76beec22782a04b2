"""Plots that do not drop what the user asked for (issue 11 §4) and NaN rows in project/plot (§6)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from typer.testing import CliRunner

from yololens.analysis.projection import project
from yololens.analysis.synthetic import make_objects_table
from yololens.cli.app import app
from yololens.errors import StrictModeError
from yololens.figures import scatter as S
from yololens.figures.coloring import color_categories
from yololens.jobs import plot as P


@pytest.fixture()
def mixed(tmp_path):
    """gt and pred rows; emb_coef on pred rows only (as extract writes for seg models)."""
    make_objects_table(tmp_path, 240, coef=True, seed=7)
    return tmp_path


def test_layer_all_leaves_out_coef_with_a_note_and_keeps_gt(mixed):
    meta = pd.read_parquet(mixed / "objects.parquet", columns=["origin"])
    res = P.plot(mixed, "all", "pca", "origin", html=False)
    assert [p.column for p in res.projections] == ["emb_L9", "emb_L15"]
    assert res.n == len(meta)  # every gt object is drawn
    n_pred = int((meta.origin == "pred").sum())
    assert any(f"coef left out of 'all': only {n_pred:,} of {len(meta):,} objects" in n for n in res.notes)


def test_explicit_layers_say_how_many_objects_are_not_drawn(mixed):
    meta = pd.read_parquet(mixed / "objects.parquet", columns=["origin"])
    res = P.plot(mixed, "9,coef", "pca", "origin", html=False)
    n_gt = int((meta.origin == "gt").sum())
    assert res.n == len(meta) - n_gt
    assert res.notes == [f"{n_gt:,} objects are not drawn: every panel shows the same objects and they lack emb_coef"]
    out = CliRunner().invoke(app, ["plot", str(mixed), "--layer", "all", "--method", "pca", "--no-html"])
    assert out.exit_code == 0 and "note: coef left out of 'all'" in out.output


def test_thumbnails_in_small_multiples(mixed, monkeypatch):
    drawn = []
    real = S.add_thumbnails

    def spy(ax, coords, images, *a, **kw):
        chosen = real(ax, coords, images, *a, **kw)
        drawn.append(len(chosen))
        return chosen

    monkeypatch.setattr(S, "add_thumbnails", spy)
    P.plot(mixed, "all", "pca", "class_name", html=False, thumbnails=6)
    assert len(drawn) == 2 and all(1 <= n <= 6 for n in drawn)  # one call per panel, crops drawn on each


def test_small_multiples_figure_draws_thumbnails_on_every_panel():
    from matplotlib.offsetbox import AnnotationBbox

    rng = np.random.default_rng(0)
    col = color_categories(pd.Series(rng.choice(["a", "b"], 200)), "x")
    thumbs = [Image.new("RGB", (40, 30), (0, 0, 255))] * 200
    fig = S.small_multiples_figure([("A", rng.normal(size=(200, 2))), ("B", rng.normal(size=(200, 2)))], col,
                                   title="t", thumbnails=thumbs, max_thumbnails=10)
    per_axis = [sum(isinstance(a, AnnotationBbox) for a in ax.artists) for ax in fig.axes]
    assert len(per_axis) == 2 and all(3 <= n <= 10 for n in per_axis)


def test_project_and_plot_leave_out_nan_rows_with_a_line(tmp_path):
    make_objects_table(tmp_path, 200, write_images=False, seed=8)
    t = pq.read_table(tmp_path / "objects.parquet")
    X = np.asarray(t["emb_L9"].combine_chunks().flatten()).reshape(len(t), -1).copy()
    X[[4, 9, 11], 1] = np.nan
    t = t.set_column(t.schema.get_field_index("emb_L9"), "emb_L9",
                     pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), X.shape[1]))
    pq.write_table(t, tmp_path / "objects.parquet")
    res = project(tmp_path, 9, "pca")
    assert len(res) == 197 and res.skips == [f"{tmp_path / 'objects.parquet'}: emb_L9: 3 row(s) with NaN/inf values left out"]
    assert not set(res.object_ids) & set(t["object_id"].to_numpy()[[4, 9, 11]])
    assert project(tmp_path, 9, "pca", reuse=True).skips == res.skips  # a reused projection still says so
    with pytest.raises(StrictModeError, match="emb_L9: 3 row"):
        project(tmp_path, 9, "pca", strict=True, save=False)
    runner = CliRunner()
    out = runner.invoke(app, ["project", str(tmp_path), "--layer", "9", "--method", "pca"])
    assert out.exit_code == 1 and "emb_L9: 3 row(s) with NaN/inf values left out" in out.output
    out = runner.invoke(app, ["plot", str(tmp_path), "--layer", "9,15", "--method", "pca", "--no-html"])
    assert out.exit_code == 1 and "emb_L9: 3 row(s)" in out.output and "Traceback" not in out.output
    out = runner.invoke(app, ["plot", str(tmp_path), "--layer", "9", "--method", "pca", "--no-html", "--strict"])
    assert out.exit_code == 2 and "emb_L9: 3 row" in out.output
