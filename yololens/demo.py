"""``yololens demo``: run yololens on images that ship with Ultralytics (bus.jpg, zidane.jpg)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from yololens.errors import ModelError
from yololens.model.loading import DEFAULT_MODEL, LoadedModel, load_model

UNTRAINED_FALLBACK = "yolov8n-seg.yaml"


@dataclass
class DemoModel:
    """The model the demo uses and how it was chosen (``note`` is shown to the user)."""

    model: LoadedModel
    note: str

    @property
    def untrained(self) -> bool:
        return not self.model.trained


def resolve_demo_model(model: str | None = None, device: str | None = None) -> DemoModel:
    """``--model`` first, then ``$YOLOLENS_MODEL``, then ``yolov8n-seg.pt`` through Ultralytics
    (works online); when no trained weights can be had, the untrained ``yolov8n-seg.yaml``."""
    if model:
        return DemoModel(load_model(model, device=device), f"model: {model}")
    env = os.environ.get("YOLOLENS_MODEL")
    if env:
        return DemoModel(load_model(env, device=device), f"model: {env} (from $YOLOLENS_MODEL)")
    try:
        return DemoModel(load_model(DEFAULT_MODEL, device=device), f"model: {DEFAULT_MODEL}")
    except ModelError as exc:
        note = (f"UNTRAINED WEIGHTS: no trained model could be had ({exc}). Falling back to {UNTRAINED_FALLBACK} "
                "(random weights): every figure shows the plumbing, not learned features. "
                "Pass --model path/to/best.pt or set $YOLOLENS_MODEL for real results.")
        return DemoModel(load_model(UNTRAINED_FALLBACK, device=device), note)


def demo_images() -> list[Path]:
    from ultralytics.utils import ASSETS

    return [Path(ASSETS) / "bus.jpg", Path(ASSETS) / "zidane.jpg"]
