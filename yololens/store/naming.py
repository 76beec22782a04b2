"""One naming scheme for every output named after an input (maps and protos folders, crops, prototype PNGs,
figures named after a column, stage or class: :func:`data_name`).

An image key (``a/b.jpg``, relative to ``--source``) becomes one file-name component that is

* **safe**: ASCII letters, digits, ``_`` and ``-`` only (folders become ``__``, dots ``_``), so no path
  separator, no ``.``/``..``, no hidden file, and never a leading ``-`` (it would read as an option);
* **bounded**: at most :data:`MAX_NAME_BYTES` bytes, leaving room for suffixes such as ``_p31.png`` and
  for the temp-file prefix of :func:`~yololens.store.atomic.atomic_path` under the usual 255-byte limit;
* **unique within a run**: a second key with the same (case-insensitive) name, or a name that had to be
  shortened, gets ``~<8 hex of sha1(key)>``. ``~`` never appears in a plain name, so a suffixed name can
  never meet an unsuffixed one.

Names are reserved in source order before any image is decoded, so a skipped image never shifts another
image's name, and a resumed run (same source, see :mod:`yololens.store.fingerprint`) names alike.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import PurePosixPath, PureWindowsPath

#: Longest output name (bytes, ASCII, so also characters).
MAX_NAME_BYTES = 200
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_SAFE = re.compile(r"[A-Za-z0-9_-]+")
_HASH_CHARS = 8


def key_hash(key: str) -> str:
    """Eight hex digits that identify ``key`` (stable across runs and machines)."""
    return hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_CHARS]


def safe_component(text: str) -> str:
    """``text`` as one safe file-name component, unbounded and not made unique: ``a/b c.jpg`` -> ``a__b_c_jpg``.

    Absolute paths keep only their file name (the folders are the user's, not the image's identity).
    """
    if PurePosixPath(text).is_absolute() or PureWindowsPath(text).is_absolute():
        text = PureWindowsPath(text).name  # splits on both separators
    text = text.replace("/", "__").replace("\\", "__")
    name = _UNSAFE.sub("_", text.replace(".", "_"))
    if not name or name.startswith("-"):
        name = "_" + name
    return name


def data_name(text: object, limit: int = 80) -> str:
    """A name taken from data (a column, class, attribute value, layer or module name) as one safe file-name
    component: kept as it is when it is already safe (``class_name``, ``L9``), else made safe with
    :func:`safe_component`'s alphabet and suffixed ``~<8 hex>`` of the original, so two different names never
    meet (``a/b`` and ``a_b``) and nothing can name a folder (``/``, ``..``) or a hidden file.
    """
    text = str(text)
    if _SAFE.fullmatch(text) and not text.startswith("-") and len(text) <= limit:
        return text
    base = _UNSAFE.sub("_", text).lstrip("-")[: limit - _HASH_CHARS - 1] or "_"
    return f"{base}~{key_hash(text)}"


def _bounded(name: str, key: str, limit: int) -> str:
    if len(name) <= limit:
        return name
    return f"{name[: limit - _HASH_CHARS - 1]}~{key_hash(key)}"


class OutputNames:
    """Maps image keys to output names, unique (case-insensitively) within one run.

    Args:
        keys: keys to reserve now, in source order (the usual way: pass every record's name).
        limit: the longest name, in bytes.
    """

    def __init__(self, keys: Iterable[str] = (), limit: int = MAX_NAME_BYTES) -> None:
        self.limit = limit
        self._names: dict[str, str] = {}
        self._taken: set[str] = set()
        for key in keys:
            self(key)

    def __contains__(self, key: object) -> bool:
        return key in self._names

    def __call__(self, key: str) -> str:
        """The output name of ``key`` (the same on every call)."""
        if key in self._names:
            return self._names[key]
        name = _bounded(safe_component(key), key, self.limit)
        if name.lower() in self._taken:
            base = safe_component(key)[: self.limit - _HASH_CHARS - 1]
            name, n = f"{base}~{key_hash(key)}", 1
            while name.lower() in self._taken:  # a hash collision (or an adversarial key): count on
                n += 1
                tail = f"~{key_hash(key)}{n}"
                name = f"{base[: self.limit - len(tail)]}{tail}"
        self._taken.add(name.lower())
        self._names[key] = name
        return name
