"""Core types shared by every layer: the options as ``StrEnum`` s, and :class:`LayerId`.

A ``StrEnum`` member equals its string (``BoxMode.BOTH == "both"``), so code and files that use the plain
strings keep working; Typer takes these enums as choices, so a bad value gets Typer's own error.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Task(StrEnum):
    """The Ultralytics tasks yololens opens."""

    DETECT = "detect"
    SEGMENT = "segment"


class BoxMode(StrEnum):
    """Which boxes ``extract`` pools: predictions, label boxes, or both matched (TP/FP/FN)."""

    PRED = "pred"
    GT = "gt"
    BOTH = "both"


#: ``report --boxes``: :class:`BoxMode` plus ``auto`` (``both`` with labels, else ``pred``).
ReportBoxMode = StrEnum("ReportBoxMode", {"AUTO": "auto", **{m.name: m.value for m in BoxMode}}, module=__name__)


class Origin(StrEnum):
    """Where an object row comes from; ``ALL`` selects both in the analysis commands."""

    ALL = "all"
    GT = "gt"
    PRED = "pred"


class StageOrigin(StrEnum):
    """``stages --origin``: an :class:`Origin` (the rows whose classes the stage report scores), or ``auto``
    (``gt`` when the table has ground-truth rows, else ``all``); resolved to an :class:`Origin` before use."""

    AUTO = "auto"  # gt when the table has ground truth rows, else all
    ALL = "all"
    GT = "gt"
    PRED = "pred"


class Backend(StrEnum):
    """Compute backend of the model passes (``auto``: OpenVINO on a bf16-capable CPU, else torch; ``$YOLOLENS_BACKEND``
    overrides it)."""

    AUTO = "auto"
    TORCH = "torch"
    OPENVINO = "openvino"


class Precision(StrEnum):
    """The precision a backend computes in (``--precision``; recorded in manifests and the resume guard)."""

    F32 = "f32"  # the exact path (torch: bitwise Ultralytics predict)
    BF16 = "bf16"  # OpenVINO on a CPU with bf16 support (--half); detections can change
    INT8 = "int8"  # OpenVINO, NNCF post-training quantization on images of the source; detections can change
    F16 = "f16"  # torch on CUDA (--half)


class Method(StrEnum):
    """2-D projection method."""

    TSNE = "tsne"
    UMAP = "umap"
    PCA = "pca"


class CoefLayout(StrEnum):
    """``coefficients --layout``: yololens columns, or the seed's ``mask_coefficients.csv`` header."""

    YOLOLENS = "yololens"
    SEED = "seed"


class SectionStatus(StrEnum):
    """A report section: ran (``ok``), switched off, not applicable / nothing to show, or failed."""

    OK = "ok"
    OFF = "off"
    SKIPPED = "skipped"
    FAILED = "failed"


class ExportMedia(StrEnum):
    """``export fiftyone --media``: link the images into the dataset folder (symlinks) or copy them."""

    SYMLINK = "symlink"
    COPY = "copy"


class ExecutorKind(StrEnum):
    """What runs a resumable job's windows: this process, or Ray workers (``--executor ray``)."""

    LOCAL = "local"
    RAY = "ray"


class SuspectKind(StrEnum):
    """Why ``suspects`` doubts a label: its neighbours disagree (``class``), a confident prediction of another class
    sits on its box (``swap``), a confident prediction has no label (``missing``), its matched box is loose (``box``)."""

    CLASS = "class"
    SWAP = "swap"
    MISSING = "missing"
    BOX = "box"


class NoiseKind(StrEnum):
    """``suspects --inject-noise``: flipped labels drawn uniformly among the other classes, or the closest class
    (by class-mean embedding similarity)."""

    UNIFORM = "uniform"
    CONFUSABLE = "confusable"


PROTO = "proto"  # the seg head's prototype tensor, addressable like a layer


@dataclass(frozen=True, order=True)
class LayerId:
    """A layer: an index into the model's layer list, or the seg prototypes (``proto``).

    Printed the same way everywhere: ``L9`` for index 9, ``proto`` for the prototypes; :attr:`value` is what
    the rest of the code keys on (the int, or ``"proto"``).
    """

    index: int | None = None  # None: the prototypes

    @classmethod
    def of(cls, value: int | str | LayerId) -> LayerId:
        """``9``, ``"9"``, ``"L9"`` -> index 9; ``"proto"`` -> the prototypes."""
        if isinstance(value, LayerId):
            return value
        if isinstance(value, str):
            text = value.strip()
            if text.lower() == PROTO:
                return cls(None)
            text = text[1:] if text[:1] in ("L", "l") else text
            return cls(int(text))
        return cls(int(value))

    @property
    def is_proto(self) -> bool:
        return self.index is None

    @property
    def value(self) -> int | str:
        return PROTO if self.index is None else self.index

    def __str__(self) -> str:
        return PROTO if self.index is None else f"L{self.index}"


def embedding_column(layer: int | str) -> str:
    """The objects-table column of a layer's embedding: ``9 -> "emb_L9"``; ``"coef" -> "emb_coef"``."""
    return f"emb_L{layer}" if isinstance(layer, int) else f"emb_{layer}"


__all__ = ["PROTO", "Backend", "BoxMode", "ExecutorKind", "CoefLayout", "ExportMedia", "LayerId", "Method", "Origin", "Precision", "ReportBoxMode", "SectionStatus", "Task", "StageOrigin", "embedding_column"]
