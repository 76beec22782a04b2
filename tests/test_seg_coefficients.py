"""The coefficients table: values, layouts, resume/crash safety, errors, ablation and the report."""

from __future__ import annotations

import shutil

import numpy as np
import pyarrow.csv as pacsv
import pytest
import torch

from yololens.engine.runner import Runner
from yololens.errors import InputError, ModelError
from yololens.model import ultra
from yololens.seg import instances_of
from yololens.seg.ablation import ablation_drops
from yololens.jobs.coefficients import coefficients
from yololens.seg.common import seg_model
from yololens.sources.resolve import open_source

pytestmark = pytest.mark.shared

IMAGES = ["000000000285.jpg", "000000007108.jpg", "000000053624.jpg", "000000058111.jpg"]


@pytest.fixture(scope="module")
def loaded(seg_weights):
    return seg_model(str(seg_weights), "test", device="cpu")


@pytest.fixture(scope="module")
def folder(tmp_path_factory, seed_coco_images, assets):
    d = tmp_path_factory.mktemp("imgs")
    for name in IMAGES:
        shutil.copy(seed_coco_images / name, d / name)
    shutil.copy(assets / "bus.jpg", d / "bus.jpg")
    return d


def _read_csv(path):
    return pacsv.read_csv(path).to_pandas()


