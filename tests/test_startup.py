"""Start-up (issue 24 item 4): a run that needs no NMS imports neither torchvision's package nor torch._dynamo
(torchvision.ops.roi_align imports it); the roi_align kernel it loads alone gives torchvision's numbers; a run
with predictions imports torchvision as Ultralytics' predictor does, so NMS is the same."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
from yololens.engine.runner import Runner
from yololens.model.loading import load_model

before = "torchvision" in sys.modules
Runner(load_model("yolov8n.yaml", device="cpu"), layers=[9], predict=True)
print(json.dumps([before, "torchvision" in sys.modules]))
"""


def _child(code: str):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_gt_only_run_imports_no_dynamo_and_pools_as_torchvision():
    assert _child(CHILD) == {"dynamo": False, "torchvision": False, "equal": True}


def test_a_predicting_runner_imports_torchvision_as_predict_does():
    # Ultralytics' NMS uses torchvision.ops.nms only when torchvision is imported; predict imports it in warm-up
    assert _child(PREDICT_CHILD) == [False, True]
