"""``Objects``: one columnar batch of object rows, the type the engine produces and the store writes.

In the spirit of supervision's ``Detections``: every field is a column of length ``n`` (numpy arrays for
numbers, lists for text), so a batch is indexed and concatenated as a whole, and converted to Arrow ONCE
(:meth:`Objects.to_record_batch`, the objects table schema of docs/ARCHITECTURE.md). Missing values:
``NaN`` in float columns, :data:`MISSING` (-1) in integer columns, ``None`` in text columns; embeddings
carry an explicit row mask (a real vector may hold NaN, a missing one is a null).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace

import numpy as np
import pyarrow as pa

from yololens.types import Origin

MISSING = -1  # an integer column's null (class ids, frame indices are never negative)

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


@dataclass(frozen=True)
class ObjectSchema:
    """What a run's parts hold, fixed before its first window so every part has the same schema.

    Attributes:
        embedding_dims: embedding column (``emb_L9``, ``emb_L9_mask``, ``emb_coef``) -> vector length, in
            column order.
        extra_columns: names from :data:`OPTIONAL_COLUMNS` to write.
        attr_types: ``attr_<name>`` -> column type (``store.objects.attribute_types``); every listed column
            is written with that type. Unlisted attributes are inferred per batch (mixed types: strings).
        crops: write the ``crop`` column.
    """

    embedding_dims: dict[str, int] = field(default_factory=dict)
    extra_columns: tuple[str, ...] = ()
    attr_types: dict[str, pa.DataType] = field(default_factory=dict)
    crops: bool = False


def _texts(n: int) -> list:
    return [None] * n


@dataclass
class Objects:
    """``n`` object rows (ground truth or predictions), column by column.

    Attributes:
        image: ``n`` image keys; ``image_index`` ``(n,)`` int64 source positions; ``image_w``/``image_h``
            ``(n,)`` int32 original sizes (pixels); ``object`` ``(n,)`` int32 object number within its image.
        boxes: ``(n, 4)`` float32 ``x1, y1, x2, y2`` in original pixels.
        origin: ``n`` :class:`~yololens.types.Origin` (gt / pred).
        class_id: ``(n,)`` int32 (MISSING: unknown); ``class_name``: ``n`` names.
        score: ``(n,)`` float32 confidences (NaN for gt); ``match_iou`` ``(n,)`` float32 (NaN: no partner).
        gt_id, status, video, track_id: ``n`` texts (or None); ``frame_index`` ``(n,)`` int32 (MISSING).
        mask_fallback: ``n`` notes of ``--pool mask`` (or None).
        attributes: attribute name (no ``attr_`` prefix) -> ``n`` JSON scalars (or None).
        crop: ``n`` thumbnail paths relative to OUT (or None).
        embeddings: column (``emb_L9``, ``emb_L9_mask``, ``emb_coef``) -> ``(n, C)`` float32;
            ``missing``: column -> ``(n,)`` bool, rows without a vector there (written as nulls).
    """

    image: list[str]
    image_index: np.ndarray
    image_w: np.ndarray
    image_h: np.ndarray
    object: np.ndarray
    boxes: np.ndarray
    origin: list[Origin]
    class_id: np.ndarray
    class_name: list[str | None]
    score: np.ndarray
    gt_id: list[str | None]
    match_iou: np.ndarray
    status: list[str | None]
    video: list[str | None]
    frame_index: np.ndarray
    track_id: list[str | None]
    mask_fallback: list[str | None]
    attributes: dict[str, list] = field(default_factory=dict)
    crop: list[str | None] | None = None
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)
    missing: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def empty(cls, n: int = 0) -> Objects:
        """``n`` rows of nulls (callers fill the columns they have)."""
        nan = np.full(n, np.nan, np.float32)
        return cls(image=_texts(n), image_index=np.zeros(n, np.int64), image_w=np.zeros(n, np.int32),
                   image_h=np.zeros(n, np.int32), object=np.arange(n, dtype=np.int32),
                   boxes=np.zeros((n, 4), np.float32), origin=_texts(n), class_id=np.full(n, MISSING, np.int32),
                   class_name=_texts(n), score=nan, gt_id=_texts(n), match_iou=nan.copy(), status=_texts(n),
                   video=_texts(n), frame_index=np.full(n, MISSING, np.int32), track_id=_texts(n),
                   mask_fallback=_texts(n))

    def __len__(self) -> int:
        return len(self.image)

    @property
    def box_area(self) -> np.ndarray:
        """``(n,)`` float32 box areas in original pixels² (negative widths count as 0)."""
        b = self.boxes.astype(np.float64)
        return (np.maximum(b[:, 2] - b[:, 0], 0.0) * np.maximum(b[:, 3] - b[:, 1], 0.0)).astype(np.float32)

    @property
    def object_id(self) -> list[str]:
        """``"<image>#<object>"``: the key projections and plots use."""
        return [f"{im}#{k}" for im, k in zip(self.image, self.object.tolist())]

    def __getitem__(self, index) -> Objects:
        """Rows ``index`` (a slice, integer array or boolean mask) as a new batch."""
        idx = np.arange(len(self))[index]
        idx = np.atleast_1d(idx)
        return replace(self, **{f.name: _take(getattr(self, f.name), idx) for f in fields(self)})

    @classmethod
    def concat(cls, batches: Sequence[Objects]) -> Objects:
        """One batch of ``batches``' rows, in order; a column some batches lack is null there."""
        batches = list(batches)
        if not batches:
            return cls.empty()
        out = {}
        for f in fields(cls):
            parts = [getattr(b, f.name) for b in batches]
            if f.name == "attributes":
                names = dict.fromkeys(k for b in batches for k in b.attributes)
                out[f.name] = {k: [v for b in batches for v in b.attributes.get(k, _texts(len(b)))] for k in names}
            elif f.name == "crop":
                out[f.name] = (None if all(p is None for p in parts) else
                               [v for b in batches for v in (b.crop if b.crop is not None else _texts(len(b)))])
            elif f.name in ("embeddings", "missing"):
                continue
            elif isinstance(parts[0], np.ndarray):
                out[f.name] = np.concatenate(parts)
            else:
                out[f.name] = [v for p in parts for v in p]
        out["embeddings"], out["missing"] = {}, {}
        for name in dict.fromkeys(k for b in batches for k in b.embeddings):
            dim = next(b.embeddings[name].shape[1] for b in batches if name in b.embeddings)
            out["embeddings"][name] = np.concatenate([b.embeddings.get(name, np.zeros((len(b), dim), np.float32))
                                                      for b in batches])
            out["missing"][name] = np.concatenate([b.missing_rows(name) for b in batches])
        return cls(**out)

    @classmethod
    def from_arrow(cls, table: pa.Table | pa.RecordBatch) -> Objects:
        """An objects table (or any of its columns' subset) read back as a batch; absent columns are null."""
        n = table.num_rows
        objs = cls.empty(n)
        names = set(table.column_names)

        def texts(name: str) -> list:
            return table.column(name).to_pylist() if name in names else _texts(n)

        def numbers(name: str, dtype, fill) -> np.ndarray:
            if name not in names:
                return getattr(objs, name)
            return np.asarray(table.column(name).fill_null(fill).to_numpy(zero_copy_only=False), dtype)

        for name in ("image", "class_name", "gt_id", "status", "video", "track_id", "mask_fallback"):
            setattr(objs, name, texts(name))
        objs.origin = [None if o is None else Origin(o) for o in texts("origin")]
        objs.image_index = numbers("image_index", np.int64, 0)
        for name in ("image_w", "image_h", "object"):
            setattr(objs, name, numbers(name, np.int32, 0))
        for name in ("class_id", "frame_index"):
            setattr(objs, name, numbers(name, np.int32, MISSING))
        for name in ("score", "match_iou"):
            setattr(objs, name, numbers(name, np.float32, np.nan))
        for j, c in enumerate(("x1", "y1", "x2", "y2")):
            if c in names:
                objs.boxes[:, j] = numbers(c, np.float32, np.nan)
        objs.attributes = {c[len("attr_"):]: table.column(c).to_pylist() for c in table.column_names
                           if c.startswith("attr_")}
        objs.crop = table.column("crop").to_pylist() if "crop" in names else None
        for c in table.column_names:
            if c.startswith("emb_"):
                col = table.column(c)
                col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
                dim = col.type.list_size
                flat = col.flatten().to_numpy(zero_copy_only=False) if col.null_count == 0 else None
                missing = np.asarray(col.is_null().to_numpy(zero_copy_only=False), bool)
                if flat is None:  # nulls carry no values in flatten(): place the valid rows
                    values = np.zeros((n, dim), np.float32)
                    values[~missing] = np.asarray(col.drop_null().flatten().to_numpy(zero_copy_only=False),
                                                  np.float32).reshape(-1, dim)
                else:
                    values = np.asarray(flat, np.float32).reshape(n, dim)
                objs.embeddings[c], objs.missing[c] = values, missing
        return objs

    def missing_rows(self, name: str) -> np.ndarray:
        """``(n,)`` bool: rows with no vector in embedding column ``name``."""
        if name not in self.embeddings:
            return np.ones(len(self), bool)
        return self.missing.get(name, np.zeros(len(self), bool))

    def to_record_batch(self, schema: ObjectSchema | None = None) -> pa.RecordBatch:
        """The rows as one Arrow record batch in the objects table schema (docs/ARCHITECTURE.md)."""
        schema = schema or ObjectSchema({k: v.shape[1] for k, v in self.embeddings.items()})
        n = len(self)
        columns: dict[str, pa.Array] = {}
        b = self.boxes
        values = {"image": self.image, "image_index": self.image_index, "image_w": self.image_w,
                  "image_h": self.image_h, "object": self.object, "object_id": self.object_id,
                  "origin": [None if o is None else str(o) for o in self.origin],
                  "x1": b[:, 0], "y1": b[:, 1], "x2": b[:, 2], "y2": b[:, 3], "class_id": self.class_id,
                  "class_name": self.class_name, "score": self.score, "gt_id": self.gt_id, "match_iou": self.match_iou,
                  "status": self.status, "box_area": self.box_area, "video": self.video, "frame_index": self.frame_index,
                  "track_id": self.track_id, "mask_fallback": self.mask_fallback}
        types = {**BASE_COLUMNS, **OPTIONAL_COLUMNS}
        for name in (*BASE_COLUMNS, *schema.extra_columns):
            columns[name] = _column(values[name], types[name])
        for name in sorted(set(f"attr_{k}" for k in self.attributes) | set(schema.attr_types)):
            raw = self.attributes.get(name[len("attr_"):], _texts(n))
            columns[name] = _attribute_array([clean_value(v) for v in raw], schema.attr_types.get(name))
        if schema.crops:
            columns["crop"] = pa.array(self.crop if self.crop is not None else _texts(n), type=pa.string())
        for name, dim in schema.embedding_dims.items():
            vectors = self.embeddings.get(name, np.zeros((n, dim), np.float32))
            columns[name] = _fixed_list(np.asarray(vectors, np.float32).reshape(n, dim), self.missing_rows(name))
        return pa.RecordBatch.from_arrays(list(columns.values()), names=list(columns))

    def to_table(self, schema: ObjectSchema | None = None) -> pa.Table:
        return pa.Table.from_batches([self.to_record_batch(schema)])


