"""Start-up (issue 24 item 4): a run that needs no NMS imports neither torchvision's package nor torch._dynamo
(torchvision.ops.roi_align imports it); the roi_align kernel it loads alone gives torchvision's numbers; a run
with predictions does not import it either: its NMS runs torchvision's nms kernel, loaded alone, which is what
Ultralytics' predictor runs (it imports torchvision in its warm-up), so the detections are predict's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys
import numpy as np, torch
from yololens.jobs.extract import extract  # the whole extract import graph
from yololens.engine.pooling import pool_boxes
from yololens.engine.runner import Runner
from yololens.model.loading import load_model

model = load_model("yolov8n.yaml", device="cpu")
res = Runner(model, layers=[4, 9], predict=False).run([np.full((96, 128, 3), 90, np.uint8)])
feats = res.features[9]
boxes = [torch.tensor([[3.0, 5.0, 60.0, 40.0], [0.0, 0.0, 128.0, 96.0]])]
ours = pool_boxes(feats, boxes, res.input_shape)
state = {"dynamo": "torch._dynamo" in sys.modules, "torchvision": "torchvision" in sys.modules}
from torchvision.ops import roi_align
theirs = roi_align(feats, boxes, 7, feats.shape[-1] / res.input_shape[1], 2, True).mean(dim=(2, 3))
state["equal"] = bool(torch.equal(ours, theirs))
print(json.dumps(state))
"""

PREDICT_CHILD = """
import json, sys
from ultralytics.utils import nms as _nms
from yololens.engine.runner import Runner
from yololens.model import ultra
from yololens.model.loading import load_model

original = _nms.TorchNMS.__dict__["nms"]
model = load_model({weights!r}, device="cpu")
dets = Runner(model, conf=0.01).run([ultra.imread({image!r})]).images[0].detections
with ultra._torchvision_nms():
    swapped = _nms.TorchNMS.__dict__["nms"] is not original
print(json.dumps({{"torchvision": "torchvision" in sys.modules, "dynamo": "torch._dynamo" in sys.modules,
                  "swapped": swapped, "restored": _nms.TorchNMS.__dict__["nms"] is original,
                  "boxes": dets.boxes.tolist(), "scores": dets.scores.tolist(),
                  "classes": dets.class_ids.tolist()}}))
"""


def _child(code: str):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_gt_only_run_imports_no_dynamo_and_pools_as_torchvision():
    assert _child(CHILD) == {"dynamo": False, "torchvision": False, "equal": True}


def test_a_predicting_runner_runs_predicts_nms_kernel_without_the_torchvision_package(det_weights, assets):
    # predict imports torchvision in its warm-up, so its NMS is torchvision.ops.nms; ours is the same kernel,
    # loaded alone (a low conf gives NMS real overlaps to settle): the same detections in the same order, no
    # package imported (coordinates to float noise: the child's forward runs at its own thread count)
    from ultralytics import YOLO

    image = assets / "bus.jpg"
    got = _child(PREDICT_CHILD.format(weights=str(det_weights), image=str(image)))
    assert (got["torchvision"], got["dynamo"], got["swapped"], got["restored"]) == (False, False, True, True)
    ref = YOLO(str(det_weights)).predict(str(image), conf=0.01, verbose=False)[0].boxes
    assert "torchvision" in sys.modules and len(got["boxes"]) == len(ref) > 20
    np.testing.assert_allclose(np.asarray(got["boxes"], np.float32), ref.xyxy.numpy(), atol=1e-3)
    np.testing.assert_allclose(np.asarray(got["scores"], np.float32), ref.conf.numpy(), atol=1e-5)
    np.testing.assert_array_equal(got["classes"], ref.cls.numpy().astype(int))


EXIT_CHILD = """
import atexit, gc, sys
from yololens.cli.app import main
atexit.register(lambda: print("frozen", gc.get_freeze_count(), file=sys.stderr))
sys.argv = ["yololens"] + {argv!r}
main()
"""


def test_the_console_script_freezes_the_heap_before_it_exits(tmp_path):
    # interpreter shutdown otherwise walks every live object of torch and Ultralytics (about 0.9 s of an extract
    # process); the freeze happens on success and on a refusal alike, and only in the console script
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    for argv, code in ((["layers", "yolov8n.yaml"], 0), (["layers", str(tmp_path / "missing.pt")], 2)):
        proc = subprocess.run([sys.executable, "-c", EXIT_CHILD.format(argv=argv)], capture_output=True, text=True,
                              env=env, timeout=300)
        assert proc.returncode == code, proc.stderr[-2000:]
        frozen = int(proc.stderr.strip().splitlines()[-1].split()[-1])
        assert frozen > 10_000, proc.stderr[-500:]
    import gc

    assert gc.get_freeze_count() == 0  # this (test) process was never frozen
