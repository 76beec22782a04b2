"""Stop at the deepest layer needed (issue 24 item 1): no head output needed -> the network runs only up to the
deepest hooked layer. torch: the features are bitwise the full forward's and the layers after the cut never run;
OpenVINO: the truncated graph (its own cache entry) within the OpenVINO tolerance of the full torch forward."""

from __future__ import annotations

import pytest
import torch

from yololens.engine.backends import openvino_available
from yololens.engine.runner import Runner
from yololens.model import ultra
from yololens.model.catalogue import PROTO, resolve_layers
from yololens.model.loading import load_model

EMB_RTOL = 1e-4  # tests/test_backends_openvino.py's tolerance for features


def _images(assets):
    return [ultra.imread(str(assets / n)) for n in ("bus.jpg", "zidane.jpg")]


class _Calls:
    """Counts the calls of the modules after the cut (they must not run)."""

    def __init__(self, modules):
        self.n = 0
        self._handles = [m.register_forward_hook(self) for m in modules]

    def __call__(self, *_):
        self.n += 1

    def remove(self):
        for h in self._handles:
            h.remove()


def _check_torch_cut(model, layers, images):
    full = Runner(model, layers=layers, predict=True)
    cut = Runner(model, layers=layers, predict=False)
    assert full.cut is None and cut.cut == max(layers)
    after = _Calls(list(model.layers)[max(layers) + 1:])
    try:
        for im in images:
            before = after.n
            a = cut.run([im])
            assert after.n == before  # nothing after the cut ran
            b = full.run([im])
            assert after.n > before  # (the counter does count: the full forward runs them)
            assert a.images[0].detections is None
            assert sorted(a.features) == sorted(layers)
            for layer in layers:
                assert torch.equal(a.features[layer], b.features[layer]), layer
    finally:
        after.remove()


@pytest.mark.parametrize("weights_fixture", ["det_weights", "seg_weights"])
@pytest.mark.parametrize("layers", [[9], None])
def test_torch_cut_is_bitwise_the_full_forward_on_real_weights(request, weights_fixture, layers, assets):
    model = load_model(str(request.getfixturevalue(weights_fixture)), device="cpu")
    _check_torch_cut(model, resolve_layers(model, layers), _images(assets))


@pytest.mark.parametrize("yaml", ["yolo11n-seg.yaml", "yolo26n.yaml"])
def test_torch_cut_on_yolo11_and_yolo26(yaml, assets):
    model = load_model(yaml, device="cpu")
    _check_torch_cut(model, [4, *resolve_layers(model, None)], _images(assets)[:1])


def test_no_cut_when_the_head_is_needed(seg_weights):
    model = load_model(str(seg_weights), device="cpu")
    assert Runner(model, layers=[9, PROTO], predict=False).cut is None  # prototypes come from the head
    assert Runner(model, layers=[9], predict=True).cut is None
    assert Runner(model, layers=[9], predict=False, protos=True).cut is None
    assert Runner(model, layers=[6, 9], predict=False, protos=False).cut == 9


def test_forward_to_refuses_a_layer_past_the_end():
    model = load_model("yolov8n.yaml", device="cpu")
    with pytest.raises(ValueError, match="not in this model"):
        ultra.forward_to(model.net, torch.zeros(1, 3, 64, 64), 99)


@pytest.mark.skipif(not openvino_available(), reason="openvino is not installed")
@pytest.mark.parametrize("weights_fixture", ["det_weights", "seg_weights"])
def test_openvino_cut_graph_within_tolerance_and_keyed(request, weights_fixture, assets):
    from yololens.engine.backends.openvino_backend import export_fields

    model = load_model(str(request.getfixturevalue(weights_fixture)), device="cpu")
    layers = [9, 15]
    ov = Runner(model, layers=layers, predict=False, backend="openvino")
    full_ov = Runner(model, layers=layers, predict=True, backend="openvino")
    pt = Runner(model, layers=layers, predict=True, backend="torch")
    assert ov.cut == 15 and ov.backend.folder != full_ov.backend.folder
    assert len(ov.backend.compiled.outputs) == len(layers)  # the head is not in the graph
    assert export_fields(model, layers, ov.imgsz, False, 15)["cut"] == 15
    assert export_fields(model, layers, ov.imgsz, False)["cut"] == "head"
    for im in _images(assets):
        a, b = ov.run([im]), pt.run([im])
        assert a.images[0].detections is None
        for layer in layers:
            fa, fb = a.features[layer], b.features[layer]
            assert fa.shape == fb.shape
            rel = float(torch.linalg.vector_norm(fa - fb) / torch.linalg.vector_norm(fb))
            assert rel <= EMB_RTOL, (layer, rel)