def _run(loaded, source, out, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("batch", 2)
    kw.setdefault("imgsz", 320)  # speed; exactness at 640 is test_seg_exact's job
    return coefficients(loaded, source, out, **kw)


def test_rows_equal_detections(loaded, folder, tmp_path):
    res = _run(loaded, folder, tmp_path)
    df = _read_csv(res.table)
    assert res.images == 5 and res.instances == len(df) and not res.skips
    assert list(df.columns[:11]) == ["image_name", "instance", "nms_index", "class_id", "class_name", "score",
                                     "x1", "y1", "x2", "y2", "mask_area"]
    assert [c for c in df.columns if c.startswith("coef_")] == [f"coef_{k}" for k in range(32)]
    assert list(df.image_name.unique()) == sorted(IMAGES + ["bus.jpg"])  # source order
    runner = Runner(loaded, imgsz=320)
    for name, rows in df.groupby("image_name", sort=False):
        img = ultra.imread(str(folder / name))
        r = runner.run([img]).images[0]
        inst = instances_of(r, False)
        assert list(rows.instance) == list(range(len(inst)))
        coefs = rows[[f"coef_{k}" for k in range(32)]].to_numpy(np.float32)
        np.testing.assert_array_equal(coefs, inst.coefs.numpy())  # exact float32 round trip through CSV
        np.testing.assert_array_equal(rows.nms_index.to_numpy(), inst.nms_index)
        np.testing.assert_allclose(rows[["x1", "y1", "x2", "y2"]].to_numpy(), inst.boxes, atol=1e-4)
        assert [loaded.names[int(c)] for c in inst.class_ids] == list(rows.class_name)
        # mask_area = pixels of Ultralytics' retina mask, at original resolution
        retina = instances_of(r, True)
        if len(retina) == len(inst):
            np.testing.assert_array_equal(rows.mask_area.to_numpy(), retina.mask_areas())


def test_mask_area_matches_ultralytics_retina(loaded, folder, tmp_path):
    from ultralytics import YOLO
    from ultralytics.utils import NUM_THREADS

    before = torch.get_num_threads()
    try:
        ref = YOLO(str(loaded.path)).predict(str(folder / "bus.jpg"), retina_masks=True, verbose=False)[0]
        torch.set_num_threads(NUM_THREADS)
        res = _run(loaded, open_source(folder / "bus.jpg"), tmp_path, indices=[0], imgsz=640)
    finally:
        torch.set_num_threads(before)
    df = _read_csv(res.table)
    np.testing.assert_array_equal(df.mask_area.to_numpy(), ref.masks.data.sum((1, 2)).numpy())


def test_seed_layout_header_and_parquet(loaded, folder, tmp_path):
    res = _run(loaded, folder, tmp_path, layout="seed")
    header = res.table.read_text().splitlines()[0]
    assert header.replace('"', "") == ",".join(["image_name", "type"] + [f"mask_{k}" for k in range(1, 33)])
    seed = _read_csv(res.table)
    pq = _run(loaded, folder, tmp_path / "pq", table="c.parquet", indices="3,31")
    import pyarrow.parquet as pqm

    t = pqm.read_table(pq.table).to_pandas()
    assert [c for c in t.columns if c.startswith("coef_")] == ["coef_3", "coef_31"]
    np.testing.assert_array_equal(t.coef_3.to_numpy(np.float32), seed.mask_4.to_numpy(np.float32))
    assert list(t.class_name) == list(seed.type)


def test_resume_equals_clean_run(loaded, folder, tmp_path, monkeypatch):
    clean = _run(loaded, folder, tmp_path / "clean", window=2).table.read_bytes()
    # 1) a run on a subset (the first images), then the full set: another source, refused rather than mixed
    records = open_source(folder)
    subset = type(records)(records=records.records[:2], format=records.format)
    first = _run(loaded, subset, tmp_path / "resume", window=2).table.read_bytes()
    with pytest.raises(InputError, match=r"different source \(3 added, 0 removed, 0 modified.*--overwrite"):
        _run(loaded, folder, tmp_path / "resume", window=2)
    assert (tmp_path / "resume" / "mask_coefficients.csv").read_bytes() == first
    # 2) a crash after the first window: parts stay, no final file; the rerun completes it
    calls = {"n": 0}
    real_run = Runner.run

    def crashing(self, images):
        calls["n"] += 1
        if calls["n"] > 2:  # window=2, batch=1: two forward passes per window
            raise KeyboardInterrupt
        return real_run(self, images)

    monkeypatch.setattr(Runner, "run", crashing)
    with pytest.raises(KeyboardInterrupt):
        _run(loaded, folder, tmp_path / "crash", window=2, batch=1)
    assert not (tmp_path / "crash" / "mask_coefficients.csv").exists()
    monkeypatch.setattr(Runner, "run", real_run)
    again = _run(loaded, folder, tmp_path / "crash", window=2)
    assert again.resumed == 2 and again.table.read_bytes() == clean
    # 3) different settings refuse to mix with existing rows
    with pytest.raises(InputError, match="different settings"):
        _run(loaded, folder, tmp_path / "crash", window=2, conf=0.5)


def test_errors(loaded, det_weights, folder, tmp_path):
    with pytest.raises(InputError, match=r"valid indices are 0\.\.31"):
        _run(loaded, folder, tmp_path, indices=[32])
    with pytest.raises(InputError, match="not an integer"):
        _run(loaded, folder, tmp_path, indices=["x"])
    with pytest.raises(ModelError, match="task is 'detect'"):
        _run(str(det_weights), folder, tmp_path)


def test_ablation_matches_loop(loaded, assets):
    res = Runner(loaded).run([ultra.imread(str(assets / "bus.jpg"))]).images[0]
    inst = instances_of(res)
    drops = ablation_drops(inst, res.protos)
    assert drops.shape == (len(inst), 32) and (drops >= 0).all() and (drops <= 1).all()
    from ultralytics.utils import ops

    i = 3  # the bus
    p, c = res.protos, inst.coefs[i]
    base = ops.process_mask(p, c[None], inst.boxes_lb[i:i + 1], res.letterbox.input_shape, upsample=False)[0].bool()
    for k in (0, int(np.argmax(np.abs(c.numpy())))):
        c2 = c.clone()
        c2[k] = 0
        abl = ops.process_mask(p, c2[None], inst.boxes_lb[i:i + 1], res.letterbox.input_shape, upsample=False)[0]
        abl = abl.bool()
        iou = (abl & base).sum().item() / max((abl | base).sum().item(), 1)
        assert drops[i, k] == pytest.approx(1 - iou, abs=1e-6)


def test_report_from_run(loaded, folder, tmp_path):
    res = _run(loaded, folder, tmp_path, report=True)
    rep = res.report
    for name in ("histograms.png", "class_mean.png", "class_mean.csv", "usage.png", "usage.csv", "ablation.png",
                 "ablation.csv"):
        assert (rep / name).stat().st_size > 0, name
    from PIL import Image

    for name in ("histograms.png", "usage.png", "ablation.png"):
        assert np.asarray(Image.open(rep / name).convert("L"), dtype=np.float32).std() > 10
    usage = _read_csv(rep / "usage.csv")
    assert set(usage.columns) == {"class_name", "prototype", "n", "mean", "mean_abs", "pos_share", "neg_share"}
    np.testing.assert_allclose(usage.pos_share + usage.neg_share, 1.0, atol=1e-6)
    abl = _read_csv(rep / "ablation.csv")
    assert set(abl.prototype) == set(range(32)) and "(all)" in set(abl.class_name)
