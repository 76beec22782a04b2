"""The run handle (issue 23 item 4, issue 22 item 8): ``yololens.open_run`` -> ``Run``; every analysis function
takes a run path, a ``Run`` or a result with ``.out``; every layer argument takes indices and aliases."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import yololens
from yololens.analysis.run import Run, open_run, run_folder
from yololens.errors import InputError


@pytest.fixture
def run_copy(synthetic_run, tmp_path) -> Path:
    d = tmp_path / "run"
    shutil.copytree(synthetic_run, d)
    return d


def _with_aliases(run: Path) -> Path:
    layers = [{"layer": 9, "column": "emb_L9", "aliases": ["sppf"]},
              {"layer": 15, "column": "emb_L15", "aliases": ["p3"]}]
    (run / "manifest.json").write_text(json.dumps({"job": "extract", "layers": layers}))
    return run


def test_open_run_accepts_a_path_a_run_and_a_result(run_copy):
    run = open_run(run_copy)
    assert isinstance(run, Run) and run.path == run_copy
    assert open_run(run) is run
    assert open_run(str(run_copy / "objects.parquet")).path == run_copy
    res = yololens.ExtractResult(run_copy, run_copy / "objects.parquet", {})
    assert open_run(res).path == run_copy
    assert Path(run) == run_copy and Path(res) == run_copy  # both are os.PathLike
    assert run.num_rows == 240
    assert run.embedding_columns == ["emb_L9", "emb_L15", "emb_coef"]


def test_open_run_refuses_what_is_not_a_run(tmp_path, run_copy):
    with pytest.raises(InputError, match="no such run folder"):
        open_run(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="not a yololens run folder"):
        open_run(tmp_path / "empty")
    with pytest.raises(InputError, match="not int"):
        run_folder(3)
    (run_copy / "manifest.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="JSON object, not a list"):
        open_run(run_copy).manifest
    (run_copy / "manifest.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(InputError, match="not readable as JSON"):
        open_run(run_copy).manifest
    # one reader for every manifest: the table helpers (image roots, class map, aliases) refuse alike
    from yololens.analysis import table as T

    with pytest.raises(InputError, match="manifest.json: not readable as JSON"):
        T.image_roots(run_copy)
    (run_copy / "manifest.json").unlink()
    (run_copy / "manifest.json").mkdir()
    with pytest.raises(InputError, match="not a regular file"):
        T.manifest(run_copy)


def test_aliases_resolve_everywhere_a_layer_is_taken(run_copy):
    run = open_run(_with_aliases(run_copy))
    assert run.job == "extract"
    assert run.column("sppf") == "emb_L9" and run.column("P3") == "emb_L15" and run.column("L9") == "emb_L9"
    X_alias, ids_alias = run.embeddings("sppf")
    X_index, ids_index = run.embeddings(9)
    np.testing.assert_array_equal(X_alias, X_index)
    np.testing.assert_array_equal(ids_alias, ids_index)
    assert run.columns("sppf,p3") == ["emb_L9", "emb_L15"]
    res = yololens.ExtractResult(run_copy, run_copy / "objects.parquet", {})
    np.testing.assert_array_equal(res.embeddings("sppf").array, X_index)
    with pytest.raises(InputError, match="available layers: L9, L15, coef"):
        run.column("p5")


def test_analysis_functions_take_a_result_or_a_run(run_copy):
    _with_aliases(run_copy)
    res = yololens.ExtractResult(run_copy, run_copy / "objects.parquet", {})
    proj = yololens.project(res, "sppf", "pca", progress=False)
    assert proj.coords.shape == (240, 2)
    plotted = yololens.plot(open_run(run_copy), "p3", "pca", html=False)
    png = Path(plotted.paths["png"])
    assert png.is_file() and png.resolve().is_relative_to(run_copy.resolve())
    report = yololens.stages(res, layers=["sppf", "p3"], n_boot=50, sample=None, trust_sample=0)
    assert list(report.table["stage"])[:2] == ["L9", "L15"]


def test_stage_table_is_read_back(run_copy):
    (run_copy / "stages.csv").unlink(missing_ok=True)  # the session's synthetic run may hold one already
    run = open_run(run_copy)
    assert run.stages() is None
    yololens.stages(run, n_boot=50, trust_sample=0)
    table = run.stages()
    assert table is not None and set(table["stage"]) >= {"L9", "L15"}


def test_extract_records_layer_aliases_in_the_manifest(det_weights, bdd_detect, tmp_path):
    res = yololens.extract(str(det_weights), str(bdd_detect / "images"), str(bdd_detect / "labels" / "annotation.json"),
                           layers="sppf,p3", boxes="gt", out=tmp_path / "run")
    aliases = {e["column"]: e["aliases"] for e in res.manifest["layers"]}
    assert aliases == {"emb_L9": ["sppf"], "emb_L15": ["p3"]}
    X_alias, _ = res.embeddings("sppf")
    X_index, _ = res.embeddings("L9")
    assert X_alias.shape == (10, 256)
    np.testing.assert_array_equal(X_alias, X_index)
    assert open_run(res).column("p3") == "emb_L15"
