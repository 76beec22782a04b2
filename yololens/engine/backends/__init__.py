"""Compute backends: what runs the fused network for :class:`~yololens.engine.runner.Runner`.

A backend turns a letterboxed input batch into the head output (the structure Ultralytics'
NMS and ``split_head_output`` read) and the hooked layers' feature maps. Letterbox, NMS, box
mapping and masks stay Ultralytics' own (``model/ultra.py``), whatever the backend.

* ``torch``: the fused PyTorch model with forward hooks, bitwise equal to Ultralytics predict
  at equal torch threads.
* ``openvino``: the same network exported once (``openvino.convert_model`` from the torch
  module) with the hooked layers and prototypes as extra outputs, compiled by OpenVINO at f32.
"""

from __future__ import annotations

import importlib.util
import os
from enum import StrEnum
from typing import Protocol

import torch

from yololens.errors import ModelError
from yololens.model.loading import LoadedModel

BACKEND_ENV = "YOLOLENS_BACKEND"  # what --backend auto resolves to, when set (torch / openvino)


class Backend(StrEnum):
    AUTO = "auto"
    TORCH = "torch"
    OPENVINO = "openvino"


class Precision(StrEnum):
    F32 = "f32"
    F16 = "f16"  # torch on CUDA (--half)
    BF16 = "bf16"  # OpenVINO on a CPU with bf16 support (--half)


class ComputeBackend(Protocol):
    """Runs the network on ``x`` ``(B, 3, H, W)`` float in [0, 1] (RGB, letterboxed)."""

    name: Backend
    precision: Precision

    def forward(self, x: torch.Tensor) -> tuple[object, dict[int, torch.Tensor]]:
        """``(head_output, {layer: (B, C, H', W') features})``; head_output as ``net(x)`` returns it."""
        ...


def openvino_available() -> bool:
    return importlib.util.find_spec("openvino") is not None


def resolve_backend(requested: Backend | str | None, device: torch.device) -> Backend:
    """``auto`` -> ``$YOLOLENS_BACKEND`` if set, else OpenVINO on CPU when installed, torch otherwise."""
    choice = _parse(requested or Backend.AUTO, "--backend")
    if choice is Backend.AUTO and os.environ.get(BACKEND_ENV):
        choice = _parse(os.environ[BACKEND_ENV], f"${BACKEND_ENV}")
    if choice is Backend.AUTO:
        return Backend.OPENVINO if device.type == "cpu" and openvino_available() else Backend.TORCH
    if choice is Backend.OPENVINO:
        if device.type != "cpu":
            raise ModelError(f"--backend openvino runs on the CPU; use --device cpu (or --backend torch on {device})")
        if not openvino_available():
            raise ModelError("--backend openvino needs the openvino package (pip install 'openvino>=2025.0')")
    return choice


def _parse(value, where: str) -> Backend:
    try:
        return Backend(str(value).strip().lower())
    except ValueError:
        raise ModelError(f"{where} {value!r} is not one of {', '.join(b.value for b in Backend)}") from None


def load_half(backend: Backend, half: bool) -> bool:
    """Whether the torch model itself is loaded in fp16: only for the torch backend (``--half`` on
    the OpenVINO backend means bf16 compute, from f32 weights)."""
    return half and backend is Backend.TORCH


def create_backend(model: LoadedModel, layers: list[int], backend: Backend | str | None = Backend.TORCH, *,
                   half: bool = False, threads: int = 0, imgsz: tuple[int, int] = (640, 640)) -> ComputeBackend:
    """The backend for ``model`` capturing ``layers`` (``threads``: inference threads, 0 = default)."""
    choice = resolve_backend(backend, model.device)
    if choice is Backend.OPENVINO:
        from yololens.engine.backends.openvino_backend import OpenVINOBackend

        return OpenVINOBackend(model, layers, half=half, threads=threads, imgsz=imgsz)
    from yololens.engine.backends.torch_backend import TorchBackend

    return TorchBackend(model, layers, threads=threads)
