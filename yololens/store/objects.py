"""Build the objects table (one row per object) chunk by chunk, columnar.

See docs/ARCHITECTURE.md for the schema. Scalar columns are collected as Python lists,
embeddings as float32 arrays, and turned into one Arrow table per chunk of images.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

import numpy as np
import pyarrow as pa

from yololens.types import embedding_column  # noqa: F401  (re-exported: the column naming lives in types)

BASE_COLUMNS: dict[str, pa.DataType] = {
    "image": pa.string(),
    "image_index": pa.int64(),
    "image_w": pa.int32(),
    "image_h": pa.int32(),
    "object": pa.int32(),
    "object_id": pa.string(),
    "origin": pa.string(),
    "x1": pa.float32(),
    "y1": pa.float32(),
    "x2": pa.float32(),
    "y2": pa.float32(),
    "class_id": pa.int32(),
    "class_name": pa.string(),
    "score": pa.float32(),
    "gt_id": pa.string(),
    "match_iou": pa.float32(),
    "status": pa.string(),
    "box_area": pa.float32(),
}

#: Columns written only when a run has them (video-frame datasets, mask pooling); chosen once per run so
#: that every window's part has the same schema.
OPTIONAL_COLUMNS: dict[str, pa.DataType] = {
    "video": pa.string(),
    "frame_index": pa.int32(),
    "track_id": pa.string(),
    # --pool mask: why an object's mask embedding is its box embedding at some layers (null: it is not)
    "mask_fallback": pa.string(),
}


def attribute_types(records: Iterable) -> dict[str, pa.DataType]:
    """``attr_<name>`` -> its column type, decided once from the whole label set (frames and labels).

    All booleans -> bool, all integers -> int64, integers and floats -> float64, anything else mixed
    (``false`` in one frame, ``"no"`` in another) -> string. Every window of a run then writes the same
    type, so the parts always merge and the type never depends on ``--window``.
    """
    kinds: dict[str, set[type]] = defaultdict(set)
    for record in records:
        for attrs in [record.attributes, *(lab.attributes for lab in record.labels or ())]:
            for key, value in attrs.items():
                value = _clean(value)
                kinds[f"attr_{key}"].add(type(value))
    return {name: _type_of(found - {type(None)}) for name, found in sorted(kinds.items())}


def _type_of(kinds: set[type]) -> pa.DataType:
    if kinds == {bool}:
        return pa.bool_()
    if kinds == {int}:
        return pa.int64()
    if kinds and kinds <= {int, float}:
        return pa.float64()
    return pa.string()  # strings, mixtures, or never a value


class ObjectRows:
    """Accumulates object rows for one chunk of images.

    Args:
        embedding_dims: embedding column name -> vector length (fixed for the run).
        extra_columns: names from :data:`OPTIONAL_COLUMNS` to write (fixed for the run).
        attr_types: ``attr_<name>`` -> column type (:func:`attribute_types`); every listed column is
            written, with that type, even when this chunk has no value for it. Unlisted attributes
            are inferred per chunk (the API without a label set).
    """

    def __init__(self, embedding_dims: dict[str, int], extra_columns: tuple[str, ...] = (),
                 attr_types: dict[str, pa.DataType] | None = None):
        self.embedding_dims = dict(embedding_dims)
        self.extra_columns = tuple(extra_columns)
        self.attr_types = dict(attr_types or {})
        self._scalars: dict[str, list] = defaultdict(list)
        self._attrs: dict[str, list] = {}
        self._emb: dict[str, list[np.ndarray]] = {name: [] for name in self.embedding_dims}
        self.n = 0

    def add(self, row: dict, attributes: dict, embeddings: dict[str, np.ndarray]) -> None:
        """Add one object: ``row`` holds BASE_COLUMNS values (plus optional ``crop``),
        ``attributes`` go to ``attr_<name>`` columns, ``embeddings`` maps every embedding
        column to a ``(C,)`` float32 vector (missing ones are written as nulls)."""
        for name in (*BASE_COLUMNS, *self.extra_columns):
            self._scalars[name].append(_clean(row.get(name)))
        if "crop" in row:
            self._scalars.setdefault("crop", [None] * self.n).append(row["crop"])
        elif "crop" in self._scalars:
            self._scalars["crop"].append(None)
        for key, value in attributes.items():
            self._attrs.setdefault(f"attr_{key}", [None] * self.n).append(_clean(value))
        for name in self._attrs:
            if len(self._attrs[name]) == self.n:  # this object lacks the attribute
                self._attrs[name].append(None)
        for name, dim in self.embedding_dims.items():
            vec = embeddings.get(name)
            self._emb[name].append(None if vec is None else np.asarray(vec, dtype=np.float32).reshape(dim))
        self.n += 1

    def to_table(self) -> pa.Table:
        arrays, names = [], []
        for name, dtype in BASE_COLUMNS.items():
            arrays.append(pa.array(self._scalars[name], type=dtype))
            names.append(name)
        for name in self.extra_columns:
            arrays.append(pa.array(self._scalars[name], type=OPTIONAL_COLUMNS[name]))
            names.append(name)
        for name in sorted(set(self._attrs) | set(self.attr_types)):
            arrays.append(_array(self._attrs.get(name, [None] * self.n), self.attr_types.get(name)))
            names.append(name)
        if "crop" in self._scalars:
            arrays.append(pa.array(self._scalars["crop"], type=pa.string()))
            names.append("crop")
        for name, dim in self.embedding_dims.items():
            arrays.append(_fixed_list(self._emb[name], dim))
            names.append(name)
        return pa.Table.from_arrays(arrays, names=names)


def _clean(value):
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return None if math.isnan(value) else value
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _array(values: list, dtype: pa.DataType | None = None) -> pa.Array:
    """An attribute column of ``dtype``; without one, mixed types across objects fall back to strings."""
    if dtype is not None and pa.types.is_string(dtype):
        return pa.array([_text(v) for v in values], type=pa.string())
    try:
        return pa.array(values, type=dtype)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([_text(v) for v in values], type=pa.string())


def _text(value) -> str | None:
    return None if value is None else str(value)


def _fixed_list(vectors: list[np.ndarray | None], dim: int) -> pa.Array:
    flat = np.zeros((len(vectors), dim), dtype=np.float32)
    valid = np.ones(len(vectors), dtype=bool)
    for i, vec in enumerate(vectors):
        if vec is None:
            valid[i] = False
        else:
            flat[i] = vec
    values = pa.array(flat.reshape(-1), type=pa.float32())
    mask = None if valid.all() else pa.array(~valid)
    return pa.FixedSizeListArray.from_arrays(values, dim, mask=mask)
