"""Notebook use (issue 14 §3): inline reprs, short text reprs, ``res.embeddings()``, the public ``dir(yololens)``,
``yololens.report`` as the README shows it, and t-SNE/UMAP progress bars."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import yololens
from yololens.analysis.projection import Projector, project
from yololens.jobs.stages import stages
from yololens.jobs.extract import ExtractResult
from yololens.jobs.plot import plot
from yololens.jobs.protos import ProtosPage, ProtosResult
from yololens.report.build import ReportResult
from yololens.report.context import Section
from yololens.types import SectionStatus

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run(synthetic_run):
    return synthetic_run


def _stacked(run, col, origin=None):
    df = pq.read_table(run / "objects.parquet").to_pandas()
    if origin:
        df = df[df["origin"] == origin]
    return np.stack(df[col].to_numpy()).astype(np.float32), df["object_id"].to_numpy()


# ------------------------------------------------------------------------------------------- the package


def test_dir_lists_only_the_public_api():
    names = dir(yololens)
    for private in ("annotations", "importlib", "_API", "_RENAMED", "_importlib"):
        assert private not in names
    for public in ("extract", "report", "build_report", "ExtractResult", "to_fiftyone", "export_tensorboard",
                   "export_fiftyone", "__version__"):
        assert public in names
    for name in names:  # every listed name resolves
        assert getattr(yololens, name) is not None


def test_report_is_reachable_as_the_readme_shows():
    """``import yololens`` then ``yololens.report.build_report`` (a fresh interpreter: nothing imported before)."""
    code = "import yololens, inspect; f = yololens.report.build_report; print(inspect.signature(f).parameters['out'])"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("out")


# ------------------------------------------------------------------------------------- text reprs, arrays


def test_extract_result_repr_is_short_and_names_the_table(run):
    manifest = {"skipped": [{"file": f"img{i}.jpg", "reason": "x"} for i in range(500)], "counts": {"objects": 240}}
    res = ExtractResult(out=run, table_path=run / "objects.parquet", manifest=manifest, images_done=5, objects=240)
    text = repr(res)
    assert len(text.splitlines()) <= 6 and len(text) < 800, text
    assert "240 objects from 5 images" in text
    assert "objects.parquet (240 rows)" in text
    assert "emb_L9 (16), emb_L15 (32), emb_coef (32)" in text
    assert "img499.jpg" not in text  # the manifest is not printed
    empty = ExtractResult(out=run, table_path=None, manifest={})
    assert "none (no objects)" in repr(empty)


def test_embeddings_returns_float32_array_with_row_keys(run):
    res = ExtractResult(out=run, table_path=run / "objects.parquet", manifest={})
    X, ids = res.embeddings("L9")
    want, want_ids = _stacked(run, "emb_L9")
    assert X.dtype == np.float32 and X.shape == (240, 16) and X.flags.c_contiguous
    np.testing.assert_array_equal(X, want)
    assert list(ids) == list(want_ids)
    # null rows are left out (emb_coef exists on predictions only), keys still aligned
    emb = res.embeddings("coef")
    want, want_ids = _stacked(run, "emb_coef", origin="pred")
    assert emb.array.shape == (len(want_ids), 32) and emb.column == "emb_coef"
    np.testing.assert_array_equal(emb.array, want)
    assert list(emb.object_ids) == list(want_ids)
    assert res.embeddings(15).array.shape == (240, 32)


def test_projection_repr_does_not_list_object_ids(run):
    res = project(run, 9, "pca", save=False)
    text = repr(res)
    assert text.startswith("ProjectionResult: L9 pca, 240 objects")
    assert res.object_ids[5] not in text and len(text) < 400


# ---------------------------------------------------------------------------------------- inline display


def test_plot_result_shows_the_bokeh_page_and_the_png(run):
    res = plot(run, 9, "pca", hover_thumbnails=0)
    html = res._repr_html_()
    assert html.startswith("<iframe") and "srcdoc=" in html
    page = Path(res.paths["html"]).read_text(encoding="utf-8")
    assert "Bokeh" in page and "&lt;html" in html.lower()  # the written page, escaped into srcdoc
    # not a fixed 640 px box: as wide as the output, most of the window high, resizable, the page linked
    style = html[: html.index("srcdoc=")]
    assert "width:100%" in style and "height:85vh" in style and "resize:vertical" in style and "640px;" not in style.replace("min-height:640px;", "")
    assert "Full window:" in html and Path(res.paths["html"]).name in html[html.index("Full window:"):]
    assert res._repr_png_() == Path(res.paths["png"]).read_bytes()
    assert res._repr_png_().startswith(PNG_MAGIC)
    assert "PlotResult: 240 objects, 1 panel(s)" in repr(res)


def test_stage_report_shows_table_and_chart(run):
    rep = stages(run, n_boot=20, trust_sample=60)
    html = rep._repr_html_()
    assert "<table>" in html and "data:image/png;base64," in html
    for stage in rep.table["stage"]:
        assert f"<td>{stage}</td>" in html
    assert f"{rep.table['knn_acc'].iloc[0]:.3f}" in html
    r = rep.table.iloc[0]  # each metric with its interval
    assert f"{r['knn_acc']:.3f} [{r['knn_acc_lo']:.3f}, {r['knn_acc_hi']:.3f}]" in html and "95% interval" in html
    assert rep._repr_png_() == Path(rep.paths["chart"]).read_bytes()
    assert f"best: {rep.best}" in repr(rep)


def test_report_result_links_the_page(tmp_path):
    index = tmp_path / "index.html"
    index.write_text("<html></html>")
    sections = {"maps": Section(key="maps", title="Stage feature maps", status=SectionStatus.OK),
                "seg": Section(key="seg", title="Seg internals", status=SectionStatus.FAILED, note="boom")}
    res = ReportResult(out=tmp_path, index=index, sections=sections, manifest={"counts": {"objects": 7}, "big": "x" * 5000})
    html = res._repr_html_()
    assert "index.html" in html and "<a href=" in html
    assert "<td>Stage feature maps</td><td>ok</td>" in html and "<td>Seg internals</td><td>failed</td>" in html
    assert repr(res) == res.summary() and "x" * 100 not in repr(res)


def test_protos_result_shows_the_masks_figure(tmp_path):
    from PIL import Image

    png = tmp_path / "masks.png"
    Image.new("RGB", (8, 6), (200, 10, 10)).save(png)
    res = ProtosResult(out=tmp_path, images=1, instances=2, pages={"a.jpg": ProtosPage(tmp_path, png, 2)})
    assert res._repr_png_() == png.read_bytes()
    assert "data:image/png;base64," in res._repr_html_() and "1 image(s), 2 instance(s)" in res._repr_html_()
    assert ProtosResult(out=tmp_path)._repr_png_() is None
    assert repr(res) == res.summary()


# ----------------------------------------------------------------------------------------------- progress


def test_tsne_shows_progress_without_changing_coordinates(capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 8)).astype(np.float32)
    # kl_tol=None: all 50 normal iterations run (the KL stop would end them early), so the bar must count 70
    quiet = Projector("tsne", n_iter=50, exaggeration_iter=20, n_jobs=1, kl_tol=None).fit_transform(X)
    assert "t-SNE" not in capsys.readouterr().err
    loud = Projector("tsne", n_iter=50, exaggeration_iter=20, n_jobs=1, kl_tol=None, progress=True).fit_transform(X)
    err = capsys.readouterr().err
    assert "t-SNE 60 points" in err and "70/70" in err  # every iteration counted: 20 exaggerated + 50
    np.testing.assert_array_equal(quiet, loud)
    assert "progress" not in Projector(progress=True).params()  # saved projections are reused either way


def test_umap_shows_progress(capsys):
    pytest.importorskip("umap")
    X = np.random.default_rng(1).normal(size=(40, 6)).astype(np.float32)
    Projector("umap", progress=True, pca_dims=None).fit_transform(X)
    captured = capsys.readouterr()
    assert "UMAP 40 points" in captured.err


# ------------------------------------------------------------------------------- escaping of inline HTML
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_block_escapes_text_parts_and_keeps_only_builder_markup():
    from yololens import reprs

    table = reprs.table_html([{"class": HOSTILE}], ["class"])
    out = reprs.block(HOSTILE, HOSTILE, table, "caption " + table, None, "")
    assert isinstance(out, reprs.Html) and isinstance(table, reprs.Html)
    assert "<script>" not in out and "<img" not in out and out.count("&lt;script&gt;") == 3
    assert out.count("<table>") == 1  # the builder's table is markup; concatenated with text it is text again
    assert "caption &lt;table&gt;" in out


def test_a_suspects_finding_with_a_hostile_class_name_stays_text(tmp_path):
    # the finding quotes class names from the user's label file: text in the notebook, never markup
    import pandas as pd

    from yololens.analysis.suspects_run import COLUMNS, SuspectsReport

    table = pd.DataFrame([[0, "L9", 0.9, HOSTILE, "car", -0.5, "class", 1]], columns=COLUMNS)
    rep = SuspectsReport(tmp_path, table, "L9", f"1 label looks wrong: {HOSTILE}", 1, ["L9"], "image",
                         finding=f"top suspect labelled {HOSTILE}", evaluation_line=f"eval {HOSTILE}")
    html = rep._repr_html_()
    assert "<script>" not in html and "<img" not in html
    assert html.count("&lt;script&gt;") == 3 and "<table>" in html
