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
from dataclasses import dataclass
from typing import Protocol

import torch

from yololens.errors import ModelError
from yololens.model.loading import LoadedModel, load_model, select_device
from yololens.types import Backend, Precision

BACKEND_ENV = "YOLOLENS_BACKEND"  # what --backend auto resolves to, when set (torch / openvino)


class ComputeBackend(Protocol):
    """Runs the network on ``x`` ``(B, 3, H, W)`` float in [0, 1] (RGB, letterboxed)."""

    name: Backend
    precision: Precision

    def forward(self, x: torch.Tensor) -> tuple[object, dict[int, torch.Tensor]]:
        """``(head_output, {layer: (B, C, H', W') features})``; head_output as ``net(x)`` returns it."""
        ...


def openvino_available() -> bool:
    return importlib.util.find_spec("openvino") is not None


def auto_backend(device: torch.device) -> Backend:
    """What ``auto`` means on ``device``: OpenVINO on a CPU whose OpenVINO plugin computes bf16 (AVX512-BF16 or
    AMX), torch everywhere else.

    Measured, not assumed: on such a CPU the OpenVINO forward ran 1.7-1.85x torch's (issue 13); on an AVX2 CPU
    (this project's AMD EPYC) it ran 0.97-1.06x torch's, where torch, the bitwise-exact path, is as fast (README
    "Speed"). The bf16 capability is the marker only: OpenVINO still computes in f32 unless ``--half``.
    """
    if device.type != "cpu" or not openvino_available():
        return Backend.TORCH
    from yololens.engine.backends.openvino_backend import cpu_has_bf16

    return Backend.OPENVINO if cpu_has_bf16() else Backend.TORCH


def resolve_backend(requested: Backend | str | None, device: torch.device) -> Backend:
    """``auto`` -> ``$YOLOLENS_BACKEND`` if set, else :func:`auto_backend`; ``openvino`` is checked usable."""
    choice = _parse(requested or Backend.AUTO, "--backend")
    if choice is Backend.AUTO and os.environ.get(BACKEND_ENV):
        choice = _parse(os.environ[BACKEND_ENV], f"${BACKEND_ENV}")
    if choice is Backend.AUTO:
        return auto_backend(device)
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


@dataclass(frozen=True)
class Compute:
    """A job's resolved compute settings: what :class:`Runner` gets besides the model.

    Attributes:
        backend: ``torch`` or ``openvino`` (never ``auto``).
        half: torch: fp16 weights (CUDA); openvino: bf16 compute where the CPU has it.
        threads: inference threads (0: the backend's default).
    """

    backend: Backend
    half: bool = False
    threads: int = 0

    @property
    def precision(self) -> Precision:
        """The precision the backend will compute in (what the manifest and resume guard record)."""
        if not self.half:
            return Precision.F32
        if self.backend is Backend.TORCH:
            return Precision.F16
        from yololens.engine.backends.openvino_backend import cpu_has_bf16

        return Precision.BF16 if cpu_has_bf16() else Precision.F32

    def runner_kwargs(self) -> dict:
        return {"backend": self.backend, "half": self.half, "threads": self.threads}

    def describe(self) -> dict:
        return {"backend": str(self.backend), "precision": str(self.precision), "threads": self.threads}


def prepare_model(model, device: str | None = None, backend: Backend | str | None = Backend.AUTO, half: bool = False,
                  threads: int = 0, end2end: bool | None = None) -> tuple[LoadedModel, Compute]:
    """Load ``model`` (or take a :class:`LoadedModel`) for ``backend`` and resolve the backend.

    ``half`` loads fp16 torch weights only for the torch backend; OpenVINO compiles f32 weights
    and computes in bf16 instead. ``threads < 0`` is refused.
    """
    if threads < 0:
        raise ModelError(f"--threads must be >= 0 (0: the backend's default), not {threads}")
    if isinstance(model, LoadedModel):
        choice = resolve_backend(backend, model.device)
        return model, Compute(choice, half or (model.half and choice is Backend.TORCH), threads)
    choice = resolve_backend(backend, select_device(device))
    loaded = load_model(model, device=device, half=half and choice is Backend.TORCH, end2end=end2end)
    return loaded, Compute(choice, half, threads)


def create_backend(model: LoadedModel, layers: list[int], backend: Backend | str | None = Backend.TORCH, *,
                   half: bool = False, threads: int = 0, imgsz: tuple[int, int] = (640, 640),
                   protos: bool = True) -> ComputeBackend:
    """The backend for ``model`` capturing ``layers`` (``threads``: inference threads, 0 = default).

    ``protos=False``: a seg model's prototype branch is not computed (nothing else changes; for jobs that use
    no masks, e.g. ``extract --pool box``).
    """
    # a job's ComputeSpec passes the backend it resolved once: only a bare name or ``auto`` is resolved here
    choice = backend if isinstance(backend, Backend) and backend is not Backend.AUTO else resolve_backend(
        backend, model.device)
    if choice is Backend.OPENVINO:
        from yololens.engine.backends.openvino_backend import OpenVINOBackend

        return OpenVINOBackend(model, layers, half=half, threads=threads, imgsz=imgsz, protos=protos)
    from yololens.engine.backends.torch_backend import TorchBackend

    return TorchBackend(model, layers, threads=threads, protos=protos)
