"""Compute backends: what runs the fused network for :class:`~yololens.engine.runner.Runner`.

A backend turns a letterboxed input batch into the head output (the structure Ultralytics'
NMS and ``split_head_output`` read) and the hooked layers' feature maps. Letterbox, NMS, box
mapping and masks stay Ultralytics' own (``model/ultra.py``), whatever the backend.

* ``torch``: the fused PyTorch model with forward hooks, bitwise equal to Ultralytics predict
  at equal torch threads.
* ``openvino``: the same network exported once (``openvino.convert_model`` from the torch
  module) with the hooked layers and prototypes as extra outputs, compiled by OpenVINO at f32
  (bf16 with ``--precision bf16``; ``--precision int8``: the IR quantized by NNCF on images of
  the source, see :mod:`.quantize`).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, replace
from typing import Protocol

import torch

from yololens.engine.calibration import DEFAULT_CALIBRATION, CalibrationSet
from yololens.errors import ModelError
from yololens.model.loading import LoadedModel, load_model, select_device
from yololens.options import check_options
from yololens.types import Backend, Precision

BACKEND_ENV = "YOLOLENS_BACKEND"  # what --backend auto resolves to, when set (torch / openvino)


class ComputeBackend(Protocol):
    """Runs the network on ``x`` ``(B, 3, H, W)`` float in [0, 1] (RGB, letterboxed)."""

    name: Backend
    precision: Precision

    def forward(self, x: torch.Tensor) -> tuple[object, dict[int, torch.Tensor]]:
        """``(head_output, {layer: (B, C, H', W') features})``; head_output as ``net(x)`` returns it (``None``
        for a backend built with a ``cut``)."""
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


def resolve_backend(requested: Backend | str | None, device: torch.device,
                    precision: Precision = Precision.F32) -> Backend:
    """``auto`` -> OpenVINO for an int8 ``precision`` (only it computes int8), else ``$YOLOLENS_BACKEND`` if set,
    else :func:`auto_backend` (OpenVINO for bf16 on the CPU when installed); ``openvino`` is checked usable."""
    choice = _parse(requested or Backend.AUTO, "--backend")
    if choice is Backend.AUTO and precision is Precision.INT8 and device.type == "cpu":
        choice = Backend.OPENVINO
    if choice is Backend.AUTO and os.environ.get(BACKEND_ENV):
        choice = _parse(os.environ[BACKEND_ENV], f"${BACKEND_ENV}")
    if choice is Backend.AUTO:
        if precision in (Precision.BF16, Precision.INT8) and device.type == "cpu" and openvino_available():
            return Backend.OPENVINO
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


def requested_precision(precision: Precision | str | None, half: bool = False) -> Precision:
    """``--precision`` (default f32), with ``--half`` as its alias for bf16 (fp16 for torch on CUDA)."""
    if precision is None or str(precision) == "":
        return Precision.BF16 if half else Precision.F32
    try:
        choice = Precision(str(precision).strip().lower())
    except ValueError:
        raise ModelError(f"--precision {precision!r} is not one of {', '.join(p.value for p in Precision)}") from None
    if half and choice not in (Precision.BF16, Precision.F16):
        raise ModelError(f"--half is --precision bf16; it cannot be combined with --precision {choice}")
    return choice


@dataclass(frozen=True)
class Compute:
    """A job's resolved compute settings: what :class:`Runner` gets besides the model.

    Attributes:
        backend: ``torch`` or ``openvino`` (never ``auto``).
        half: torch: fp16 weights (CUDA); openvino: bf16 compute where the CPU has it.
        threads: inference threads (0: the backend's default).
        int8: OpenVINO only: the model quantized by NNCF on ``calibration`` images of the source.
        calibration: images in the int8 calibration set; calibration_set: the set, once the job has its
            source (:meth:`calibrated_on`).
    """

    backend: Backend
    half: bool = False
    threads: int = 0
    int8: bool = False
    calibration: int = DEFAULT_CALIBRATION
    calibration_set: CalibrationSet | None = None

    def calibrated_on(self, records) -> "Compute":
        """With int8, this compute with its calibration set picked from ``records`` (the job's source order)."""
        return replace(self, calibration_set=CalibrationSet.of(records, self.calibration)) if self.int8 else self

    @property
    def precision(self) -> Precision:
        """The precision the backend will compute in (what the manifest and resume guard record)."""
        if self.int8:
            return Precision.INT8
        if not self.half:
            return Precision.F32
        if self.backend is Backend.TORCH:
            return Precision.F16
        from yololens.engine.backends.openvino_backend import cpu_has_bf16

        return Precision.BF16 if cpu_has_bf16() else Precision.F32

    def runner_kwargs(self) -> dict:
        kwargs = {"backend": self.backend, "half": self.half, "threads": self.threads}
        if self.int8:
            if self.calibration_set is None:
                raise RuntimeError("int8 compute without a calibration set: call calibrated_on(records) first")
            kwargs["calibration"] = self.calibration_set
        return kwargs

    def describe(self) -> dict:
        extra = {"calibration_images": len(self.calibration_set or ())} if self.int8 else {}
        return {"backend": str(self.backend), "precision": str(self.precision), "threads": self.threads, **extra}


def prepare_model(model, device: str | None = None, backend: Backend | str | None = Backend.AUTO, half: bool = False,
                  threads: int = 0, end2end: bool | None = None, precision: Precision | str | None = None,
                  calibration: int = DEFAULT_CALIBRATION) -> tuple[LoadedModel, Compute]:
    """Load ``model`` (or take a :class:`LoadedModel`) for ``backend`` and resolve the backend.

    ``precision``: ``f32`` (default, the exact path), ``bf16`` (``half``: its alias; OpenVINO on a CPU with
    bf16, fp16 weights for torch on CUDA) or ``int8`` (OpenVINO, quantized on ``calibration`` images of the
    source). ``half`` loads fp16 torch weights only for the torch backend; OpenVINO compiles f32 weights and
    computes in bf16 instead. ``threads < 0`` is refused.
    """
    if threads < 0:
        raise ModelError(f"--threads must be >= 0 (0: the backend's default), not {threads}")
    check_options(calibration=calibration)
    request = requested_precision(precision, half)
    half = request in (Precision.BF16, Precision.F16)
    device_ = model.device if isinstance(model, LoadedModel) else select_device(device)
    choice = resolve_backend(backend, device_, request)
    if request is Precision.INT8 and choice is not Backend.OPENVINO:
        raise ModelError("--precision int8 runs with the OpenVINO backend on the CPU (--backend openvino)")
    if request is Precision.F16 and choice is Backend.OPENVINO:
        raise ModelError("--precision f16 is torch on CUDA; the OpenVINO backend's half precision is bf16")
    int8 = request is Precision.INT8
    if isinstance(model, LoadedModel):
        return model, Compute(choice, half or (model.half and choice is Backend.TORCH), threads, int8, calibration)
    loaded = load_model(model, device=device, half=half and choice is Backend.TORCH, end2end=end2end)
    return loaded, Compute(choice, half, threads, int8, calibration)


def create_backend(model: LoadedModel, layers: list[int], backend: Backend | str | None = Backend.TORCH, *,
                   half: bool = False, threads: int = 0, imgsz: tuple[int, int] = (640, 640),
                   protos: bool = True, cut: int | None = None, calibration=None) -> ComputeBackend:
    """The backend for ``model`` capturing ``layers`` (``threads``: inference threads, 0 = default).

    ``protos=False``: a seg model's prototype branch is not computed (nothing else changes; for jobs that use
    no masks, e.g. ``extract --pool box``). ``cut``: the network runs only up to layer ``cut`` (no head
    output; ``forward`` returns ``None`` in its place), for jobs that need only hooked layers up to it.
    ``calibration``: int8 (OpenVINO): ``(CalibrationSet, prepare)`` with ``prepare(bgr) -> (1, 3, H, W)``
    float32, the run's own letterbox.
    """
    # a job's ComputeSpec passes the backend it resolved once: only a bare name or ``auto`` is resolved here
    choice = backend if isinstance(backend, Backend) and backend is not Backend.AUTO else resolve_backend(
        backend, model.device, Precision.INT8 if calibration is not None else Precision.F32)
    if choice is Backend.OPENVINO:
        from yololens.engine.backends.openvino_backend import OpenVINOBackend

        return OpenVINOBackend(model, layers, half=half, threads=threads, imgsz=imgsz, protos=protos, cut=cut,
                               calibration=calibration)
    if calibration is not None:
        raise ModelError("--precision int8 runs with the OpenVINO backend on the CPU (--backend openvino)")
    from yololens.engine.backends.torch_backend import TorchBackend

    return TorchBackend(model, layers, threads=threads, protos=protos, cut=cut)