def _take(value, idx: np.ndarray):
    if isinstance(value, np.ndarray):
        return value[idx]
    if isinstance(value, dict):
        return {k: _take(v, idx) for k, v in value.items()}
    if value is None:
        return None
    return [value[i] for i in idx]


def _column(values, dtype: pa.DataType) -> pa.Array:
    """A scalar column: NaN floats and MISSING integers become nulls."""
    if not isinstance(values, np.ndarray):
        return pa.array(values, type=dtype)
    values = np.ascontiguousarray(values)
    if pa.types.is_floating(dtype):
        values = values.astype(np.float32)
        mask = np.isnan(values)
    else:
        mask = values == MISSING
    return pa.array(values, type=dtype, mask=mask if mask.any() else None)


def clean_value(value):
    """A JSON scalar for Arrow: numpy scalars as Python ones, NaN as None."""
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return None if math.isnan(value) else value
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _attribute_array(values: list, dtype: pa.DataType | None = None) -> pa.Array:
    """An attribute column of ``dtype``; without one, mixed types across objects fall back to strings."""
    if dtype is not None and pa.types.is_string(dtype):
        return pa.array([_text(v) for v in values], type=pa.string())
    try:
        return pa.array(values, type=dtype)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([_text(v) for v in values], type=pa.string())


def _text(value) -> str | None:
    return None if value is None else str(value)


def _fixed_list(flat: np.ndarray, missing: np.ndarray) -> pa.Array:
    """``(n, C)`` float32 -> fixed_size_list<float32>[C]; ``missing`` rows are nulls (their values zeros)."""
    flat = flat.copy()
    flat[missing] = 0.0
    values = pa.array(flat.reshape(-1), type=pa.float32())
    mask = pa.array(missing) if missing.any() else None
    return pa.FixedSizeListArray.from_arrays(values, flat.shape[1], mask=mask)


__all__ = ["BASE_COLUMNS", "MISSING", "OPTIONAL_COLUMNS", "ObjectSchema", "Objects"]
