"""Issue #6, part 3: the same inputs give bitwise-identical embeddings (CPU) and identical projections (same seed).

GPU notes are in docs/RELIABILITY.md. ``tests/test_reliability_crash.py`` also compares a killed-and-resumed
run with an uninterrupted one byte for byte, across processes.
"""

from __future__ import annotations

import shutil

import numpy as np
import pyarrow as pa
import pytest

from yololens.analysis.projection import project
from yololens.analysis.synthetic import make_objects_table
from yololens.jobs.extract import extract

pytestmark = pytest.mark.reliability


def _raw(table: pa.Table, name: str) -> bytes:
    col = table.column(name).combine_chunks()
    if pa.types.is_fixed_size_list(col.type):
        col = col.values
    return col.to_numpy(zero_copy_only=False).tobytes()


@pytest.fixture(scope="module")
def folder(tmp_path_factory, assets, bdd_detect):
    d = tmp_path_factory.mktemp("det") / "imgs"
    d.mkdir()
    for i in range(2):
        shutil.copy(assets / "bus.jpg", d / f"bus{i}.jpg")
        shutil.copy(assets / "zidane.jpg", d / f"zidane{i}.jpg")
    shutil.copy(next((bdd_detect / "images").glob("*.jpg")), d / "bdd.jpg")
    return d


def _run(weights, folder, out, batch):
    return extract(str(weights), str(folder), out=out, imgsz=320, layers="sppf,p3,p5", batch=batch, workers=2,
                   progress=False).table()


def test_two_runs_give_bitwise_identical_tables(folder, det_weights, tmp_path):
    first = _run(det_weights, folder, tmp_path / "a", batch=4)
    second = _run(det_weights, folder, tmp_path / "b", batch=4)
    assert first.num_rows > 10
    assert first.schema == second.schema
    assert first.equals(second)
    for name in [c for c in first.column_names if c.startswith("emb_")] + ["x1", "y1", "x2", "y2", "score"]:
        assert _raw(first, name) == _raw(second, name), name


def test_batch_size_moves_embeddings_only_by_float_rounding(folder, det_weights, tmp_path):
    """Documented: oneDNN picks other kernels for a batch of 1, so bits may differ (never more than rounding)."""
    one = _run(det_weights, folder, tmp_path / "one", batch=1)
    four = _run(det_weights, folder, tmp_path / "four", batch=4)
    assert one.column("object_id").equals(four.column("object_id"))
    for name in [c for c in one.column_names if c.startswith("emb_")]:
        a = np.stack(one.column(name).to_numpy(zero_copy_only=False))
        b = np.stack(four.column(name).to_numpy(zero_copy_only=False))
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    out = tmp_path_factory.mktemp("objects")
    make_objects_table(out, n=150, write_images=False)
    return out


@pytest.mark.parametrize("method,kwargs", [
    ("pca", {}),
    ("tsne", {"n_jobs": 1, "gradient": "bh", "n_iter": 100, "exaggeration_iter": 50}),
])
def test_projection_with_the_same_seed_is_identical(objects, method, kwargs):
    a = project(objects, 15, method, seed=3, sample=120, save=False, **kwargs)
    b = project(objects, 15, method, seed=3, sample=120, save=False, **kwargs)
    assert (a.object_ids == b.object_ids).all() and a.coords.tobytes() == b.coords.tobytes()
    c = project(objects, 15, method, seed=4, sample=120, save=False, **kwargs)
    assert not (a.object_ids.tolist() == c.object_ids.tolist() and np.array_equal(a.coords, c.coords))


def test_tsne_threads_do_not_change_the_coordinates(objects):
    kw = {"gradient": "bh", "n_iter": 100, "exaggeration_iter": 50, "save": False}
    a = project(objects, 15, "tsne", seed=0, n_jobs=1, **kw)
    b = project(objects, 15, "tsne", seed=0, n_jobs=2, **kw)
    assert a.coords.tobytes() == b.coords.tobytes()
