"""Small helpers shared by the label parsers: JSON loading, attributes, category bookkeeping."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from yololens.errors import InputError
from yololens.sources.boxes import Box, LabelProblem, add_box
from yololens.sources.records import Skip

#: JSON scalar types kept as attributes (lists/dicts such as BDD lane attributes are dropped).
_SCALARS = (str, int, float, bool, type(None))


#: Largest text input read (label JSON, lists, class maps, YAML): far above any real one (BDD100K's train labels
#: are ~0.7 GB), and a bound on what one bad path can make us read.
DEFAULT_MAX_TEXT_BYTES = 4 << 30


def read_text_file(path: str | os.PathLike, what: str = "label file", max_bytes: int = DEFAULT_MAX_TEXT_BYTES) -> str:
    """The UTF-8 text of ``path`` (a byte-order mark dropped), through the same guards as images: a regular file
    (never a FIFO, device or folder: they would hang or never end), at most ``max_bytes``, no NUL bytes.

    Raises:
        InputError: one line ``<path>: <reason>`` naming ``what`` was expected.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO opens at once instead of waiting for a writer
    except FileNotFoundError:
        raise InputError(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a {what}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise InputError(f"{path}: is a folder, not a {what}")
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{path}: is a {special_kind(st.st_mode)}, not a regular file ({what})")
        if st.st_size > max_bytes:
            raise InputError(f"{path}: {what} too large ({st.st_size:,} bytes; limit {max_bytes:,})")
        try:
            data = fh.read(max_bytes + 1)
        except OSError as exc:
            raise InputError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise InputError(f"{path}: {what} too large (over {max_bytes:,} bytes)")
    if b"\x00" in data:
        raise InputError(f"{path}: a binary file, not a {what} (text)")
    try:
        return data.decode("utf-8-sig")  # -sig: tolerate a byte-order mark
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start}); is this really a {what}?") from None


def special_kind(mode: int) -> str:
    """``FIFO (named pipe)``, ``socket``, ... : what a non-regular, non-folder file is (for one-line reasons)."""
    for test, kind in ((stat.S_ISFIFO, "FIFO (named pipe)"), (stat.S_ISSOCK, "socket"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device")):
        if test(mode):
            return kind
    return "special file"


def load_json(path: Path, what: str = "JSON label file") -> Any:
    """Parse a JSON file; a malformed file is fatal and the error names file, line and column."""
    text = read_text_file(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise InputError(f"{path}: JSON nested too deeply") from None


def scalar_attributes(raw: object) -> dict[str, Any]:
    """JSON-scalar entries of an attribute mapping (booleans stay booleans); anything else -> ``{}``."""
    if not isinstance(raw, Mapping):
        return {}
    return {str(k): v for k, v in raw.items() if isinstance(v, _SCALARS)}


def is_scalar_id(value: object) -> bool:
    """True for ids usable as keys and as ``gt_id`` text (ints and strings, not bools/floats)."""
    return isinstance(value, (int, str)) and not isinstance(value, bool)


class Categories:
    """Category whitelist plus the class-name order of a labelled source.

    With a whitelist the order is the whitelist's; otherwise the order in which categories
    are first declared (``declare``) or first seen on a kept label (``seen``).
    """

    def __init__(self, whitelist: Iterable[str] | None = None) -> None:
        self.whitelist = list(dict.fromkeys(whitelist)) if whitelist else None
        self._order: dict[str, None] = dict.fromkeys(self.whitelist or [])

    def allowed(self, category: str) -> bool:
        return self.whitelist is None or category in self._order

    def declare(self, category: str) -> None:
        """Record a category the label file defines (COCO ``categories``, data.yaml ``names``)."""
        if self.whitelist is None:
            self._order.setdefault(category, None)

    seen = declare

    @property
    def names(self) -> list[str]:
        return list(self._order)


def display_path(path: Path, base: Path | None) -> str:
    """``path`` relative to ``base`` (posix) when inside it, else as is: short, findable Skip names."""
    if base is not None:
        try:
            return path.relative_to(base).as_posix()
        except ValueError:
            pass
    return str(path)


def wanted_box(category: str, geometry: Callable[[], Box | None], size: tuple[int, int] | None, where: str,
               cats: Categories, skips: list[Skip]) -> Box | None:
    """The checked, clipped box of one label, or ``None`` with a skip line saying why.

    In order: the category whitelist, the label's raw geometry (``geometry()`` raises
    :class:`LabelProblem` for malformed coordinates, returns ``None`` for labels that are not
    boxes), then the shared box check and clip (:func:`~yololens.sources.boxes.add_box`).
    """
    if not cats.allowed(category):
        skips.append(Skip(where, f"category '{category}' is not in the requested categories"))
        return None
    try:
        raw_box = geometry()
    except LabelProblem as exc:
        skips.append(Skip(where, str(exc)))
        return None
    return None if raw_box is None else add_box(raw_box, size, where, skips)


def unique_label_ids(boxes: list, where: str, skips: list[Skip]) -> list:
    """``boxes`` (LabelBox) with ids unique within the frame: a repeated ``gt_id`` becomes ``<id>~2``, ``~3``...
    with one kept-line each (a repeated id would pair predictions with the wrong label downstream)."""
    from dataclasses import replace

    seen: dict[str, int] = {}
    out = []
    for box in boxes:
        n = seen.get(box.gt_id, 0)
        seen[box.gt_id] = n + 1
        if n:
            new = f"{box.gt_id}~{n + 1}"
            while new in seen:
                n += 1
                new = f"{box.gt_id}~{n + 1}"
            seen[new] = 1
            skips.append(Skip(where, f"label id {box.gt_id!r} repeats in this frame; this one is {new!r}", "kept"))
            box = replace(box, gt_id=new)
        out.append(box)
    return out
