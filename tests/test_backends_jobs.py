"""--backend from the API and the CLI of every model command: outputs, manifest, resume guard."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from yololens.cli.app import app
from yololens.engine.backends import openvino_available
from yololens.jobs.extract import extract
from yololens.errors import InputError
from yololens.jobs.coefficients import coefficients
from yololens.jobs.protos import protos

pytestmark = pytest.mark.skipif(not openvino_available(), reason="openvino is not installed")
cli = CliRunner()


def _rel_l2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.linalg.norm(a - b, axis=1) / np.maximum(np.linalg.norm(b, axis=1), 1e-12)


def test_extract_openvino_matches_torch_and_guards_resume(seg_weights, assets, tmp_path):
    kw = dict(layers=[9, 15], imgsz=320, progress=False)
    ov = extract(str(seg_weights), str(assets), out=tmp_path / "ov", backend="openvino", **kw)
    pt = extract(str(seg_weights), str(assets), out=tmp_path / "pt", backend="torch", **kw)
    params = ov.manifest["params"]
    assert (params["backend"], params["precision"]) == ("openvino", "f32")
    assert pt.manifest["params"]["backend"] == "torch"
    a, b = ov.to_pandas(), pt.to_pandas()
    assert len(a) == len(b) > 0 and list(a.class_name) == list(b.class_name)
    np.testing.assert_allclose(a[["x1", "y1", "x2", "y2"]].to_numpy(), b[["x1", "y1", "x2", "y2"]].to_numpy(),
                               atol=1e-2)
    for col in ("emb_L9", "emb_L15"):
        assert _rel_l2(np.stack(a[col]), np.stack(b[col])).max() <= 1e-4
    np.testing.assert_allclose(np.stack(a.emb_coef), np.stack(b.emb_coef), atol=1e-4)
    with pytest.raises(InputError, match=r"different settings \(backend\)"):
        extract(str(seg_weights), str(assets), out=tmp_path / "ov", backend="torch", **kw)
    again = extract(str(seg_weights), str(assets), out=tmp_path / "ov", backend="openvino", **kw)
    assert again.images_done == 0  # same backend: resumed, nothing redone


def test_default_backend_follows_the_cpu_and_the_env_overrides(det_weights, assets, tmp_path, monkeypatch):
    from yololens.engine.backends import openvino_backend

    def run(name):
        res = extract(str(det_weights), str(assets / "bus.jpg"), out=tmp_path / name, layers=[15], imgsz=320,
                      progress=False)
        assert res.objects > 0
        return res.manifest["params"]["backend"], res.manifest["params"]["precision"]

    monkeypatch.delenv("YOLOLENS_BACKEND", raising=False)  # the suite pins auto -> torch; a user's run does not
    monkeypatch.setattr(openvino_backend, "cpu_has_bf16", lambda core=None: False)
    assert run("avx2") == ("torch", "f32")
    monkeypatch.setattr(openvino_backend, "cpu_has_bf16", lambda core=None: True)
    assert run("bf16") == ("openvino", "f32")  # the bf16-capable CPU computes in f32 all the same
    monkeypatch.setenv("YOLOLENS_BACKEND", "torch")
    assert run("env") == ("torch", "f32")


def test_export_failure_is_one_line(det_weights, monkeypatch):
    import openvino

    from yololens.engine.runner import Runner
    from yololens.errors import ModelError
    from yololens.model.loading import load_model

    def broken(*_a, **_k):
        raise RuntimeError("Tracer cannot infer type of output\nsecond line")

    monkeypatch.setattr(openvino, "convert_model", broken)
    model = load_model(str(det_weights), device="cpu")
    with pytest.raises(ModelError, match=r"OpenVINO export failed \(Tracer cannot infer type of output second "
                                         r"line\); run it with --backend torch"):
        Runner(model, layers=[4, 6], backend="openvino")


def test_coefficients_and_protos_with_openvino(seg_weights, assets, tmp_path):
    kw = dict(imgsz=320, progress=False)
    ov = coefficients(str(seg_weights), str(assets), tmp_path / "ov", table_format="parquet", backend="openvino", **kw)
    pt = coefficients(str(seg_weights), str(assets), tmp_path / "pt", table_format="parquet", backend="torch", **kw)
    a, b = pq.read_table(ov.table).to_pandas(), pq.read_table(pt.table).to_pandas()
    assert len(a) == len(b) > 0 and list(a.class_name) == list(b.class_name)
    coef = [c for c in a.columns if c.startswith("coef_")]
    np.testing.assert_allclose(a[coef].to_numpy(), b[coef].to_numpy(), atol=1e-4)
    manifest = json.loads((tmp_path / "ov" / "manifest.json").read_text())
    assert (manifest["params"]["backend"], manifest["params"]["precision"]) == ("openvino", "f32")
    with pytest.raises(InputError, match="backend"):
        coefficients(str(seg_weights), str(assets), tmp_path / "ov", table_format="parquet", backend="torch", **kw)

    res = protos(str(seg_weights), str(assets / "bus.jpg"), tmp_path / "protos", backend="openvino",
                 max_instances=1, **kw)
    (folder,) = res.folders.values()
    meta = json.loads((folder / "meta.json").read_text())
    assert len(meta["instances"]) == len(b[b.image_name == "bus.jpg"])
    assert (meta["compute"]["backend"], meta["compute"]["precision"]) == ("openvino", "f32")
    assert (folder / "masks.png").is_file()


def test_maps_all_layers_cli_openvino(det_weights, assets, tmp_path):
    args = ["maps", "-m", str(det_weights), "-s", str(assets / "bus.jpg"), "--layers", "all", "--imgsz", "320",
            "--no-progress", "--channels", "0", "--dtype", "float32"]
    for backend in ("openvino", "torch"):
        res = cli.invoke(app, args + ["-o", str(tmp_path / backend), "--backend", backend])
        assert res.exit_code == 0, res.output
    manifest = json.loads((tmp_path / "openvino" / "manifest.json").read_text())
    assert (manifest["backend"], manifest["precision"]) == ("openvino", "f32")
    ov_files = sorted((tmp_path / "openvino" / "bus_jpg").glob("L*.npy"))
    assert len(ov_files) == 22  # every layer but the head
    for path in ov_files:
        a, b = np.load(path), np.load(tmp_path / "torch" / "bus_jpg" / path.name)
        assert a.shape == b.shape
        assert np.linalg.norm(a - b) <= 1e-4 * max(np.linalg.norm(b), 1e-12), path.name


def test_cli_rejects_an_unknown_backend_in_one_line(assets, tmp_path):
    """The console script (``main``) turns typer's choice error into one line, exit 2."""
    import os
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "yololens.cli.app", "extract", "-s", str(assets / "bus.jpg"), "-m",
                           "yolov8n.yaml", "-o", str(tmp_path), "--backend", "tensorrt"], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "'tensorrt' is not one of" in lines[0], lines
    assert "openvino" in lines[0] and "torch" in lines[0]


def test_report_passes_the_backend_to_every_model_pass(det_weights, assets, tmp_path):
    from yololens.report.build import build_report

    res = build_report(str(det_weights), str(assets / "bus.jpg"), out=tmp_path, max_images=1, progress=False,
                       imgsz=320, sections=("maps",), backend="openvino", threads=1)
    assert not res.failed
    extract_manifest = json.loads((tmp_path / "extract" / "manifest.json").read_text())
    maps_manifest = json.loads(next(tmp_path.rglob("maps/manifest.json")).read_text())
    assert (extract_manifest["params"]["backend"], extract_manifest["params"]["threads"]) == ("openvino", 1)
    assert (maps_manifest["backend"], maps_manifest["threads"]) == ("openvino", 1)
