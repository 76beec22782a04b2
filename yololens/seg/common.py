"""What the seg commands share: a seg model prepared like Ultralytics predict, the source, names."""

from __future__ import annotations

from pathlib import Path

from yololens.errors import InputError
from yololens.model.loading import LoadedModel, load_model
from yololens.sources.records import Source
from yololens.store.naming import OutputNames, safe_component

__all__ = ["OutputNames", "ensure_suffix", "open_images", "parse_indices", "safe_name", "seg_model"]

#: Kept importable: the one naming scheme lives in :mod:`yololens.store.naming`.
safe_name = output_stem = safe_component


def seg_model(model, command: str, device: str | None = None) -> LoadedModel:
    """Load ``model`` (or take a :class:`LoadedModel`) and refuse non-seg models.

    ``load_model`` already gives the net AutoBackend's memory format, so prototypes and
    coefficients are bitwise those of ``YOLO(model).predict`` run with the same torch
    thread count.
    """
    loaded = model if isinstance(model, LoadedModel) else load_model(model, device=device)
    loaded.require_segment(command)
    return loaded


def open_images(source, labels=None, fmt: str | None = None, exclude: Path | None = None) -> Source:
    """A :class:`Source` as given, or resolved with ``yololens.sources.resolve.open_source`` (images under
    the output folder ``exclude`` left out)."""
    if isinstance(source, Source):
        return source
    if source is None:
        raise InputError("no --source given")
    from yololens.sources.resolve import open_source

    return open_source(source, labels=labels, fmt=fmt, exclude=[exclude] if exclude else ())


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
