"""The PyTorch backend: the fused model with forward hooks (bitwise Ultralytics predict)."""

from __future__ import annotations

import torch

from yololens.engine.backends import Backend, Precision
from yololens.model import ultra
from yololens.model.hooks import FeatureCapture
from yololens.model.loading import LoadedModel


class TorchBackend:
    """``model.net(x)`` with ``layers`` captured by hooks in the same pass.

    ``threads`` > 0 sets ``torch.set_num_threads`` (process-wide, as Ultralytics does). ``protos=False``: a seg
    model's prototype branch is skipped (``(B, nm, 0, 0)`` in its place); every other output is bitwise the same.
    """

    name = Backend.TORCH

    def __init__(self, model: LoadedModel, layers: list[int], threads: int = 0, protos: bool = True):
        self.model, self.layers, self.protos = model, list(layers), protos
        self.precision = Precision.F16 if model.half else Precision.F32
        if threads > 0:
            torch.set_num_threads(threads)

    def forward(self, x: torch.Tensor) -> tuple[object, dict[int, torch.Tensor]]:
        with FeatureCapture(self.model.layers, self.layers) as capture, \
                ultra.prototypes_skipped(self.model.net, not self.protos):
            output = self.model.net(x)
        return output, dict(capture.features)
