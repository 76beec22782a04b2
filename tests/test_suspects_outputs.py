"""The suspicion where people look: FiftyOne detection fields and a plot coloured by suspect_score."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import yololens
from yololens.analysis.suspect_columns import suspect_columns, with_suspects
from yololens.analysis.synthetic import make_objects_table


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("suspects_out")
    make_objects_table(d, 240, n_images=5, seed=4)
    yololens.suspects(d, inject_noise=None, n_boot=0)
    return d


def test_suspect_columns_come_from_the_primary_stage_then_the_detector(run):
    t = pd.read_parquet(run / "suspects.parquet")
    cols = suspect_columns(run).set_index("object_id")
    cls = t[t["layer"] == "L9"].set_index("object_id")  # no stages.csv, no evaluation: the first stage leads
    assert np.allclose(cols.loc[cls.index, "suspect_score"], cls["score"], equal_nan=True)
    assert (cols.loc[cls.index, "suspect_kind"] == "class").all()
    missing = t[t["kind"] == "missing"]
    if len(missing):  # predictions are judged by the detector only
        assert (cols.loc[missing["object_id"], "suspect_kind"] == "missing").all()
    scored = cls.index[np.isfinite(cls["score"])][:3]
    meta = with_suspects(pd.DataFrame({"object_id": [*scored, "nope"]}), run)
    assert meta["suspect_score"].isna().tolist() == [False, False, False, True]
    assert meta["suspect_suggested"].iloc[0] == cls.loc[scored[0], "suggested"]


def test_fiftyone_detections_carry_score_and_suggestion(run, tmp_path):
    pytest.importorskip("fiftyone.utils.data.importers", reason='needs FiftyOne (pip install "yololens[fiftyone]")')
    from fiftyone.utils.data.importers import FiftyOneImageLabelsDatasetImporter

    yololens.export_fiftyone(run, tmp_path / "ds")
    cols = suspect_columns(run).set_index("object_id")
    seen = 0
    with FiftyOneImageLabelsDatasetImporter(str(tmp_path / "ds")) as importer:
        for _, _, labels in importer:
            for det in labels["ground_truth"].detections:
                want = cols.loc[det["object_id"]]
                if pd.notna(want["suspect_score"]):
                    assert det["suspect_score"] == pytest.approx(float(want["suspect_score"]), rel=1e-6)
                    assert det["suspect_suggested"] == want["suspect_suggested"]
                    seen += 1
    assert seen > 50


def test_plot_colours_by_suspect_score(run):
    yololens.project(run, layer=9, method="pca")
    res = yololens.plot(run, layer=9, method="pca", color="suspect_score", html=False)
    png = [p for p in res.paths.values() if str(p).endswith(".png")]
    assert png and png[0].name.endswith("_suspect_score.png") and png[0].stat().st_size > 1000


def test_detection_fields_without_fiftyone(run):
    """The same fields through a stand-in for ``fiftyone.core.labels`` (FiftyOne is an optional extra)."""
    from types import SimpleNamespace

    from yololens.jobs.export_fiftyone import _detection

    fol = SimpleNamespace(Detection=lambda **kw: kw)
    meta = with_suspects(pd.read_parquet(run / "objects.parquet").drop(columns=["emb_L9", "emb_L15"]), run)
    cols = suspect_columns(run).set_index("object_id")
    row = meta[meta["suspect_score"].notna() & (meta["origin"] == "gt")].iloc[0].to_dict()
    det = _detection(fol, row)
    assert det["suspect_score"] == pytest.approx(float(cols.loc[row["object_id"], "suspect_score"]))
    assert det["suspect_suggested"] == cols.loc[row["object_id"], "suspect_suggested"]
    assert det["suspect_kind"] == "class"
    plain = meta[meta["suspect_score"].isna()].iloc[0].to_dict()
    assert "suspect_score" not in _detection(fol, plain)  # values that do not apply are left out


def test_stage_report_gets_the_suspects_angle(tmp_path):
    from yololens.analysis.suspects_eval import stage_angle

    make_objects_table(tmp_path, 400, n_images=30, seed=2, write_images=False)
    assert stage_angle(tmp_path) is None
    yololens.suspects(tmp_path, inject_noise=0.1, n_boot=50)
    angle = stage_angle(tmp_path)
    ev = pd.read_csv(tmp_path / "suspects_eval.csv").query("noise == 'uniform'")
    assert angle["ranking"].tolist() == ev["ranking"].tolist() == ["L9", "L15", "random", "detector"]
    assert np.allclose(angle["ap"], ev["ap"])
    rep = yololens.stages(tmp_path, sample=None, n_boot=50)
    md = (tmp_path / "stages.md").read_text()
    assert "Which stage finds mislabelled objects?" in md and "| L15 | " in md and rep.best
