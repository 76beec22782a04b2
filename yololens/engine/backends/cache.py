"""The export cache: compiled-model inputs (OpenVINO IR) kept between runs.

Entries live in ``$YOLOLENS_CACHE``, else ``$XDG_CACHE_HOME/yololens``, else
``~/.cache/yololens``, one folder per key (a sha256 of the model's sha256, the exported
layers, imgsz and the ultralytics / torch / openvino versions). A folder is built in a temp
folder beside it and renamed into place, so a concurrent run sees a whole entry or none;
``meta.json`` holds the key and the files' sha256, checked on every load, so a corrupt or
stale entry is rebuilt (with one line saying so).

The cache is bounded: after an entry is built (and after each OpenVINO compile, whose blob counts), the least
recently used entries and OpenVINO's compiled blobs in ``compiled/`` are removed until the whole fits
``$YOLOLENS_CACHE_MAX_MB`` (default :data:`DEFAULT_MAX_MB`; ``0``: no bound). Using an entry touches its
``meta.json``, which dates its last use.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

CACHE_ENV = "YOLOLENS_CACHE"
CACHE_MAX_ENV = "YOLOLENS_CACHE_MAX_MB"
DEFAULT_MAX_MB = 5000  # about 200 yolov8n exports with their int8 versions and blobs; a few dozen of the x size
META = "meta.json"
COMPILED = "compiled"  # OpenVINO's compiled-model blobs (its CACHE_DIR), bounded with the entries
_WARNED: set[str] = set()
STALE_TEMP_S = 3600.0  # temp folders older than this were left by a killed export: removed


def cache_root() -> Path:
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "yololens"


def cache_key(fields: dict) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_entry(folder: Path, fields: dict) -> str | None:
    """``None`` when ``folder`` is a whole entry for ``fields``, else why not (one phrase)."""
    try:
        meta = json.loads((folder / META).read_text())
    except FileNotFoundError:
        return "no meta.json"
    except (OSError, ValueError) as exc:
        return f"unreadable meta.json ({type(exc).__name__})"
    if not isinstance(meta, dict) or meta.get("key") != json.loads(json.dumps(fields, default=str)):
        return "stale (made for other settings or versions)"
    for name, digest in (meta.get("files") or {}).items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if _file_sha256(path) != digest:
            return f"{name} is corrupt (checksum mismatch)"
    return None if meta.get("files") else "meta.json lists no files"


def cached_entry(fields: dict, build: Callable[[Path], list[str]], what: str = "export") -> Path:
    """The cache folder for ``fields``, built by ``build(folder) -> [file names]`` when absent or bad.

    ``build`` writes into an empty temp folder; the folder is renamed into place only once
    ``meta.json`` (key + checksums) is written beside the files.
    """
    root = cache_root()
    folder = root / cache_key(fields)
    if folder.is_dir():
        reason = check_entry(folder, fields)
        if reason is None:
            _touch(folder / META)
            return folder
        print(f"{folder}: cached {what} {reason}; rebuilding it", file=sys.stderr)
    else:
        print(f"{folder}: building the {what} (once; later runs reuse it)", file=sys.stderr)
    root.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(root)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{folder.name}-", dir=root))
    try:
        names = build(tmp)
        meta = {"key": fields, "files": {n: _file_sha256(tmp / n) for n in names}}
        (tmp / META).write_text(json.dumps(meta, indent=1, sort_keys=True, default=str))
        _install(tmp, folder, fields)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    keep_bounded(folder)
    return folder


def keep_bounded(keep: Path) -> list[Path]:
    """Hold the cache to :func:`cache_limit_bytes` (:func:`evict`, ``keep`` the entry in use); what was removed."""
    limit = cache_limit_bytes()
    return evict(cache_root(), limit, keep=keep) if limit else []


def cache_limit_bytes() -> int | None:
    """The cache's bound in bytes from ``$YOLOLENS_CACHE_MAX_MB`` (``None``: unbounded, the value ``0``); a value
    that is not a number gets one line and the default."""
    raw = os.environ.get(CACHE_MAX_ENV, "").strip()
    try:
        mb = float(raw) if raw else float(DEFAULT_MAX_MB)
    except ValueError:
        if raw not in _WARNED:  # one line per bad value, however often the bound is checked
            _WARNED.add(raw)
            print(f"${CACHE_MAX_ENV}={raw!r} is not a number of MB; using {DEFAULT_MAX_MB}", file=sys.stderr)
        mb = float(DEFAULT_MAX_MB)
    return int(mb * 2**20) if mb > 0 else None


def evict(root: Path, limit: int, keep: Path | None = None) -> list[Path]:
    """Remove the least recently used entries and compiled blobs of ``root`` until their total size is at most
    ``limit`` bytes (``keep``, the entry in use, is never removed); returns what was removed. An entry is moved
    aside by one rename before it is deleted, so a concurrent run sees a whole entry or none."""
    items = []  # (last use, bytes, path)
    for path in root.iterdir() if root.is_dir() else ():
        try:
            if path.is_dir() and (path / META).is_file() and path != keep:
                items.append(((path / META).stat().st_mtime, _size(path), path))
            elif path.is_dir() and path.name == COMPILED:
                items += [(f.stat().st_mtime, f.stat().st_size, f) for f in path.iterdir() if f.is_file()]
        except OSError:  # removed by another run while we looked
            continue
    kept = _size(keep) if keep is not None else 0
    total = kept + sum(size for _, size, _ in items)
    removed = []
    for _, size, path in sorted(items, key=lambda item: item[0]):
        if total <= limit:
            break
        try:
            if path.is_dir():
                trash = Path(tempfile.mkdtemp(prefix=f".trash-{path.name}-", dir=root))
                os.rename(path, trash / "entry")
                shutil.rmtree(trash, ignore_errors=True)
            else:
                path.unlink()
        except OSError:
            continue
        total -= size
        removed.append(path)
    return removed


def _size(folder: Path) -> int:
    try:
        return sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
    except OSError:
        return 0


def _touch(path: Path) -> None:
    try:
        os.utime(path)
    except OSError:  # a read-only cache: its entries are still used, only not dated
        pass


def remove_stale_temps(root: Path, older_than_s: float = STALE_TEMP_S) -> int:
    """Delete temp/trash folders a killed run left in ``root`` (a live export's are younger)."""
    import time

    removed = 0
    for path in [*root.glob(".tmp-*"), *root.glob(".trash-*")]:
        try:
            if path.is_dir() and time.time() - path.stat().st_mtime > older_than_s:
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
        except OSError:
            pass  # another run removed it first
    return removed


def _install(tmp: Path, folder: Path, fields: dict) -> None:
    """Rename ``tmp`` onto ``folder``; a bad entry already there is moved aside first."""
    for _ in range(3):
        try:
            os.rename(tmp, folder)
            return
        except OSError:  # another run installed it first, or a bad entry is in the way
            if folder.is_dir() and check_entry(folder, fields) is None:
                return
            trash = Path(tempfile.mkdtemp(prefix=f".trash-{folder.name}-", dir=folder.parent))
            try:
                os.rename(folder, trash / "entry")
            except OSError:
                pass
            shutil.rmtree(trash, ignore_errors=True)
    raise OSError(f"{folder}: cannot install the cache entry")
