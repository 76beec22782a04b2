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
    ``cut``: the module loop stops after layer ``cut`` (:func:`ultra.forward_to`); :meth:`forward` then returns
    ``None`` for the head output, and the features are bitwise the full forward's.
    """

    name = Backend.TORCH

    def __init__(self, model: LoadedModel, layers: list[int], threads: int = 0, protos: bool = True,
                 cut: int | None = None):
        self.model, self.layers, self.protos, self.cut = model, list(layers), protos, cut
        self.precision = Precision.F16 if model.half else Precision.F32
        if threads > 0:
            torch.set_num_threads(threads)

    def forward(self, x: torch.Tensor) -> tuple[object, dict[int, torch.Tensor]]:
        if self.cut is not None:
            with FeatureCapture(self.model.layers, self.layers) as capture:
                ultra.forward_to(self.model.net, x, self.cut)
            return None, dict(capture.features)
        with FeatureCapture(self.model.layers, self.layers) as capture, \
                ultra.prototypes_skipped(self.model.net, not self.protos):
            output = self.model.net(x)
        return output, dict(capture.features)
