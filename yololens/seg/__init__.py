"""Seg internals: prototype x coefficient decomposition, coefficient export and analytics.

Everything here reproduces Ultralytics' own masks pixel for pixel (see
:mod:`yololens.seg.instances`); instance ``i`` is ``Results`` index ``i``.
"""

from yololens.seg.decompose import MaskDecomposition, ProtoGrid, decompose
from yololens.seg.instances import (
    SegInstances,
    align_instances,
    coefficient_vectors,
    final_masks,
    instances_of,
    original_areas,
)

__all__ = [
    "MaskDecomposition",
    "ProtoGrid",
    "SegInstances",
    "align_instances",
    "coefficient_vectors",
    "decompose",
    "final_masks",
    "instances_of",
    "original_areas",
]
