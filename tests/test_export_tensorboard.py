"""``yololens export tensorboard``: the files load with TensorBoard's own projector config proto and reader."""

from __future__ import annotations

import math

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from yololens.cli.app import app
from yololens.jobs.export_tensorboard import export_tensorboard, sprite_capacity

projector_pb2 = pytest.importorskip(
    "tensorboard.plugins.projector.projector_config_pb2",
    reason='needs the tensorboard package (pip install "yololens[tensorboard]")',
)
from google.protobuf import text_format  # noqa: E402  (installed with tensorboard)


@pytest.fixture(scope="module")
def run(synthetic_run):
    return synthetic_run


def _config(path):
    return text_format.Parse(path.read_text(), projector_pb2.ProjectorConfig())


def _read_tensor(path):
    """TensorBoard's own TSV tensor reader, as the projector plugin loads ``tensor_path``."""
    from tensorboard.plugins.projector.projector_plugin import _read_tensor_tsv_file

    return _read_tensor_tsv_file(str(path))


def test_projector_files_parse_and_match_the_table(run, tmp_path):
    res = export_tensorboard(run, "9,15", out=tmp_path / "tb")
    cfg = _config(tmp_path / "tb" / "projector_config.pbtxt")
    table = pq.read_table(run / "objects.parquet").to_pandas()
    assert [e.tensor_name for e in cfg.embeddings] == ["L9", "L15"]
    assert res.n == 240 and not res.capped
    metadata = (tmp_path / "tb" / "metadata.tsv").read_text().splitlines()
    header = metadata[0].split("\t")
    assert len(metadata) == 241 and "object_id" in header and "attr_weather" in header and "status" in header
    assert all(len(line.split("\t")) == len(header) for line in metadata)
    ids = [line.split("\t")[header.index("object_id")] for line in metadata[1:]]
    assert ids == list(table["object_id"])
    for emb, C in zip(cfg.embeddings, (16, 32)):
        assert list(emb.tensor_shape) == [240, C]
        assert emb.metadata_path == "metadata.tsv"
        X = _read_tensor(tmp_path / "tb" / emb.tensor_path)
        assert X.shape == (240, C)
        want = np.stack(table[f"emb_{emb.tensor_name}"].to_numpy()).astype(np.float32)
        np.testing.assert_array_equal(X, want)  # %.9g round-trips float32 exactly
        assert emb.sprite.image_path == "sprite.png" and list(emb.sprite.single_image_dim) == [64, 64]
    from PIL import Image

    with Image.open(tmp_path / "tb" / "sprite.png") as im:
        cols = math.ceil(math.sqrt(240))
        assert im.size == (cols * 64, math.ceil(240 / cols) * 64)
        first = np.asarray(im.crop((0, 0, 64, 64)))
    assert (first < 250).any(), "the first cell holds a crop, not only background"
    assert res.missing_crops == 0


def test_rows_with_a_missing_layer_are_left_out(run, tmp_path):
    res = export_tensorboard(run, "all", out=tmp_path / "tb", sprite=False)
    cfg = _config(res.config)
    n_pred = int((pq.read_table(run / "objects.parquet", columns=["origin"])["origin"].to_numpy() == "pred").sum())
    assert [e.tensor_name for e in cfg.embeddings] == ["L9", "L15", "coef"]
    assert all(list(e.tensor_shape)[0] == n_pred for e in cfg.embeddings)
    assert all(e.sprite.image_path == "" for e in cfg.embeddings) and not (tmp_path / "tb" / "sprite.png").exists()


def test_sprite_caps_the_count_and_says_so(run, tmp_path):
    assert sprite_capacity(64) == 128 * 128
    res = export_tensorboard(run, 9, out=tmp_path / "tb", thumb_size=1024)  # 8 x 8 cells -> at most 64 crops
    assert res.capped and res.n == 64 and res.available == 240
    assert "at most 64 crops" in res.summary() and "64 of 240 objects" in res.summary()
    cfg = _config(res.config)
    assert list(cfg.embeddings[0].tensor_shape) == [64, 16]
    from PIL import Image

    with Image.open(res.sprite) as im:
        assert max(im.size) <= 8192
    lines = res.metadata.read_text().splitlines()
    col = lines[0].split("\t").index("class_name")
    classes = {line.split("\t")[col] for line in lines[1:]}
    assert len(classes) >= 5  # the sample is class-stratified, not the first 64 rows
    full = export_tensorboard(run, 9, out=tmp_path / "all", thumb_size=1024, sprite=False)
    assert full.n == 240 and not full.capped


