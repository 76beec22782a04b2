"""Forward hooks that capture the outputs of chosen layers during one forward pass."""

from __future__ import annotations

import torch


class FeatureCapture:
    """Capture the outputs of layers ``indices`` of ``layers`` (Ultralytics' ``net.model``).

    Use as a context manager around a forward pass; afterwards ``features[i]`` is layer
    i's output, a ``(B, C, H, W)`` tensor in letterboxed space (stride = input / H). The
    tensors are the model's own activations (no copy); they are replaced on every pass.
    """

    def __init__(self, layers: torch.nn.ModuleList, indices: list[int]):
        self.layers = layers
        self.indices = sorted(set(indices))
        self.features: dict[int, torch.Tensor] = {}
        self._handles: list = []

    def _hook(self, index: int):
        def fn(_module, _inputs, output):
            self.features[index] = output

        return fn

    def __enter__(self) -> "FeatureCapture":
        self.features = {}
        self._handles = [self.layers[i].register_forward_hook(self._hook(i)) for i in self.indices]
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
