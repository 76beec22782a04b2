"""What the seg commands share: a seg model prepared like Ultralytics predict, the source, names."""

from __future__ import annotations

from pathlib import Path

from yololens.engine.backends import Backend, Compute, prepare_model
from yololens.errors import InputError
from yololens.model.loading import LoadedModel
from yololens.sources.records import Source

__all__ = ["ensure_suffix", "open_images", "parse_indices", "seg_compute", "seg_model"]


def seg_model(model, command: str, device: str | None = None) -> LoadedModel:
    """Load ``model`` (or take a :class:`LoadedModel`) and refuse non-seg models.

    ``as_model`` (``load_model``) already gives the net AutoBackend's memory format, so prototypes and
    coefficients are bitwise those of ``YOLO(model).predict`` run with the same torch
    thread count (on the torch backend).
    """
    return seg_compute(model, command, device, backend=Backend.TORCH)[0]


def seg_compute(model, command: str, device: str | None = None, backend: Backend | str = Backend.AUTO,
                half: bool = False, threads: int = 0, precision: str | None = None) -> tuple[LoadedModel, Compute]:
    """:func:`seg_model` plus the resolved compute backend (see :func:`prepare_model`; an int8 compute still needs
    ``compute.calibrated_on(records)``)."""
    loaded, compute = prepare_model(model, device, backend, half, threads, precision=precision)
    loaded.require_segment(command)
    return loaded, compute


def open_images(source, labels=None, source_format: str | None = None, exclude: Path | None = None) -> Source:
    """The source of a seg command (see :func:`yololens.sources.resolve.as_source`; images under the output
    folder ``exclude`` left out)."""
    from yololens.sources.resolve import as_source

    return as_source(source, labels=labels, source_format=source_format, exclude=exclude)


def parse_indices(values, nm: int | None = None) -> list[int] | None:
    """``[3, "5,7"]`` -> ``[3, 5, 7]`` (0-based, deduplicated, order kept); ``None``/empty -> ``None``.

    With ``nm``, an index outside ``0..nm-1`` raises :class:`InputError` giving the range.
    """
    if values is None:
        return None
    items = [values] if isinstance(values, (int, str)) else list(values)
    out: list[int] = []
    for item in items:
        for tok in str(item).split(","):
            tok = tok.strip()
            if not tok:
                continue
            try:
                k = int(tok)
            except ValueError:
                raise InputError(f"coefficient index {tok!r} is not an integer") from None
            if k not in out:
                out.append(k)
    if not out:
        return None
    if nm is not None:
        bad = [k for k in out if not 0 <= k < nm]
        if bad:
            raise InputError(f"coefficient index {bad[0]} is out of range: this model has {nm} prototypes, "
                             f"valid indices are 0..{nm - 1}")
    return out


def ensure_suffix(path: Path, fmt: str) -> Path:
    return path if path.suffix.lower() == f".{fmt}" else path.with_suffix(f".{fmt}")
