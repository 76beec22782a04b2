"""`yololens suspects` on synthetic runs: files, first line, exit codes, 2 and 80 classes, a class of one object."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import yololens
from yololens.analysis.synthetic import make_objects_table
from yololens.cli.app import app


def run_cli(*args):
    return CliRunner().invoke(app, ["suspects", *map(str, args)])


@pytest.fixture(scope="module")
def two_class(tmp_path_factory):
    d = tmp_path_factory.mktemp("two")
    make_objects_table(d, 800, n_images=60, classes=("car", "person"), seed=3, write_images=False)
    return d


def test_two_classes_with_injected_noise_name_the_separable_stage_first(two_class):
    res = run_cli(two_class, "--inject-noise", "0.1", "--seed", "0", "--top", "5")
    assert res.exit_code == 0, res.output
    first = res.output.splitlines()[0]
    assert first.startswith("L15 finds injected uniform label flips best: precision@")  # L15 is the clustered one
    ev = pd.read_csv(two_class / "suspects_eval.csv")
    assert set(ev["noise"]) == {"uniform", "confusable"}
    assert set(ev["ranking"]) == {"L9", "L15", "random", "detector"}
    u = ev[ev["noise"] == "uniform"].set_index("ranking")
    assert u.loc["L15", "precision_at_k"] > 0.8 > u.loc["random", "precision_at_k_hi"]
    assert u.loc["L15", "precision_at_k_lo"] <= u.loc["L15", "precision_at_k"] <= u.loc["L15", "precision_at_k_hi"]
    t = pd.read_parquet(two_class / "suspects.parquet")
    assert list(t.columns) == ["object_id", "layer", "score", "label", "suggested", "margin", "kind", "rank"]
    n_gt = int(pc.sum(pc.equal(pq.read_table(two_class / "objects.parquet", columns=["origin"])["origin"], "gt")).as_py())
    counts = t["layer"].value_counts()
    assert counts["L9"] == counts["L15"] == n_gt and set(t.loc[t["layer"] != "detector", "kind"]) == {"class"}
    assert set(t.loc[t["layer"] == "detector", "kind"]) <= {"swap", "missing", "box"}  # the synthetic preds
    csv = pd.read_csv(two_class / "suspects.csv")
    assert len(csv) == 10 and list(csv["layer"][:5]) == ["L15"] * 5 and {"image", "x1", "y2", "label", "suggested"} <= set(csv.columns)
    # on clean labels nothing at the clustered stage looks wrong
    rep = yololens.suspects(yololens.open_run(two_class), layer="15", save=False)
    assert rep.headline.startswith("0 of ") and rep.stages == ["L15"]
    assert "Label-error suspects" in rep._repr_html_() and repr(rep).startswith("Suspects: ")


def test_no_ground_truth_is_one_line_and_exit_2(tmp_path):
    make_objects_table(tmp_path, 100, write_images=False)
    t = pq.read_table(tmp_path / "objects.parquet")
    pq.write_table(t.filter(pc.equal(t["origin"], "pred")), tmp_path / "objects.parquet")
    res = run_cli(tmp_path)
    assert res.exit_code == 2
    assert res.output.strip().splitlines() == [
        f"error: {tmp_path / 'objects.parquet'}: no ground-truth rows: suspects judges labels; extract with --labels "
        "and --boxes gt or both"]


def test_eighty_classes_and_a_class_of_one_object(tmp_path):
    classes = tuple(f"class{i:02d}" for i in range(80))
    make_objects_table(tmp_path, 3000, n_images=150, classes=classes, seed=1, write_images=False,
                       dims={"emb_L9": 16, "emb_L15": 64})
    t = pq.read_table(tmp_path / "objects.parquet").to_pandas()
    first_gt = int(np.flatnonzero(t["origin"] == "gt")[0])
    t.loc[first_gt, "class_name"] = "unicorn"  # a class of one object
    t.to_parquet(tmp_path / "objects.parquet")
    res = run_cli(tmp_path, "--inject-noise", "0.1", "--layer", "15")
    assert res.exit_code == 0, res.output
    assert "L15: 1 label(s) not judged" in res.output
    s = pd.read_parquet(tmp_path / "suspects.parquet").query("layer == 'L15'").set_index("object_id")
    uni = t.loc[first_gt, "object_id"]
    assert np.isnan(s.loc[uni, "score"]) and s.loc[uni, "rank"] == len(s)
    ev = pd.read_csv(tmp_path / "suspects_eval.csv").set_index(["noise", "ranking"])
    assert ev.loc[("uniform", "L15"), "precision_at_k"] > ev.loc[("uniform", "random"), "precision_at_k_hi"]


def test_a_stage_without_gt_embeddings_is_left_out(synthetic_run):
    rep = yololens.suspects(synthetic_run, save=False)  # emb_coef exists on predictions only
    assert rep.stages == ["L9", "L15"] and "coef" not in set(rep.table["layer"])


def test_rows_with_nan_embeddings_are_left_out_of_that_stage(tmp_path):
    make_objects_table(tmp_path, 200, n_images=20, seed=5, write_images=False)
    t = pq.read_table(tmp_path / "objects.parquet").to_pandas()
    bad = int(np.flatnonzero(t["origin"] == "gt")[0])
    v = np.array(t.at[bad, "emb_L15"], dtype=np.float32)
    v[3] = np.nan
    t.at[bad, "emb_L15"] = v
    t.to_parquet(tmp_path / "objects.parquet")
    rep = yololens.suspects(tmp_path, save=False)
    ids = rep.table.groupby("layer")["object_id"].apply(set)
    assert t.at[bad, "object_id"] not in ids["L15"] and t.at[bad, "object_id"] in ids["L9"]
    assert len(ids["L15"]) == len(ids["L9"]) - 1
