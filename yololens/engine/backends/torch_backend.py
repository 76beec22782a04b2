"""The PyTorch backend: the fused model with forward hooks (bitwise Ultralytics predict)."""

from __future__ import annotations

import torch

from yololens.engine.backends import Backend, Precision
from yololens.model.hooks import FeatureCapture
from yololens.model.loading import LoadedModel


class TorchBackend:
    """``model.net(x)`` with ``layers`` captured by hooks in the same pass.

    ``threads`` > 0 sets ``torch.set_num_threads`` (process-wide, as Ultralytics does).
    """

    name = Backend.TORCH

    def __init__(self, model: LoadedModel, layers: list[int], threads: int = 0):
        self.model, self.layers = model, list(layers)
        self.precision = Precision.F16 if model.half else Precision.F32
        if threads > 0:
            torch.set_num_threads(threads)

    def forward(self, x: torch.Tensor) -> tuple[object, dict[int, torch.Tensor]]:
        with FeatureCapture(self.model.layers, self.layers) as capture:
            output = self.model.net(x)
        return output, dict(capture.features)
