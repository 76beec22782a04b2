"""The job skeleton (issue 23): one spec, one window contract for every executor, one manifest schema; and one
folder holds one job's manifest (issue 19 item 10)."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from yololens.engine.executors import LOCAL, WindowOutcome
from yololens.errors import InputError
from yololens.sources.records import ImageRecord
from yololens.store.manifest import VERSION, claim_folder, manifest_job

TINY = dict(imgsz=64, batch=1, backend="torch", threads=1, progress=False)


def _records(n: int) -> list[ImageRecord]:
    return [ImageRecord(i, Path(f"/nowhere/{i}.jpg"), f"{i}.jpg") for i in range(n)]


@dataclass(frozen=True)
class _Spec:
    tag: str


_BUILT: list[str] = []


def _build(spec: _Spec):
    _BUILT.append(spec.tag)

    def work(window):
        return WindowOutcome(window[0].index, [r.name for r in window], rows=2 * len(window))
    return work


def test_local_executor_builds_once_and_runs_every_window():
    _BUILT.clear()
    records = _records(5)
    windows = [records[0:2], records[2:4], records[4:5]]
    outcomes = list(LOCAL.run(_build, _Spec("a"), windows, Path("."), progress=False))
    assert _BUILT == ["a"]  # one build per worker, not per window
    assert [o.first_index for o in outcomes] == [0, 2, 4] and sum(o.rows for o in outcomes) == 10
    assert list(LOCAL.run(_build, _Spec("b"), [], Path("."), progress=False)) == [] and _BUILT == ["a"]


def test_extract_spec_is_frozen_picklable_and_resolved_once(assets, tmp_path):
    """What a Ray worker gets: the backend resolved to a concrete one, layers as LayerId, enums as enums."""
    from yololens.engine.pooling import PoolMode
    from yololens.jobs.extract_spec import extract_spec
    from yololens.types import Backend, BoxMode, LayerId

    spec = extract_spec("yolov8n.yaml", assets / "bus.jpg", out=tmp_path / "o", layers="9,15", boxes="pred",
                        pool="box", imgsz=64, backend="auto", progress=False)
    assert spec.compute.backend in (Backend.TORCH, Backend.OPENVINO)  # never auto downstream
    assert spec.layers == (LayerId(9), LayerId(15)) and spec.boxes is BoxMode.PRED and spec.pool is PoolMode.BOX
    with pytest.raises(AttributeError):
        spec.window = 3  # frozen
    back = pickle.loads(pickle.dumps(spec))
    assert back.settings() == spec.settings() and back.layers == spec.layers
    assert spec.settings()["layers"] == ["9", "15"]  # the resume guard's record, as before
    assert not (tmp_path / "o").exists()  # building a spec writes nothing


def test_manifest_has_job_and_version(assets, tmp_path):
    from yololens.jobs.extract import extract

    res = extract("yolov8n.yaml", assets / "bus.jpg", out=tmp_path, layers=[9], **TINY)
    assert res.manifest["job"] == "extract" and res.manifest["version"] == VERSION == 2
    assert res.manifest["command"] == "extract"  # version 1 readers keep working
    assert manifest_job(tmp_path) == "extract"


def test_another_jobs_manifest_is_refused_up_front(assets, tmp_path):
    """coefficients -o RUN after extract -o RUN: one line naming the folder and the other job, before the model
    loads (a missing model file is not even looked at), and extract's manifest is kept byte for byte."""
    from yololens.jobs.coefficients import coefficients
    from yololens.jobs.extract import extract

    extract("yolov8n.yaml", assets / "bus.jpg", out=tmp_path, layers=[9], **TINY)
    before = (tmp_path / "manifest.json").read_bytes()
    with pytest.raises(InputError) as info:
        coefficients(tmp_path / "missing-seg.pt", assets / "bus.jpg", tmp_path, **TINY)
    msg = str(info.value)
    assert "\n" not in msg and str(tmp_path) in msg and "`extract`" in msg and "choose another --out" in msg
    assert (tmp_path / "manifest.json").read_bytes() == before
    assert not (tmp_path / "mask_coefficients.csv").exists()


def test_version_1_manifest_is_recognised_by_its_command(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"command": "coefficients", "params": {}}))
    assert manifest_job(tmp_path) == "coefficients"
    claim_folder(tmp_path, "coefficients")  # the same job resumes
    with pytest.raises(InputError, match="holds the manifest of a `coefficients` run; extract would replace it"):
        claim_folder(tmp_path, "extract")


@pytest.mark.parametrize("content", ["[1, 2]", "{not json", '{"params": {}}'])
def test_a_manifest_we_cannot_read_is_refused_in_one_line(tmp_path, content):
    (tmp_path / "manifest.json").write_text(content)
    with pytest.raises(InputError, match=r"manifest.json: not a yololens manifest .*; choose another --out$"):
        claim_folder(tmp_path, "extract")


def test_cli_exit_2_for_another_jobs_folder(tmp_path, assets):
    (tmp_path / "manifest.json").write_text(json.dumps({"job": "maps", "version": 2}))
    proc = subprocess.run([sys.executable, "-m", "yololens.cli.app", "extract", "--model", "yolov8n.yaml", "--source",
                           str(assets / "bus.jpg"), "--out", str(tmp_path), "--imgsz", "64", "--no-progress"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(tmp_path) in lines[0] and "`maps`" in lines[0]
