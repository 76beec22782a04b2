"""``yololens protos``, ``coefficients`` (seed flag names) and ``coef-report`` end to end, plus figures."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from yololens.cli.app import app

pytestmark = pytest.mark.shared

runner = CliRunner()


def _pixel_std(path) -> float:
    from PIL import Image

    return float(np.asarray(Image.open(path).convert("L"), dtype=np.float32).std())


@pytest.fixture(scope="module")
def folder(tmp_path_factory, seed_coco_images):
    d = tmp_path_factory.mktemp("cli_imgs")
    for name in ("000000000285.jpg", "000000007108.jpg"):
        shutil.copy(seed_coco_images / name, d / name)
    return d


def test_protos_cli_bear(seg_weights, seed_coco_images, tmp_path):
    out = tmp_path / "p"
    res = runner.invoke(app, ["protos", "-m", str(seg_weights), "-s", str(seed_coco_images / "000000000285.jpg"),
                              "-o", str(out), "--order", "index", "--max-instances", "1", "--no-progress"])
    assert res.exit_code == 0, res.output
    d = out / "000000000285_jpg"
    meta = json.loads((d / "meta.json").read_text())
    assert meta["instances"][0]["class_name"] == "bear" and meta["mask_space"] == "letterboxed"
    protos = np.load(d / "protos.npy")
    coefs = np.load(d / "coefs.npy")
    assert protos.shape[0] == 32 and coefs.shape == (len(meta["instances"]), 32)
    fig = d / "instance_000_bear.png"
    assert _pixel_std(fig) > 20 and _pixel_std(d / "masks.png") > 20


def test_protos_cli_retina_svg_shared_scale(seg_weights, assets, tmp_path):
    out = tmp_path / "p"
    res = runner.invoke(app, ["protos", "-m", str(seg_weights), "-s", str(assets / "zidane.jpg"), "-o", str(out),
                              "--retina-masks", "--shared-scale", "--max-instances", "1", "--format", "svg",
                              "--imgsz", "320", "--no-progress"])
    assert res.exit_code == 0, res.output
    d = out / "zidane_jpg"
    meta = json.loads((d / "meta.json").read_text())
    assert meta["mask_space"] == "original" and meta["mask_shape"] == [720, 1280]
    assert (d / "masks.svg").read_text().lstrip().startswith("<?xml")
    assert len(list(d.glob("instance_*.svg"))) == 1


def test_protos_detect_model_refused(det_weights, assets, tmp_path):
    res = runner.invoke(app, ["protos", "-m", str(det_weights), "-s", str(assets / "bus.jpg"), "-o", str(tmp_path)])
    assert res.exit_code == 2 and "task is 'detect'" in res.output


def test_coefficients_seed_flags(seg_weights, folder, tmp_path):
    res = runner.invoke(app, ["coefficients", "--model", str(seg_weights), "--images_folder", str(folder),
                              "--save_folder", str(tmp_path), "--csv_filename", "mask_coefficient_31.csv",
                              "--coefficient_index", "31", "--imgsz", "320", "--save-prototype-png",
                              "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "2 image(s)" in res.output and "0 skipped" in res.output
    header = (tmp_path / "mask_coefficient_31.csv").read_text().splitlines()[0].replace('"', "")
    assert header.endswith(",mask_area,coef_31") and "coef_0" not in header
    pngs = sorted((tmp_path / "prototypes").glob("*.png"))
    assert [p.name for p in pngs] == ["000000000285_jpg_p31.png", "000000007108_jpg_p31.png"]
    assert _pixel_std(pngs[0]) > 20
    # rerun: everything already done
    again = runner.invoke(app, ["coefficients", "--model", str(seg_weights), "--images_folder", str(folder),
                                "--save_folder", str(tmp_path), "--csv_filename", "mask_coefficient_31.csv",
                                "--coefficient_index", "31", "--imgsz", "320", "--no-progress"])
    assert again.exit_code == 0 and "2 already done" in again.output


def test_coefficients_seed_layout_and_report_cli(seg_weights, folder, tmp_path):
    res = runner.invoke(app, ["coefficients", "-m", str(seg_weights), "-s", str(folder), "-o", str(tmp_path),
                              "--layout", "seed", "--all", "--imgsz", "320", "--no-progress"])
    assert res.exit_code == 0, res.output
    table = tmp_path / "mask_coefficients.csv"
    assert table.read_text().splitlines()[0].replace('"', "") == ",".join(
        ["image_name", "type"] + [f"mask_{k}" for k in range(1, 33)])
    rep = runner.invoke(app, ["coef-report", str(table), "-o", str(tmp_path / "rep")])
    assert rep.exit_code == 0, rep.output
    assert _pixel_std(tmp_path / "rep" / "histograms.png") > 10
    assert (tmp_path / "rep" / "class_mean.csv").exists() and not (tmp_path / "rep" / "ablation.csv").exists()


def test_coefficients_cli_errors_and_skips(seg_weights, det_weights, folder, tmp_path):
    bad = runner.invoke(app, ["coefficients", "-m", str(seg_weights), "-s", str(folder), "-o", str(tmp_path),
                              "--index", "40"])
    assert bad.exit_code == 2 and "0..31" in bad.output
    both = runner.invoke(app, ["coefficients", "-m", str(seg_weights), "-s", str(folder), "-o", str(tmp_path),
                               "--index", "1", "--all"])
    assert both.exit_code == 2 and "error: give either --index or --all, not both" in both.output
    det = runner.invoke(app, ["coefficients", "-m", str(det_weights), "-s", str(folder), "-o", str(tmp_path)])
    assert det.exit_code == 2 and "task is 'detect'" in det.output
    broken = tmp_path / "broken"
    broken.mkdir()
    shutil.copy(folder / "000000000285.jpg", broken / "ok.jpg")
    (broken / "bad.jpg").write_bytes(b"not an image")
    res = runner.invoke(app, ["coefficients", "-m", str(seg_weights), "-s", str(broken), "-o", str(tmp_path / "o"),
                              "--imgsz", "320", "--no-progress"])
    assert res.exit_code == 1, res.output
    assert "bad.jpg" in res.output and "1 skipped" in res.output


def test_protos_result_names_the_folders_it_wrote(seg_weights, assets, tmp_path):
    """Callers (the report) find each image's figures through ``ProtosResult.folders``, not by re-deriving names."""
    from yololens.jobs.protos import protos

    image = str((assets / "bus.jpg").resolve())  # an absolute path: its key (and folder) is the file name
    res = protos(str(seg_weights), image, tmp_path / "p", max_instances=1, imgsz=320, progress=False)
    folder = res.folders["bus.jpg"]
    assert folder == tmp_path / "p" / "bus_jpg" and (folder / "meta.json").is_file()
    assert list(folder.glob("instance_*.png"))
