"""The OpenVINO backend against torch and Ultralytics predict (the issue's tolerances), and its plumbing.

Tolerances: boxes 1e-2 px, scores 1e-4, embeddings 1e-4 relative (L2), seg coefficients 1e-4,
masks IoU >= 0.999 per instance. Real weights for YOLOv8 detect and seg; YOLO11 and YOLO26 (both
heads) built from yaml, compared on the raw head output and the hooked layers.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from yololens.engine.backends import Backend, Compute, Precision, openvino_available, prepare_model, resolve_backend
from yololens.engine.pooling import clip_to_content, pool_boxes
from yololens.engine.runner import Runner
from yololens.errors import ModelError
from yololens.model import ultra
from yololens.model.loading import load_model
from yololens.seg.instances import instances_of

pytestmark = pytest.mark.skipif(not openvino_available(), reason="openvino is not installed")

LAYERS = [9, 15, 18, 21]
BOX_ATOL, SCORE_ATOL, EMB_RTOL, COEF_ATOL, MASK_IOU = 1e-2, 1e-4, 1e-4, 1e-4, 0.999


def _rel_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b).clamp_min(1e-12))


def _same_dets(dets, boxes, scores, classes) -> None:
    assert len(dets) == len(boxes) > 0
    np.testing.assert_array_equal(dets.class_ids, classes)
    np.testing.assert_allclose(dets.boxes, boxes, atol=BOX_ATOL)
    np.testing.assert_allclose(dets.scores, scores, atol=SCORE_ATOL)


def _mask_iou(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    a, b = a.bool().flatten(1), b.bool().flatten(1)
    inter = (a & b).sum(1).float()
    union = (a | b).sum(1).float().clamp_min(1)
    return (inter / union).numpy()


@pytest.mark.parametrize("weights_fixture", ["det_weights", "seg_weights"])
def test_openvino_matches_torch_and_predict_on_real_weights(request, weights_fixture, assets):
    from ultralytics import YOLO

    weights = request.getfixturevalue(weights_fixture)
    model = load_model(str(weights), device="cpu")
    layers = LAYERS + (["proto"] if model.task == "segment" else [])
    ov = Runner(model, layers=layers, backend="openvino")
    pt = Runner(model, layers=layers, backend="torch")
    assert ov.backend.name is Backend.OPENVINO and pt.backend.name is Backend.TORCH
    yolo = YOLO(str(weights))
    for name in ("bus.jpg", "zidane.jpg"):
        im = ultra.imread(str(assets / name))
        a, b = ov.run([im]).images[0], pt.run([im]).images[0]
        ref = yolo.predict(str(assets / name), verbose=False)[0]
        _same_dets(a.detections, b.detections.boxes, b.detections.scores, b.detections.class_ids)
        _same_dets(a.detections, ref.boxes.xyxy.numpy(), ref.boxes.conf.numpy(), ref.boxes.cls.numpy().astype(int))
        boxes = [clip_to_content(b.detections.boxes_lb, b.letterbox.content)]
        shape = b.letterbox.input_shape
        for layer in LAYERS:
            ea = pool_boxes(a.features[layer][None], boxes, shape)
            eb = pool_boxes(b.features[layer][None], boxes, shape)
            for i in range(len(eb)):
                assert _rel_l2(ea[i], eb[i]) <= EMB_RTOL, (name, layer, i)
        if model.task == "segment":
            torch.testing.assert_close(a.detections.coefs, b.detections.coefs, atol=COEF_ATOL, rtol=0)
            ia = instances_of(a)
            assert len(ia) == len(ref.masks.data)
            assert _mask_iou(ia.masks, ref.masks.data).min() >= MASK_IOU


def test_openvino_batches_equal_single_images(det_weights, assets):
    model = load_model(str(det_weights), device="cpu")
    ov = Runner(model, layers=[15], backend="openvino")
    im = ultra.imread(str(assets / "zidane.jpg"))
    one = ov.run([im]).images[0]
    two = ov.run([im, im.copy()]).images[1]  # dynamic batch; the same minimal letterbox
    np.testing.assert_allclose(two.detections.boxes, one.detections.boxes, atol=BOX_ATOL)
    torch.testing.assert_close(two.features[15], one.features[15], atol=1e-4, rtol=1e-4)


def _raw(runner: Runner, x: torch.Tensor):
    output, feats = runner.backend.forward(x)
    preds, protos = ultra.split_head_output(output, runner.model.task)
    return (preds[0] if isinstance(preds, (list, tuple)) else preds), protos, feats


@pytest.mark.parametrize("yaml, end2end", [("yolo11n-seg.yaml", None), ("yolo11n.yaml", None),
                                           ("yolo26n-seg.yaml", False), ("yolo26n-seg.yaml", True),
                                           ("yolo26n.yaml", False), ("yolo26n.yaml", True)])
def test_openvino_matches_torch_on_yolo11_and_yolo26(yaml, end2end, assets):
    torch.manual_seed(0)
    model = load_model(yaml, device="cpu", end2end=end2end)
    layers = [9, 16, 19, 22]
    ov = Runner(model, layers=layers, imgsz=320, backend="openvino")
    pt = Runner(model, layers=layers, imgsz=320, backend="torch")
    x = ultra.to_input_tensor(ov.letterbox([ultra.imread(str(assets / "bus.jpg"))]), model.device, False)
    pa, qa, fa = _raw(ov, x)
    pb, qb, fb = _raw(pt, x)
    assert pa.shape == pb.shape
    if model.end2end:  # (B, max_det, 6 + nm): top-k boxes, score, class, coefficients
        assert pa.shape[1:3] == (300, 6 + (model.nm or 0))
        torch.testing.assert_close(pa[..., 5], pb[..., 5], atol=0, rtol=0)  # same classes, same order
        torch.testing.assert_close(pa[..., :4], pb[..., :4], atol=BOX_ATOL, rtol=0)
        torch.testing.assert_close(pa[..., 4], pb[..., 4], atol=SCORE_ATOL, rtol=0)
    else:  # (B, 4 + nc + nm, anchors)
        torch.testing.assert_close(pa[:, :4], pb[:, :4], atol=BOX_ATOL, rtol=0)
        torch.testing.assert_close(pa[:, 4:4 + model.nc], pb[:, 4:4 + model.nc], atol=SCORE_ATOL, rtol=0)
    if model.task == "segment":
        torch.testing.assert_close(pa[..., -model.nm:] if model.end2end else pa[:, -model.nm:],
                                   pb[..., -model.nm:] if model.end2end else pb[:, -model.nm:],
                                   atol=COEF_ATOL, rtol=0)
        assert _rel_l2(qa, qb) <= EMB_RTOL
    for layer in layers:
        assert fa[layer].shape == fb[layer].shape
        assert _rel_l2(fa[layer], fb[layer]) <= EMB_RTOL, layer


def test_compiled_precision_is_f32_unless_half(det_weights):
    from yololens.engine.backends.openvino_backend import cpu_has_bf16

    model = load_model(str(det_weights), device="cpu")
    f32 = Runner(model, layers=[15], backend="openvino").backend
    assert f32.precision is Precision.F32 and f32.compiled_precision == "f32"
    half = Runner(model, layers=[15], backend="openvino", half=True).backend
    expected = "bf16" if cpu_has_bf16() else "f32"
    assert half.compiled_precision == expected == str(half.precision)
    assert Compute(Backend.OPENVINO, half=True).precision == Precision(expected)


def test_export_is_cached_and_keyed_by_layers(det_weights, monkeypatch):
    from yololens.engine.backends import openvino_backend

    model = load_model(str(det_weights), device="cpu")
    first = Runner(model, layers=[15], backend="openvino").backend.folder

    def no_export(*_a, **_k):
        raise AssertionError("exported again although the cache holds this export")

    monkeypatch.setattr(openvino_backend, "export_ir", no_export)
    assert Runner(model, layers=[15], backend="openvino").backend.folder == first
    with pytest.raises(AssertionError, match="exported again"):
        Runner(model, layers=[15, 18, 21, 12], backend="openvino")


def test_auto_resolution(monkeypatch):
    from yololens.engine import backends
    from yololens.engine.backends import openvino_backend

    cpu = torch.device("cpu")
    monkeypatch.delenv("YOLOLENS_BACKEND", raising=False)
    monkeypatch.setattr(openvino_backend, "cpu_has_bf16", lambda core=None: False)  # an AVX2 CPU, like this one
    assert resolve_backend("auto", cpu) is Backend.TORCH  # measured: OpenVINO is no faster there (README "Speed")
    assert resolve_backend(None, cpu) is Backend.TORCH
    monkeypatch.setattr(openvino_backend, "cpu_has_bf16", lambda core=None: True)  # AVX512-BF16 / AMX
    assert resolve_backend("auto", cpu) is Backend.OPENVINO and resolve_backend(None, cpu) is Backend.OPENVINO
    assert resolve_backend("auto", torch.device("cuda:0")) is Backend.TORCH
    monkeypatch.setattr(backends, "openvino_available", lambda: False)
    assert resolve_backend("auto", cpu) is Backend.TORCH  # not installed: torch, no error
    monkeypatch.undo()
    monkeypatch.delenv("YOLOLENS_BACKEND", raising=False)
    monkeypatch.setenv("YOLOLENS_BACKEND", "openvino")
    assert resolve_backend("auto", cpu) is Backend.OPENVINO
    assert resolve_backend("torch", cpu) is Backend.TORCH
    monkeypatch.setenv("YOLOLENS_BACKEND", "torch")
    assert resolve_backend("auto", cpu) is Backend.TORCH
    assert resolve_backend("openvino", cpu) is Backend.OPENVINO  # an explicit choice wins over the env
    with pytest.raises(ModelError, match="'tensorrt' is not one of auto, torch, openvino"):
        resolve_backend("tensorrt", cpu)
    with pytest.raises(ModelError, match="runs on the CPU"):
        resolve_backend("openvino", torch.device("cuda:0"))
    monkeypatch.setenv("YOLOLENS_BACKEND", "nope")
    with pytest.raises(ModelError, match=r"\$YOLOLENS_BACKEND 'nope'"):
        resolve_backend("auto", cpu)


def test_half_on_cpu_loads_f32_weights_for_openvino_only():
    loaded, compute = prepare_model("yolov8n.yaml", device="cpu", backend="openvino", half=True)
    assert not loaded.half and compute.half and compute.backend is Backend.OPENVINO
    with pytest.raises(ModelError, match="--half needs a CUDA device"):
        prepare_model("yolov8n.yaml", device="cpu", backend="torch", half=True)
    with pytest.raises(ModelError, match="--threads must be >= 0"):
        prepare_model("yolov8n.yaml", device="cpu", backend="torch", threads=-1)


@pytest.mark.reliability
def test_corrupt_cached_ir_is_rebuilt_and_still_exact(det_weights, assets, capsys):
    model = load_model(str(det_weights), device="cpu")
    folder = Runner(model, layers=[15], backend="openvino").backend.folder
    (folder / "model.bin").write_bytes((folder / "model.bin").read_bytes()[:1000])  # a half-written IR
    capsys.readouterr()
    rebuilt = Runner(model, layers=[15], backend="openvino")
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert err == [f"{folder}: cached OpenVINO export model.bin is corrupt (checksum mismatch); rebuilding it"]
    im = ultra.imread(str(assets / "bus.jpg"))
    a, b = rebuilt.run([im]).images[0], Runner(model, layers=[15]).run([im]).images[0]
    np.testing.assert_allclose(a.detections.boxes, b.detections.boxes, atol=BOX_ATOL)


@pytest.mark.reliability
def test_openvino_is_deterministic(det_weights, assets):
    model = load_model(str(det_weights), device="cpu")
    im = ultra.imread(str(assets / "zidane.jpg"))
    first = Runner(model, layers=[15], backend="openvino").run([im]).images[0]
    second = Runner(model, layers=[15], backend="openvino").run([im]).images[0]  # a fresh compile
    assert torch.equal(first.features[15], second.features[15])
    np.testing.assert_array_equal(first.detections.boxes, second.detections.boxes)


def test_compiled_blob_is_cached_and_a_bad_one_is_compiled_anew(det_weights, assets, monkeypatch, tmp_path):
    """OpenVINO's compiled-model cache under <cache root>/compiled: the second compile imports the blob, with the
    same outputs; a corrupt blob, or a cache folder that cannot be made, still gives them."""
    from yololens.engine.backends.openvino_backend import COMPILED_DIR

    monkeypatch.setenv("YOLOLENS_CACHE", str(tmp_path / "cache"))
    model = load_model(str(det_weights), device="cpu")
    im = ultra.imread(str(assets / "zidane.jpg"))

    def features():
        return Runner(model, layers=[15], backend="openvino").run([im]).images[0].features[15]

    first = features()
    blobs = list((tmp_path / "cache" / COMPILED_DIR).glob("*.blob"))
    assert len(blobs) == 1 and blobs[0].stat().st_size > 100_000
    assert torch.equal(features(), first)  # imported from the blob
    blobs[0].write_bytes(b"not a compiled model")
    assert torch.equal(features(), first)
    monkeypatch.setenv("YOLOLENS_CACHE", str(tmp_path / "ro"))
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / COMPILED_DIR).write_text("a file where the folder would go")
    assert torch.equal(features(), first)


def test_threads_reach_the_backend(det_weights):
    model = load_model(str(det_weights), device="cpu")
    ov = Runner(model, layers=[15], backend="openvino", threads=1).backend
    assert int(ov.compiled.get_property("INFERENCE_NUM_THREADS")) == 1
    before = torch.get_num_threads()
    try:
        Runner(model, layers=[15], backend="torch", threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_throughput_requests_give_the_batched_outputs(det_weights, assets):
    from yololens.engine.backends.openvino_backend import OpenVINOBackend, PerfHint

    model = load_model(str(det_weights), device="cpu")
    im = ultra.imread(str(assets / "zidane.jpg"))
    runner = Runner(model, layers=[15], backend="openvino")
    x = ultra.to_input_tensor(runner.letterbox([im, im[:, ::-1].copy(), im, im]), model.device, False)
    split = OpenVINOBackend(model, [15], hint=PerfHint.THROUGHPUT, requests=3)
    (pa, _), fa = split.forward(x)
    (pb, _), fb = runner.backend.forward(x)
    assert pa.shape == pb.shape and fa[15].shape == fb[15].shape == (4, 64, 48, 80)
    torch.testing.assert_close(pa, pb, atol=1e-3, rtol=1e-4)
    torch.testing.assert_close(fa[15], fb[15], atol=1e-4, rtol=1e-4)
    assert not torch.allclose(fa[15][0], fa[15][1])  # the chunks are not mixed up: image 1 is mirrored
    # without a count, THROUGHPUT keeps OpenVINO's optimal number of requests in flight; LATENCY runs one per batch
    auto = OpenVINOBackend(model, [15], hint=PerfHint.THROUGHPUT)
    assert auto.requests == int(auto.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")) >= 1
    assert runner.backend.requests == 1 and runner.backend._queue is None


def test_the_cache_bound_holds_after_a_compile(det_weights, monkeypatch, tmp_path):
    # the blob a compile writes counts toward $YOLOLENS_CACHE_MAX_MB: with room for one entry and one blob, a
    # second export leaves that export and its blob, and the first's are gone (least recently used)
    from yololens.engine.backends.cache import cache_root
    from yololens.engine.backends.openvino_backend import COMPILED_DIR, OpenVINOBackend

    monkeypatch.setenv("YOLOLENS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("YOLOLENS_CACHE_MAX_MB", "0")
    model = load_model(str(det_weights), device="cpu")
    first = OpenVINOBackend(model, [9], cut=9).folder
    used = sum(f.stat().st_size for f in cache_root().rglob("*") if f.is_file())
    blobs = list((cache_root() / COMPILED_DIR).glob("*.blob"))
    assert len(blobs) == 1 and first.is_dir()
    monkeypatch.setenv("YOLOLENS_CACHE_MAX_MB", str(used * 1.2 / 2**20))  # one entry + one blob, not two
    second = OpenVINOBackend(model, [8, 9], cut=9).folder  # the same weights: about the same size
    left = sum(f.stat().st_size for f in cache_root().rglob("*") if f.is_file())
    assert second.is_dir() and not first.exists() and not blobs[0].exists()
    assert len(list((cache_root() / COMPILED_DIR).glob("*.blob"))) == 1 and left <= used * 1.2
