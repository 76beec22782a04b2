"""Linear CKA with the unbiased HSIC estimator (issue 20 item 2): against an independent computation, its
invariances, minibatch convergence, alignment of two runs, the CLI and real weights."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from yololens.analysis.cka import MinibatchCKA, unbiased_hsic_matrix
from yololens.analysis.synthetic import make_model_runs, make_objects_table
from yololens.cli.app import app
from yololens.errors import InputError
from yololens.jobs.similarity import similarity


def _hsic_u_statistic(K: np.ndarray, L: np.ndarray) -> float:
    """HSIC_1 by its definition (Song et al. 2012): the mean over ordered distinct 4-tuples of
    h = 1/24 sum over their permutations (t,u,v,w) of k_tu l_tu + k_tu l_vw - 2 k_tu l_tv."""
    n = len(K)
    total, count = 0.0, 0
    for quad in itertools.permutations(range(n), 4):
        h = 0.0
        for t, u, v, w in itertools.permutations(quad):
            h += K[t, u] * L[t, u] + K[t, u] * L[v, w] - 2 * K[t, u] * L[t, v]
        total += h / 24
        count += 1
    return total / count


def _full_cka(X: np.ndarray, Y: np.ndarray) -> float:
    """Full-batch unbiased linear CKA written out with the n x n matrices (Nguyen et al. 2021 eq. 3)."""
    def hsic(K, L):
        n = len(K)
        K, L = K - np.diag(np.diag(K)), L - np.diag(np.diag(L))
        one = np.ones(n)
        return (np.trace(K @ L) + (one @ K @ one) * (one @ L @ one) / ((n - 1) * (n - 2))
                - 2 / (n - 2) * (one @ K @ L @ one)) / (n * (n - 3))

    K, L = X @ X.T, Y @ Y.T
    return hsic(K, L) / np.sqrt(hsic(K, K) * hsic(L, L))


def _pair(n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 12))
    Y = np.tanh(X @ rng.normal(size=(12, 20))) + 0.7 * rng.normal(size=(n, 20))
    return X, Y


def test_hsic_matches_the_u_statistic_definition():
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(7, 3)), rng.normal(size=(7, 5))
    H = unbiased_hsic_matrix([X, Y])
    assert H[0, 1] == pytest.approx(_hsic_u_statistic(X @ X.T, Y @ Y.T), rel=1e-10)
    assert H[0, 0] == pytest.approx(_hsic_u_statistic(X @ X.T, X @ X.T), rel=1e-10)


def test_one_batch_equals_full_batch_numpy():
    X, Y = _pair()
    acc = MinibatchCKA()
    acc.add([X, Y])
    assert acc.value()[0, 1] == pytest.approx(_full_cka(X, Y), rel=1e-10)
    assert acc.value()[1, 0] == acc.value()[0, 1]


def test_invariances_and_identity():
    X, Y = _pair(seed=1)
    q = np.linalg.qr(np.random.default_rng(5).normal(size=(12, 12)))[0]
    acc = MinibatchCKA()
    acc.add([X, Y, X @ q * 7.5, X + 3.0])  # rotated and scaled; translated (the estimator needs no centring)
    m = acc.value()
    assert m[0, 2] == pytest.approx(1.0, abs=1e-12) and m[1, 2] == pytest.approx(m[1, 0], abs=1e-12)
    assert m[0, 3] == pytest.approx(1.0, abs=1e-12)
    assert np.allclose(np.diag(m), 1.0) and 0.1 < m[0, 1] < 0.95


def test_minibatch_converges_to_full_value():
    X, Y = _pair(n=3000, seed=2)
    full = _full_cka(X, Y)
    errors = []
    for b in (100, 500, 3000):
        acc = MinibatchCKA()
        for i in range(0, len(X), b):
            acc.add([X[i:i + b], Y[i:i + b]])
        errors.append(abs(acc.value()[0, 1] - full))
    assert errors[2] < 1e-12 and errors[1] < 0.02 and errors[1] < errors[0]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("sim")
    return make_model_runs(d / "a", d / "b", 300, noise_b=0.0, shuffle_b=True, seed=1)


def test_run_matrix_matches_numpy_on_the_table(runs):
    a, _ = runs
    res = similarity(a, batch=10_000, save=False)
    df = pd.read_parquet(a / "objects.parquet").query("origin == 'gt'")
    X = {c: np.stack(df[c].to_numpy()).astype(np.float64) for c in ("emb_L9", "emb_L15", "emb_L18", "emb_L21")}
    assert res.n == len(df) and res.n_batches == 1
    assert res.matrix.loc["L9", "L15"] == pytest.approx(_full_cka(X["emb_L9"], X["emb_L15"]), rel=1e-6)
    assert res.matrix.loc["L18", "L21"] == pytest.approx(_full_cka(X["emb_L18"], X["emb_L21"]), rel=1e-6)
    assert np.allclose(res.matrix.to_numpy(), res.matrix.to_numpy().T) and np.allclose(np.diag(res.matrix), 1)


def test_two_runs_aligned_by_label_despite_shuffled_order(runs):
    """B holds A's embeddings rotated, in shuffled row order: A x B equals A x A (CKA is rotation invariant),
    which holds only if every object met its own copy."""
    a, b = runs
    within = similarity(a, batch=64, save=False)
    across = similarity(a, b, batch=64, bootstrap=100, save=False)
    assert across.n == within.n == 300 and across.across
    assert np.allclose(across.matrix.to_numpy(), within.matrix.to_numpy(), atol=1e-9)
    assert across.params["diagonal"] == [("L9", "L9"), ("L15", "L15"), ("L18", "L18"), ("L21", "L21")]
    assert across.headline.startswith("linear CKA on 300 gt objects, same-role layers: L9~L9 CKA 1.00 [1.00, 1.00]")
    assert (across.lo.to_numpy() <= across.matrix.to_numpy() + 1e-12).all()


def test_different_labels_are_refused(runs, tmp_path):
    a, _ = runs
    other = make_model_runs(tmp_path / "c", tmp_path / "d", 50)[1]
    man = json.loads((other / "manifest.json").read_text())
    man["params"]["labels"] = "other/labels.json"
    (other / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(InputError, match=r"not the same labels as .*'other/labels.json' vs 'synthetic/labels.json'"):
        similarity(a, other, save=False)
    res = CliRunner().invoke(app, ["similarity", str(a), str(other)])
    assert res.exit_code == 2 and res.output.count("\n") == 1 and res.output.startswith("error: ")


def test_cli_writes_long_form_csv_and_heatmap(runs):
    a, _ = runs
    res = CliRunner().invoke(app, ["similarity", str(a), "--batch", "50", "--bootstrap", "50"])
    assert res.exit_code == 0, res.output
    assert res.output.startswith("most alike: ")
    csv = pd.read_csv(a / "similarity.csv")
    assert list(csv.columns) == ["run_a", "layer_a", "run_b", "layer_b", "cka", "n", "cka_lo", "cka_hi"]
    assert len(csv) == 16 and (csv["n"] == 300).all()
    m = csv.pivot(index="layer_a", columns="layer_b", values="cka")
    assert np.allclose(m.to_numpy(), m.to_numpy().T) and np.allclose(np.diag(m.to_numpy()), 1.0)
    from PIL import Image

    assert np.asarray(Image.open(a / "similarity.png").convert("L"), dtype=float).std() > 10


def test_too_few_objects_is_one_line(tmp_path):
    make_objects_table(tmp_path, 3, n_images=1, write_images=False, seed=3)  # < 4 objects
    res = CliRunner().invoke(app, ["similarity", str(tmp_path), "--origin", "gt"])
    assert res.exit_code == 1 and res.output.startswith("not enough to compare stages: ") and res.output.count("\n") == 1
    assert not (tmp_path / "similarity.csv").exists()


def test_real_weights_detect_vs_seg(det_weights, seg_weights, bdd_detect, tmp_path):
    """Two real models on the one BDD frame: within a run every diagonal is 1; across, the same-role layers
    pair up (sppf, p3, p4, p5) and the seg run's mask coefficients (pred rows only) are left out on gt rows."""
    from yololens.jobs.extract import extract

    outs = []
    for w, name in ((det_weights, "det"), (seg_weights, "seg")):
        outs.append(tmp_path / name)
        extract(str(w), str(bdd_detect / "images"), labels=str(bdd_detect / "labels" / "annotation.json"),
                boxes="both", out=outs[-1], progress=False)
    within = similarity(outs[0])
    assert within.n == 10 and list(within.matrix.index) == ["L9", "L15", "L18", "L21"]
    assert np.allclose(np.diag(within.matrix), 1.0)
    across = similarity(outs[0], outs[1], bootstrap=0)
    assert across.n == 10 and list(across.matrix.columns) == ["L9", "L15", "L18", "L21"]
    assert any("coef left out" in n for n in across.notes)
    assert across.params["diagonal"] == [("L9", "L9"), ("L15", "L15"), ("L18", "L18"), ("L21", "L21")]
    assert (outs[0] / across.paths["csv"].name).is_file() and across.paths["csv"].name.startswith("similarity_vs_seg_")


def test_notebook_repr(runs, tmp_path):
    import shutil

    a = tmp_path / "a"
    shutil.copytree(runs[0], a)
    res = similarity(a, batch=64)
    html = res._repr_html_()
    assert res.headline in html and "data:image/png;base64," in html and "L15 (P3 neck, stride 8)" in html
    assert res._repr_png_() == res.paths["heatmap"].read_bytes()
    assert repr(res).splitlines()[0].endswith(res.headline)
