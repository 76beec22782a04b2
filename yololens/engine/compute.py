"""A job's compute settings, resolved once: the model, backend, precision, device and threads.

:class:`ComputeSpec` is what a job spec carries (and pickles to a Ray worker): the loaded model and the
backend / precision that :func:`~yololens.engine.backends.prepare_model` resolved for it. Everything
downstream (the :class:`~yololens.engine.runner.Runner`, the backend, the settings guard, the manifest)
reads these fields; nothing resolves ``auto`` again.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from yololens.engine.backends import Compute, prepare_model
from yololens.engine.runner import Runner
from yololens.options import DEFAULT_CALIBRATION
from yololens.model.loading import LoadedModel
from yololens.types import Backend, Precision


@dataclass(frozen=True)
class ComputeSpec:
    """What runs the model, resolved (never ``auto``).

    Attributes:
        model: the loaded model (pickled to Ray workers; a worker builds its own runner from it).
        compute: the backend, half and threads :class:`Runner` gets.
        precision: what the backend computes in (resolved once: the CPU probe runs here, not per use).
    """

    model: LoadedModel = field(compare=False, repr=False)
    compute: Compute
    precision: Precision

    @classmethod
    def resolve(cls, model, device: str | None = None, backend: Backend | str | None = Backend.AUTO,
                half: bool = False, threads: int = 0, end2end: bool | None = None,
                precision: Precision | str | None = None, calibration: int = DEFAULT_CALIBRATION) -> ComputeSpec:
        """Load ``model`` (path, yaml, ``YOLO`` or :class:`LoadedModel`) and resolve its compute settings
        (``precision``/``calibration``: see :func:`~yololens.engine.backends.prepare_model`)."""
        loaded, compute = prepare_model(model, device, backend, half, threads, end2end, precision, calibration)
        return cls(loaded, compute, compute.precision)

    def calibrated_on(self, records) -> ComputeSpec:
        """With int8, this spec with its calibration set picked from ``records`` (the job's source order)."""
        return replace(self, compute=self.compute.calibrated_on(records))

    def calibration_setting(self) -> dict:
        """``{"calibration": n}`` for int8 (a resume setting), else nothing (f32/bf16 settings stay as they were)."""
        return {"calibration": len(self.compute.calibration_set or ())} if self.compute.int8 else {}

    @property
    def backend(self) -> Backend:
        return self.compute.backend

    @property
    def threads(self) -> int:
        return self.compute.threads

    @property
    def device(self) -> str:
        return str(self.model.device)

    @property
    def gpu(self) -> bool:
        """Whether a worker needs a GPU (Ray schedules one per worker then)."""
        return self.model.device.type == "cuda"

    @property
    def model_id(self) -> str:
        """The model as the resume guard records it: the checkpoint's sha256, else what the user gave."""
        return self.model.sha256 or self.model.source

    def runner(self, **kwargs) -> Runner:
        """A :class:`Runner` on this model with these compute settings (``kwargs``: layers, imgsz, NMS ...)."""
        return Runner(self.model, **self.compute.runner_kwargs(), **kwargs)
