"""Load any Ultralytics detect/seg model (checkpoint, yaml, or YOLO object) for inspection."""

from __future__ import annotations

import copy
import hashlib
import os
import re
import zipfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import torch

from yololens.errors import ModelError
from yololens.model import ultra
from yololens.types import Task

SUPPORTED_TASKS = tuple(Task)
DEFAULT_MODEL = "yolov8n-seg.pt"


@dataclass
class LoadedModel:
    """A fused, eval-mode Ultralytics model plus what yololens needs to know about it.

    Attributes:
        net: the fused ``DetectionModel``/``SegmentationModel`` on ``device`` (a private copy;
            the user's ``YOLO`` object is never modified).
        task: ``"detect"`` or ``"segment"``.
        family: ``"yolov8"``, ``"yolo11"``, ``"yolo26"`` or ``"custom"``.
        names: class id -> class name.
        source: what the user passed (path, yaml name, or ``"<YOLO object>"``).
        path: the checkpoint file, when there is one.
        trained: ``False`` for a model built from a yaml (random weights).
        end2end: the head runs NMS-free (YOLO26 one-to-one head); NMS then only filters by score.
        half: fp16 inference (CUDA only).
    """

    net: torch.nn.Module
    task: Task
    family: str
    names: dict[int, str]
    source: str
    device: torch.device
    path: Path | None = None
    trained: bool = True
    end2end: bool = False
    half: bool = False
    _sha256: str | None = field(default=None, repr=False)

    @property
    def layers(self) -> torch.nn.ModuleList:
        """The model's layer list (``net.model``); index i is Ultralytics' layer i."""
        return self.net.model

    @property
    def head(self) -> torch.nn.Module:
        return self.net.model[-1]

    @property
    def stride(self) -> int:
        """Letterbox stride, as Ultralytics' PyTorch backend computes it."""
        return max(int(self.net.stride.max()), 32)

    @property
    def nm(self) -> int | None:
        """Number of prototype masks (seg models), else ``None``."""
        return getattr(self.head, "nm", None) if self.task == Task.SEGMENT else None

    @property
    def nc(self) -> int:
        return len(self.names)

    @cached_property
    def sha256(self) -> str | None:
        if self._sha256 is None and self.path is not None:
            digest = hashlib.sha256()
            with open(self.path, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
            self._sha256 = digest.hexdigest()
        return self._sha256

    def describe(self) -> dict:
        return {
            "source": self.source,
            "path": str(self.path) if self.path else None,
            "sha256": self.sha256,
            "task": self.task,
            "family": self.family,
            "trained": self.trained,
            "end2end": self.end2end,
            "nc": self.nc,
            "nm": self.nm,
            "names": {int(k): v for k, v in self.names.items()},
        }

    def require_segment(self, command: str) -> None:
        """Refuse seg-only commands on a detect model, naming the model's task."""
        if self.task != Task.SEGMENT:
            raise ModelError(
                f"{self.source}: '{command}' needs a segmentation model (e.g. yolov8n-seg.pt), "
                f"but this model's task is '{self.task}'"
            )


def as_model(model, device: str | None = None, half: bool = False, end2end: bool | None = None) -> LoadedModel:
    """The one model opener of every job: a :class:`LoadedModel` as given, anything else through :func:`load_model`."""
    return model if isinstance(model, LoadedModel) else load_model(model, device=device, half=half, end2end=end2end)


def select_device(device: str | None) -> torch.device:
    if device in (None, "", "auto"):
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if device.isdigit():
        device = f"cuda:{device}"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ModelError(f"--device {device!r} is not a torch device (cpu, cuda, cuda:0, 0, ...)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"device '{device}' requested but CUDA is not available; use --device cpu")
    return dev


def load_model(model=None, device: str | None = None, half: bool = False, end2end: bool | None = None) -> LoadedModel:
    """Load ``model`` for inspection.

    Args:
        model: a ``.pt`` checkpoint path, a model yaml (``yolov8n-seg.yaml`` builds untrained
            weights), an official name Ultralytics can download (``yolov8n-seg.pt``), an
            ``ultralytics.YOLO`` object, or ``None`` for ``$YOLOLENS_MODEL`` / ``yolov8n-seg.pt``.
        device: ``cpu``, ``cuda``, ``cuda:0`` ... (default: first GPU if any, else CPU).
        half: fp16 inference; needs CUDA.
        end2end: YOLO26 only: ``True`` runs the NMS-free one-to-one head; ``None`` keeps
            Ultralytics' predict default (one-to-many head plus NMS in 8.4).
    """
    YOLO = ultra.yolo_class()
    dev = select_device(device)
    if half and dev.type != "cuda":
        raise ModelError("--half needs a CUDA device (fp16 convolutions are not supported on CPU)")
    if model is None:
        model = os.environ.get("YOLOLENS_MODEL") or DEFAULT_MODEL
    if isinstance(model, YOLO):
        yolo, source, path = model, "<YOLO object>", _ckpt_path(getattr(model, "ckpt_path", None))
    else:
        source = str(model)
        yolo, path = _load_yolo(source)
    task = getattr(yolo, "task", None)
    if task not in SUPPORTED_TASKS:
        raise ModelError(f"{source}: task '{task}' is not supported; yololens needs a detect or segment model")
    net = copy.deepcopy(yolo.model)
    if end2end is not None and hasattr(net, "end2end"):
        net.end2end = end2end
    net = net.fuse(verbose=False).to(dev)
    net = net.half() if half else net.float()
    # AutoBackend's memory format, so every output is bitwise what Ultralytics' predict computes.
    net = net.to(memory_format=ultra.predict_memory_format(dev))
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return LoadedModel(
        net=net,
        task=Task(task),
        family=_family(net),
        names=dict(net.names),
        source=source,
        device=dev,
        path=path,
        trained=path is not None,
        end2end=bool(getattr(net, "end2end", False)),
        half=half,
    )


def _ckpt_path(value) -> Path | None:
    return Path(value) if value and Path(value).is_file() else None


def _load_yolo(source: str):
    YOLO = ultra.yolo_class()
    p = Path(source)
    is_yaml = p.suffix.lower() in (".yaml", ".yml")
    if p.suffix.lower() not in (".pt", ".yaml", ".yml"):
        raise ModelError(f"{source}: not a model file; pass a .pt checkpoint or a model .yaml")
    if not p.exists() and (p.parent != Path(".") or not _is_official_name(p.name)) and not is_yaml:
        raise ModelError(f"{source}: model file not found")
    if p.exists() and not p.is_file():  # a folder, FIFO or device: torch.load would fail late or wait forever
        raise ModelError(f"{source}: not a regular file, not an Ultralytics checkpoint")
    if p.exists() and p.is_file() and p.stat().st_size == 0:
        raise ModelError(f"{source}: empty file (0 bytes), not an Ultralytics checkpoint")
    safe = False
    try:
        with ultra.safe_checkpoint_load() as safe:
            yolo = YOLO(source)
    except Exception as exc:  # Ultralytics raises many types here; the user needs one line
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        reason = re.sub(r"^ERROR\W*", "", reason)  # Ultralytics' "ERROR ❌️ " log prefix
        if safe and "outside the supported" in reason and not zipfile.is_zipfile(p):
            reason = "not a torch.save archive: the file is damaged or in another format"
        elif safe and "outside the supported" in reason:  # refused before any of the file's code ran
            raise ModelError(f"{source}: refused: it references types outside Ultralytics' safe checkpoint format "
                             f"(nothing in it was run); if you trust the file, set {ultra.TRUST_MODEL_ENV}=1 to "
                             "load it as code") from None
        if not p.exists() and not is_yaml:
            raise ModelError(
                f"{source}: not found locally and could not be downloaded ({reason}). "
                "Pass a local checkpoint (--model path/to/best.pt or $YOLOLENS_MODEL), "
                "or a yaml such as yolov8n-seg.yaml for untrained weights"
            ) from None
        raise ModelError(f"{source}: cannot be loaded as an Ultralytics model ({reason})") from None
    return yolo, (_ckpt_path(getattr(yolo, "ckpt_path", None)) or (p if p.is_file() and not is_yaml else None))


def _is_official_name(name: str) -> bool:
    return name.startswith(("yolov8", "yolo11", "yolo26", "yolov5", "yolov9", "yolov10", "yolo12"))


def _family(net) -> str:
    """Model family from the yaml the model was built from, else from its module types."""
    yaml_file = str(getattr(net, "yaml", {}).get("yaml_file", "")).lower()
    for family in ("yolov8", "yolo11", "yolo26"):
        if family in yaml_file:
            return family
    types = {type(m).__name__ for m in net.model}
    if "Segment26" in types or getattr(net.model[-1], "one2one_cv2", None) is not None:
        return "yolo26"
    if "C3k2" in types and "C2PSA" in types:
        return "yolo11"
    if "C2f" in types and "SPPF" in types:
        return "yolov8"
    return "custom"