def test_sample_is_deterministic(run, tmp_path):
    a = export_tensorboard(run, 9, out=tmp_path / "a", sample=50, seed=3, sprite=False)
    b = export_tensorboard(run, 9, out=tmp_path / "b", sample=50, seed=3, sprite=False)
    assert a.n == 50
    assert a.metadata.read_text() == b.metadata.read_text()
    assert a.tensors["L9"].read_text() == b.tensors["L9"].read_text()


def test_cli_export_tensorboard(run, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["export", "tensorboard", str(run), "--layer", "15", "--out", str(tmp_path / "tb"),
                              "--sample", "40"])
    assert res.exit_code == 0, res.output
    assert "40 objects x 1 layer(s) (L15)" in res.output and "tensorboard --logdir" in res.output
    assert list(_config(tmp_path / "tb" / "projector_config.pbtxt").embeddings[0].tensor_shape) == [40, 32]
    bad = runner.invoke(app, ["export", "tensorboard", str(run), "--layer", "99", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "no embedding column 'emb_L99'" in bad.output
    assert "Traceback" not in bad.output
    missing = runner.invoke(app, ["export", "tensorboard", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "no objects table" in missing.output


@pytest.mark.reliability
def test_missing_images_leave_blank_cells_and_a_note(run, tmp_path):
    import shutil

    broken = tmp_path / "run"
    shutil.copytree(run, broken)
    (broken / "images" / "frame_001.jpg").unlink()
    n_missing = int((pq.read_table(broken / "objects.parquet", columns=["image"])["image"].to_numpy()
                     == "images/frame_001.jpg").sum())
    res = CliRunner().invoke(app, ["export", "tensorboard", str(broken), "--out", str(tmp_path / "tb")])
    assert res.exit_code == 0, res.output  # the tensors and metadata are complete; only crops are missing
    assert f"note: {n_missing} sprite cells are blank (image not found; try --images-root)" in res.output
    bad = CliRunner().invoke(app, ["export", "tensorboard", str(broken), "--thumb-size", "0"])
    assert bad.exit_code == 2 and bad.output.strip() == "error: --thumb-size must be between 1 and 8192, not 0"


def test_tensorboard_projector_plugin_serves_the_export(run, tmp_path):
    """TensorBoard's own projector plugin, on the export as its log folder, serves the run, the tensors, the
    metadata and the sprite (its WSGI routes, called as the Projector page calls them)."""
    import json

    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.projector.projector_plugin import ProjectorPlugin
    from werkzeug.test import Client

    res = export_tensorboard(run, "9,15", out=tmp_path / "tb", thumb_size=32)

    class NoRuns:  # the log folder itself is the run ("."), as for `tensorboard --logdir OUT`
        def list_runs(self, ctx, experiment_id):
            return []

    plugin = ProjectorPlugin(base_plugin.TBContext(logdir=str(tmp_path / "tb"), data_provider=NoRuns()))
    apps = plugin.get_plugin_apps()

    def get(route, **args):
        resp = Client(apps[route]).get(route, query_string=args)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return resp.get_data()

    assert json.loads(get("/runs")) == ["."]
    info = json.loads(get("/info", run="."))
    assert [e["tensorName"] for e in info["embeddings"]] == ["L9", "L15"]
    X = np.frombuffer(get("/tensor", run=".", name="L15"), dtype=np.float32).reshape(240, 32)
    table = pq.read_table(run / "objects.parquet").to_pandas()
    np.testing.assert_array_equal(X, np.stack(table["emb_L15"].to_numpy()))
    meta = get("/metadata", run=".", name="L9").decode().splitlines()
    assert len(meta) == 241 and meta[0].split("\t")[5] == "object_id"
    sprite = get("/sprite_image", run=".", name="L9")
    assert sprite.startswith(b"\x89PNG") and sprite == res.sprite.read_bytes()
