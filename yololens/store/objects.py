"""Build the objects table (one row per object) chunk by chunk, columnar.

See docs/ARCHITECTURE.md for the schema. Scalar columns are collected as Python lists,
embeddings as float32 arrays, and turned into one Arrow table per chunk of images.
"""

from __future__ import annotations

import math
from collections import defaultdict

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


class ObjectRows:
    """Accumulates object rows for one chunk of images.

    Args:
        embedding_dims: embedding column name -> vector length (fixed for the run).
        extra_columns: names from :data:`OPTIONAL_COLUMNS` to write (fixed for the run).
    """

    def __init__(self, embedding_dims: dict[str, int], extra_columns: tuple[str, ...] = ()):
        self.embedding_dims = dict(embedding_dims)
        self.extra_columns = tuple(extra_columns)
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
        for name in sorted(self._attrs):
            arrays.append(_array(self._attrs[name]))
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


def _array(values: list) -> pa.Array:
    """An attribute column; mixed types across objects fall back to strings."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())


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
