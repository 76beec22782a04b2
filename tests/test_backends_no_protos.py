"""Skipping a seg model's prototype branch (``protos=False``: ``extract --pool box`` uses no masks) changes no
detection, coefficient or hooked layer: bitwise on torch, and on OpenVINO the same as its own full graph;
``extract`` writes the same table either way, and a job that needs masks still gets prototypes."""

from __future__ import annotations

import cv2
import pyarrow.parquet as pq
import pytest
import torch

from yololens.engine.backends import openvino_available
from yololens.engine.runner import PROTO, Runner
from yololens.jobs.extract import extract
from yololens.model import ultra
from yololens.model.loading import load_model

LAYERS = [9, 15, 18, 21]


@pytest.fixture(scope="module")
def images(assets):
    return [cv2.imread(str(assets / n)) for n in ("bus.jpg", "zidane.jpg")]


@pytest.fixture(scope="module")
def seg(seg_weights):
    return load_model(str(seg_weights), device="cpu")


def _compare(full, lean, exact: bool):
    assert len(full.images) == len(lean.images)
    for a, b in zip(full.images, lean.images):
        assert len(a.detections) == len(b.detections) > 0
        for name in ("boxes", "scores", "class_ids"):
            x, y = getattr(a.detections, name), getattr(b.detections, name)
            assert (x == y).all() if exact else torch.allclose(torch.as_tensor(x), torch.as_tensor(y), atol=1e-4)
        ca, cb = a.detections.coefs, b.detections.coefs
        assert torch.equal(ca, cb) if exact else torch.allclose(ca, cb, atol=1e-5)
        for layer in LAYERS:
            fa, fb = a.features[layer], b.features[layer]
            assert torch.equal(fa, fb) if exact else torch.allclose(fa, fb, atol=1e-5)
        assert PROTO in a.features and PROTO not in b.features and a.protos is not None and b.protos is None


def test_torch_without_prototypes_is_bitwise_the_same(seg, images):
    full = Runner(seg, layers=LAYERS, threads=1).run(images)
    lean = Runner(seg, layers=LAYERS, threads=1, protos=False).run(images)
    _compare(full, lean, exact=True)
    assert isinstance(seg.net.model[-1].proto, torch.nn.Module) and not isinstance(
        seg.net.model[-1].proto, ultra._NoPrototypes)  # the shared model is restored after every forward
    forced = Runner(seg, layers=[*LAYERS, PROTO], threads=1, protos=False).run(images)
    assert forced.images[0].protos is not None and forced.images[0].protos.shape[0] == 32  # asked by layer


@pytest.mark.skipif(not openvino_available(), reason="openvino is not installed")
def test_openvino_without_prototypes_has_no_proto_output_and_the_same_rest(seg, images):
    full = Runner(seg, layers=LAYERS, backend="openvino", threads=1)
    lean = Runner(seg, layers=LAYERS, backend="openvino", threads=1, protos=False)
    assert len(lean.backend.compiled.outputs) == len(full.backend.compiled.outputs) - 1
    _compare(full.run(images), lean.run(images), exact=False)


def test_extract_pool_box_skips_prototypes_and_writes_the_same_table(seg_weights, assets, tmp_path, monkeypatch):
    seen = []
    real = ultra.prototypes_skipped

    def spy(net, skip=True):
        seen.append(skip)
        return real(net, skip)

    monkeypatch.setattr(ultra, "prototypes_skipped", spy)
    kw = dict(layers=[15, 21], imgsz=320, threads=1, backend="torch", progress=False)
    lean = extract(str(seg_weights), str(assets), out=tmp_path / "box", **kw)
    assert seen and all(seen)  # every forward skipped the branch
    seen.clear()
    masked = extract(str(seg_weights), str(assets), out=tmp_path / "both", pool="both", **kw)
    assert seen and not any(seen)  # mask pooling needs the prototypes
    a = pq.read_table(tmp_path / "box" / "objects.parquet")
    b = pq.read_table(tmp_path / "both" / "objects.parquet")
    assert masked.objects == lean.objects > 0
    for col in ("object_id", "x1", "y1", "x2", "y2", "score", "emb_L15", "emb_L21", "emb_coef"):
        assert a.column(col).equals(b.column(col)), col
