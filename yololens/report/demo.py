"""``yololens demo``: run yololens on images that ship with Ultralytics (bus.jpg, zidane.jpg)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from yololens.errors import ModelError
from yololens.model.loading import DEFAULT_MODEL, LoadedModel, load_model

UNTRAINED_FALLBACK = "yolov8n-seg.yaml"
DEMO_OUT = "yololens-demo"
#: Two images give few objects at Ultralytics' default 0.25; 0.05 gives ~26 with yolov8n-seg (enough for a
#: stage report with two classes of >= 5 objects). Untrained heads score every box at ~1.6e-4
#: (the class-bias prior), so the fallback takes the top 20 boxes per image to show the plumbing.
TRAINED_CONF = 0.05
UNTRAINED_CONF = 1e-4
UNTRAINED_MAX_DET = 20


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
    from yololens.model.ultra import assets_dir

    return [assets_dir() / "bus.jpg", assets_dir() / "zidane.jpg"]


def demo_source(images: list[Path]):
    """The folder that holds the demo images when it holds nothing else (so the report's "reproduce"
    commands name a real folder), else the images as a list."""
    from yololens.sources.images import IMAGE_SUFFIXES
    from yololens.sources.records import ImageRecord, Source

    folder = images[0].parent
    others = [p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p not in images]
    if all(p.parent == folder for p in images) and not others:
        return str(folder)
    return Source([ImageRecord(i, p, p.name) for i, p in enumerate(images)], format="list")


def demo_settings(chosen: DemoModel) -> dict:
    """Report settings suited to two images: a low confidence threshold (more objects), and for untrained
    weights the top boxes per image; ``notes`` explain them in the report."""
    if chosen.untrained:
        return {"conf": UNTRAINED_CONF, "max_det": UNTRAINED_MAX_DET, "notes": [
            f"Demo settings: untrained weights give every box the same tiny score, so the demo keeps the top "
            f"{UNTRAINED_MAX_DET} boxes per image (confidence ≥ {UNTRAINED_CONF:g}) to have objects to show."]}
    return {"conf": TRAINED_CONF, "max_det": 300, "notes": [
        f"Demo settings: two images hold few objects at the usual confidence threshold of 0.25, so the demo keeps "
        f"every detection with confidence ≥ {TRAINED_CONF:g}; some of them are wrong, which is part of the picture."]}


def run_demo(model: str | None = None, out: str | os.PathLike = DEMO_OUT, *, device: str | None = None,
             progress: bool = True, echo=print, **report_kwargs):
    """Resolve the demo model, then :func:`yololens.report.build_report` on bus.jpg and zidane.jpg into ``out``.

    ``report_kwargs`` override the report settings (``sections``, ``max_images`` ...). Returns the
    :class:`~yololens.report.ReportResult`.
    """
    from yololens.report import build_report

    chosen = resolve_demo_model(model, device)
    echo(chosen.note)
    settings = demo_settings(chosen)
    images = demo_images()
    src = demo_source(images)
    notes = [chosen.note, *settings.pop("notes")]
    kwargs = {"conf": settings["conf"], "max_det": settings["max_det"], "max_images": len(images),
              "overwrite": True, "progress": progress, "title": "yololens demo: " + Path(
                  str(chosen.model.path or chosen.model.source)).name, "notes": notes, **report_kwargs}
    return build_report(chosen.model, src, out=out, device=device, **kwargs)
