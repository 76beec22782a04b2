"""The objects table's column types, decided once per run (the rows are :class:`yololens.objects.Objects`).

See docs/ARCHITECTURE.md for the schema; :meth:`Objects.to_record_batch` is the one conversion to Arrow.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import pyarrow as pa

from yololens.objects import BASE_COLUMNS, OPTIONAL_COLUMNS, clean_value  # noqa: F401  (re-exported)
from yololens.types import embedding_column  # noqa: F401  (re-exported: the column naming lives in types)


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
                value = clean_value(value)
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
