"""The export cache: compiled-model inputs (OpenVINO IR) kept between runs.

Entries live in ``$YOLOLENS_CACHE``, else ``$XDG_CACHE_HOME/yololens``, else
``~/.cache/yololens``, one folder per key (a sha256 of the model's sha256, the exported
layers, imgsz and the ultralytics / torch / openvino versions). A folder is built in a temp
folder beside it and renamed into place, so a concurrent run sees a whole entry or none;
``meta.json`` holds the key and the files' sha256, checked on every load, so a corrupt or
stale entry is rebuilt (with one line saying so).
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
META = "meta.json"
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
    return folder


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
