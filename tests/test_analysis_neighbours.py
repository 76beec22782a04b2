"""Nearest neighbours in embedding space (cosine) and the gt/pred partner of each matched object."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from yololens.analysis.neighbours import NeighbourSearch, nearest_neighbours
from yololens.figures.explorer import partners


def test_cosine_neighbours_ignore_length_and_exclude_self():
    X = np.array([[1, 0], [10, 0.5], [0, 1], [0.2, 3], [-1, 0]], np.float32)
    nn = nearest_neighbours(X, k=2)
    assert nn.shape == (5, 2) and nn.dtype == np.int32
    assert nn[0].tolist() == [1, 3]  # [10, 0.5] points the same way as [1, 0], however long
    assert nn[2].tolist() == [3, 1]
    assert all(i not in row for i, row in enumerate(nn))


def test_fewer_objects_than_k_pad_with_minus_one():
    nn = nearest_neighbours(np.eye(3, dtype=np.float32), k=10)
    assert nn.shape == (3, 10) and (nn[:, 2:] == -1).all() and (nn[:, :2] >= 0).all()
    assert (nearest_neighbours(np.ones((1, 4), np.float32), k=3) == -1).all()



def test_above_exact_max_annoy_finds_the_exact_neighbours_mostly_and_repeats_itself():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(20, 64))
    X = (centres[rng.integers(0, 20, 3000)] + 0.3 * rng.normal(size=(3000, 64))).astype(np.float32)
    exact = nearest_neighbours(X, k=10)
    approx = nearest_neighbours(X, k=10, exact_max=1000)
    assert approx.shape == (3000, 10) and (approx >= 0).all()
    assert all(i not in row for i, row in enumerate(approx))
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact)])
    assert recall > 0.95, recall
    assert not (approx == exact).all()  # it did take the approximate route
    assert (nearest_neighbours(X, k=10, exact_max=1000) == approx).all()  # same vectors, same neighbours
    assert NeighbourSearch(3000, 1000).describe().startswith("cosine, approximate: Annoy")
    assert NeighbourSearch(3000).describe() == "exact, cosine"

def test_partners_pair_tp_gt_and_pred_in_the_same_image():
    meta = pd.DataFrame({
        "image": ["a.jpg", "a.jpg", "a.jpg", "b.jpg", "b.jpg"],
        "origin": ["gt", "pred", "pred", "gt", "pred"],
        "status": ["TP", "TP", "FP", "FN", "TP"],
        "gt_id": ["7", "7", None, "7", "9"],  # b.jpg's gt 7 is a FN: no partner; pred 9's gt is missing
    })
    assert partners(meta).tolist() == [1, 0, -1, -1, -1]


def test_embed_images_downscales_and_uses_known_paths(tmp_path):
    from PIL import Image

    from yololens.analysis.synthetic import make_objects_table
    from yololens.figures.explorer import embed_images

    make_objects_table(tmp_path / "run", 30, n_images=3, image_size=(640, 480), seed=1)
    elsewhere = tmp_path / "photos"
    (tmp_path / "run" / "images").rename(elsewhere)  # the names no longer resolve against the run
    meta = pd.read_parquet(tmp_path / "run" / "objects.parquet", columns=["image"])
    rows = np.arange(len(meta))
    code, uris = embed_images(tmp_path / "run", meta, rows)
    assert (code == -1).all() and uris == []
    paths = {f"images/frame_{i:03d}.jpg": elsewhere / f"frame_{i:03d}.jpg" for i in range(3)}
    code, uris = embed_images(tmp_path / "run", meta, rows, image_paths=paths, max_images=2, image_px=160)
    assert len(uris) == 2 and set(code) == {-1, 0, 1}
    assert (code[meta.image == "images/frame_002.jpg"] == -1).all()  # over the cap
    import base64
    import io

    im = Image.open(io.BytesIO(base64.b64decode(uris[0].split(",", 1)[1])))
    assert im.size == (160, 120)


@pytest.mark.parametrize("approx", ["nndescent", "annoy"])
def test_neighbours_outside_groups_skip_the_own_group_and_match_a_masked_brute_force(approx):
    from yololens.analysis.neighbours import neighbours_outside_groups

    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 8)).astype(np.float32)
    groups = rng.integers(0, 12, 300)  # 12 "videos" of ~25 objects: the own group alone fills 2k+1 candidates
    idx, sim = neighbours_outside_groups(X, groups, k=5)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    S = Xn @ Xn.T
    S[groups[:, None] == groups[None, :]] = -np.inf  # independent: mask the own group, sort
    expect = np.argsort(-S, axis=1, kind="stable")[:, :5]
    assert (idx == expect).all()
    assert np.allclose(sim, np.take_along_axis(S, expect, 1), atol=1e-5)
    assert (groups[idx] != groups[:, None]).all()
    # one group only: nobody has a neighbour
    idx1, sim1 = neighbours_outside_groups(X[:10], np.zeros(10), k=3)
    assert (idx1 == -1).all() and np.isnan(sim1).all()
    # approximate route: same exclusion, high recall against the exact answer
    idx_a, _ = neighbours_outside_groups(X, groups, k=5, exact_max=100, approx=approx, n_jobs=1)
    assert (groups[idx_a] != groups[:, None]).all()
    assert np.mean([len(set(a) & set(e)) / 5 for a, e in zip(idx_a, expect)]) > 0.9


def test_neighbours_outside_groups_in_place_gives_the_same_answer():
    from yololens.analysis.neighbours import neighbours_outside_groups

    X = np.random.default_rng(2).normal(size=(200, 6)).astype(np.float32) * 3
    groups = np.arange(200) // 4
    a = neighbours_outside_groups(X, groups, k=4)
    Y = X.copy()
    b = neighbours_outside_groups(Y, groups, k=4, copy=False)
    assert (a[0] == b[0]).all() and np.allclose(a[1], b[1])
    assert np.allclose(np.linalg.norm(Y, axis=1), 1, atol=1e-5) and not np.allclose(np.linalg.norm(X, axis=1), 1)
