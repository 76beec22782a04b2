"""What the seg commands share: a seg model prepared like Ultralytics predict, the source, names."""

from __future__ import annotations

import re
from pathlib import Path

from yololens.errors import InputError
from yololens.engine.backends import Backend, Compute, prepare_model
from yololens.model.loading import LoadedModel
from yololens.sources.records import Source


def seg_model(model, command: str, device: str | None = None) -> LoadedModel:
    """Load ``model`` (or take a :class:`LoadedModel`) and refuse non-seg models.

    ``load_model`` already gives the net AutoBackend's memory format, so prototypes and
    coefficients are bitwise those of ``YOLO(model).predict`` run with the same torch
    thread count (on the torch backend).
    """
    return seg_compute(model, command, device, backend=Backend.TORCH)[0]


def seg_compute(model, command: str, device: str | None = None, backend: Backend | str = Backend.AUTO,
                half: bool = False, threads: int = 0) -> tuple[LoadedModel, Compute]:
    """:func:`seg_model` plus the resolved compute backend (see :func:`prepare_model`)."""
    loaded, compute = prepare_model(model, device, backend, half, threads)
    loaded.require_segment(command)
    return loaded, compute


def open_images(source, labels=None, fmt: str | None = None) -> Source:
    """A :class:`Source` as given, or resolved with ``yololens.sources.resolve.open_source``."""
    if isinstance(source, Source):
        return source
    if source is None:
        raise InputError("no --source given")
    from yololens.sources.resolve import open_source

    return open_source(source, labels=labels, fmt=fmt)


def safe_name(name: str) -> str:
    """An image name as one file-name component: ``a/b.jpg`` -> ``a__b_jpg``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name.replace("/", "__").replace("\\", "__")).replace(".", "_")


def output_stem(name: str) -> str:
    """File-safe name for an image's outputs: relative names keep their folders
    (``a/b.jpg`` -> ``a__b_jpg``); absolute paths keep only the file name."""
    path = Path(name)
    return safe_name(path.name if path.is_absolute() else name)


class OutputNames:
    """:func:`output_stem`, made unique within a run: repeats get ``_1``, ``_2`` ..."""

    def __init__(self) -> None:
        self._used: dict[str, int] = {}

    def __call__(self, name: str) -> str:
        base = output_stem(name)
        n = self._used.get(base, 0)
        self._used[base] = n + 1
        return base if n == 0 else f"{base}_{n}"


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
