"""Grouped evaluation, one vocabulary per question, and NaN rows in the stage report (issue 11 §2, §3, §6)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from yololens.analysis import metrics as M
from yololens.analysis.grouping import group_codes, resolve_grouping
from yololens.jobs.stages import stages
from yololens.analysis.synthetic import make_objects_table
from yololens.cli.app import app
from yololens.errors import InputError, StrictModeError

N_BOOT = 100


def _emb(X: np.ndarray) -> pa.Array:
    return pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(X, np.float32).reshape(-1)), X.shape[1])


def video_copies_table(out, videos=8, tracks=5, frames=15, dims=16, seed=0, classes=("car", "person")):
    """Every track is one random vector seen identically in every frame of its video; its class is random,
    so the features say nothing about the class: only memorising copies can score above chance."""
    rng = np.random.default_rng(seed)
    rows = []
    for v in range(videos):
        vecs = rng.normal(size=(tracks, dims))
        cls = rng.integers(0, len(classes), size=tracks)
        for f in range(frames):
            for t in range(tracks):
                rows.append((f"v{v}", f, f"v{v}/f{f}.jpg", f"v{v}-{t}", classes[cls[t]], vecs[t]))
    video, frame, image, track, names, X = zip(*rows)
    out.mkdir(parents=True, exist_ok=True)
    n = len(rows)
    table = pa.table({
        "image": pa.array(image, pa.string()), "object_id": pa.array([f"{im}#{i}" for i, im in enumerate(image)]),
        "origin": pa.array(["gt"] * n), "class_name": pa.array(names, pa.string()),
        "video": pa.array(video, pa.string()), "frame_index": pa.array(frame, pa.int32()),
        "track_id": pa.array(track, pa.string()), "emb_L9": _emb(np.stack(X)),
    })
    pq.write_table(table, out / "objects.parquet")
    return out


def test_copies_across_frames_inflate_ungrouped_but_not_grouped_accuracy(tmp_path):
    out = video_copies_table(tmp_path)
    free = stages(out, group_by="none", n_boot=N_BOOT, save=False)
    by_track = stages(out, group_by="track_id", n_boot=N_BOOT, save=False)
    auto = stages(out, n_boot=N_BOOT, save=False)
    chance = free.table.loc[0, "chance"]
    assert free.table.loc[0, "knn_acc"] >= 0.97  # "have I seen this car before"
    assert by_track.table.loc[0, "knn_acc"] < chance + 0.15  # class separability: there is none
    assert auto.params["group_column"] == "video" and auto.table.loc[0, "knn_acc"] < chance + 0.15
    assert auto.table.loc[0, "n_groups"] == 8
    assert "folds grouped by video" in auto.recommendation
    assert "not grouped although the table has video and image" in free.recommendation
    # grouped bootstrap resamples 40 tracks, not 600 objects: a wider interval
    w_free = free.table.loc[0, "knn_acc_hi"] - free.table.loc[0, "knn_acc_lo"]
    w_track = by_track.table.loc[0, "knn_acc_hi"] - by_track.table.loc[0, "knn_acc_lo"]
    assert w_track > 2 * w_free


def test_image_grouping_is_the_default_without_video(tmp_path):
    make_objects_table(tmp_path, 200, write_images=False, seed=3)
    rep = stages(tmp_path, n_boot=50, save=False)
    assert rep.params["group_column"] == "image" and "folds grouped by image" in rep.recommendation
    assert rep.table["n_groups"].max() == 6


def test_grouping_by_image_on_video_table_warns(tmp_path):
    out = video_copies_table(tmp_path)
    rep = stages(out, group_by="image", n_boot=50, save=False)
    assert rep.params["group_column"] == "image" and "--group-by video avoids it" in rep.recommendation
    with pytest.raises(InputError, match="no such column"):
        stages(out, group_by="scene", save=False)


def test_group_bootstrap_interval():
    # 10 groups of 20 identical outcomes: 10 independent draws, not 200
    values = np.repeat(np.r_[np.ones(5), np.zeros(5)], 20)
    groups = np.repeat(np.arange(10), 20)
    lo_o, hi_o = M.bootstrap_mean(values, 2000, seed=0)
    lo_g, hi_g = M.bootstrap_mean(values, 2000, seed=0, groups=groups)
    assert hi_o - lo_o == pytest.approx(2 * 1.96 * np.sqrt(0.25 / 200), abs=0.03)
    assert hi_g - lo_g == pytest.approx(2 * 1.96 * np.sqrt(0.25 / 10), abs=0.1)
    assert lo_g < 0.5 < hi_g


def test_group_codes_give_missing_values_their_own_group():
    codes = group_codes(np.array(["a", None, "a", None, "b"], dtype=object))
    assert codes[0] == codes[2] and len(set(codes)) == 4
    g = resolve_grouping("auto", ["image", "track_id"], {"image": True, "track_id": True})
    assert g.column == "image" and g.warning is None


def test_davies_bouldin_interval_beside_its_value_is_not_shown():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 24)).astype(np.float32)
    y = np.repeat(np.arange(4), 75)
    value = M.davies_bouldin_fast(X, y)
    boots = []
    for b in range(100):  # what the old class-stratified percentile interval gave
        r = np.random.default_rng(b)
        idx = np.concatenate([r.choice(np.flatnonzero(y == c), 75) for c in range(4)])
        boots.append(M.davies_bouldin_fast(X[idx], y[idx]))
    lo, hi = np.quantile(boots, [0.025, 0.975])
    assert not lo <= value <= hi  # the whole interval beside the estimate (duplicates shrink the spread)
    est = M.davies_bouldin(X, y, n_boot=100)
    assert est.value == pytest.approx(value) and np.isnan(est.lo) and np.isnan(est.hi)


def _two_vocabularies(tmp_path):
    make_objects_table(tmp_path, 300, classes=("car", "pedestrian"), write_images=False, seed=4)
    t = pq.read_table(tmp_path / "objects.parquet")
    names = [("person" if o == "pred" and c == "pedestrian" else c)
             for o, c in zip(t["origin"].to_pylist(), t["class_name"].to_pylist())]
    t = t.set_column(t.schema.get_field_index("class_name"), "class_name", pa.array(names, pa.string()))
    pq.write_table(t, tmp_path / "objects.parquet")
    return tmp_path


def test_ground_truth_vocabulary_is_the_default(tmp_path):
    out = _two_vocabularies(tmp_path)
    rep = stages(out, n_boot=50, save=False)
    assert rep.params["origin"] == "gt" and (rep.table["n_classes"] == 2).all()
    assert "StageOrigin: the label classes (ground-truth rows)" in rep.recommendation
    mixed = stages(out, origin="all", n_boot=50, save=False)
    assert (mixed.table["n_classes"] == 3).all()  # car, pedestrian and person: two vocabularies
    assert "mixes two vocabularies" in mixed.recommendation


def test_stage_text_names_the_class_map(tmp_path):
    make_objects_table(tmp_path, 200, write_images=False, seed=5)
    cmap = {"name": "maps/bdd.yaml", "pairs": {"pedestrian": "person"}, "matched": {"pedestrian -> person": 7}}
    (tmp_path / "manifest.json").write_text(json.dumps({"class_map": cmap}))
    rep = stages(tmp_path, n_boot=50, save=False)
    assert "class map maps/bdd.yaml; matched class pairs: pedestrian -> person (7)" in rep.recommendation


def _with_nan_row(tmp_path, row=3):
    make_objects_table(tmp_path, 200, write_images=False, seed=6)
    t = pq.read_table(tmp_path / "objects.parquet")
    X = np.asarray(t["emb_L15"].combine_chunks().flatten()).reshape(len(t), -1).copy()
    X[row, 2] = np.nan
    X[row + 1, 0] = np.inf
    t = t.set_column(t.schema.get_field_index("emb_L15"), "emb_L15", _emb(X))
    pq.write_table(t, tmp_path / "objects.parquet")
    return tmp_path


def test_nan_rows_are_left_out_with_a_line(tmp_path):
    out = _with_nan_row(tmp_path)
    rep = stages(out, origin="all", n_boot=50, save=False)
    assert rep.skips == [f"{out / 'objects.parquet'}: emb_L15: 2 row(s) with NaN/inf values left out"]
    assert np.isfinite(rep.table.set_index("stage").loc["L15", "knn_acc"])
    assert rep.table.set_index("stage").loc["L15", "n_total"] == 198
    with pytest.raises(StrictModeError, match="emb_L15: 2 row"):
        stages(out, origin="all", strict=True, save=False)


def test_stages_cli_exit_codes_for_nan_rows(tmp_path):
    out = _with_nan_row(tmp_path)
    res = CliRunner().invoke(app, ["stages", str(out), "--bootstrap", "50", "--origin", "all"])
    assert res.exit_code == 1, res.output
    assert "emb_L15: 2 row(s) with NaN/inf values left out" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(app, ["stages", str(out), "--bootstrap", "50", "--strict"])
    assert res.exit_code == 2 and "emb_L15: 2 row" in res.output


def test_table_bolds_the_best_value_of_each_metric_not_a_row():
    import pandas as pd

    from yololens.analysis.stage_writer import markdown_table

    df = pd.DataFrame({
        "stage": ["L9", "L15"], "n": [50, 50], "n_classes": [2, 2],
        "knn_acc": [0.9, 0.8], "knn_acc_lo": [0.85, 0.75], "knn_acc_hi": [0.95, 0.85],
        "probe_acc": [0.7, 0.75], "probe_acc_lo": [0.6, 0.7], "probe_acc_hi": [0.8, 0.8],
        "silhouette": [0.1, 0.2], "silhouette_lo": [0.05, 0.15], "silhouette_hi": [0.15, 0.25],
        "davies_bouldin": [2.0, 1.5], "davies_bouldin_lo": [1.8, np.nan], "davies_bouldin_hi": [2.2, np.nan],
    })
    rows = markdown_table(df)[2:]
    assert rows[0] == "| L9 | 50 | 2 | **0.900** [0.850, 0.950] | 0.700 [0.600, 0.800] | 0.100 [0.050, 0.150] | 2.000 [1.800, 2.200] |"
    assert rows[1] == "| L15 | 50 | 2 | 0.800 [0.750, 0.850] | **0.750** [0.700, 0.800] | **0.200** [0.150, 0.250] | **1.500** |"


def test_chart_scales_small_differences_from_zero():
    import pandas as pd

    from yololens.figures.stage_chart import stage_chart

    df = pd.DataFrame({
        "stage": ["L9", "L15"], "n": [50, 50], "chance": [0.5, 0.5],
        **{f"{m}{s}": [v, v + 0.01] for m, v in (("knn_acc", 0.8), ("probe_acc", 0.8), ("silhouette", 0.5),
                                                 ("davies_bouldin", 2.0)) for s in ("", "_lo", "_hi")},
    })
    fig = stage_chart(df, {"label": "class_name", "origin": "gt", "n_folds": 5})
    sil, db = fig.axes[2].get_ylim(), fig.axes[3].get_ylim()
    assert sil[0] <= 0 < 0.51 < sil[1] and db[0] <= 0 < 2.01 < db[1]  # 0.01 is not drawn as a chasm
