"""``--precision int8``: NNCF post-training quantization of the exported OpenVINO model.

The f32 IR (the export cache entry) is quantized once per calibration set and cached beside it, keyed by
the export's key plus the calibration images, the NNCF version and the settings below. Quantized: the
convolutions (int8 weights and activations, the VNNI/AMX kernels); left in f32, as Ultralytics' own int8
OpenVINO export does: the head's box decoding arithmetic (Add/Sub/Mul/Div after the convolutions, the DFL)
and the sigmoid, whose rounding would move boxes and scores more than the convolutions' does.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np

QUANTIZE_FORMAT = 1  # bump when the settings below change: old int8 entries then no longer match
PRESET = "mixed"  # symmetric weights, asymmetric activations (NNCF's choice for models with non-ReLU activations)


def quantize_fields(export_key: dict, calibration: dict, n_images: int) -> dict:
    """The int8 cache key: the f32 export's key, the calibration set, the quantizer's version and settings
    (the version from the package metadata: importing nncf takes seconds, and a cached run needs none of it)."""
    from importlib.metadata import version

    return {**export_key, "int8": {"format": QUANTIZE_FORMAT, "preset": PRESET, "nncf": version("nncf"),
                                   "images": n_images, "calibration": calibration}}


def head_ignored_scope(head_index: int):
    """The head's post-convolution arithmetic and sigmoid (kept f32); ``validate=False``: a graph cut before the
    head has none of them."""
    import nncf

    head = rf".*model\.{head_index}"
    return nncf.IgnoredScope(patterns=[rf"{head}/.*/(Add|Sub|Mul|Div).*", rf"{head}\.dfl.*"], types=["Sigmoid"],
                             validate=False)


def quantize_ir(f32_xml: Path, inputs: Iterable[np.ndarray], head_index: int, folder: Path) -> list[str]:
    """Quantize the IR at ``f32_xml`` on ``inputs`` (``(1, 3, H, W)`` float32 each) and save it to ``folder``."""
    import logging

    import nncf
    import openvino as ov

    from yololens.errors import ModelError

    nncf.set_log_level(logging.ERROR)  # its per-node INFO lines are not the user's concern

    samples = list(inputs)
    if not samples:
        raise ModelError(f"{f32_xml.parent}: --precision int8 found no decodable calibration image in the source")
    print(f"--precision int8: calibrating on {len(samples)} images of the source (once; cached)", file=sys.stderr)
    model = ov.Core().read_model(f32_xml)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantized = nncf.quantize(model, nncf.Dataset(samples), preset=nncf.QuantizationPreset.MIXED,
                                  subset_size=len(samples), ignored_scope=head_ignored_scope(head_index))
    ov.save_model(quantized, folder / f32_xml.name, compress_to_fp16=False)
    return [f32_xml.name, f32_xml.with_suffix(".bin").name]
