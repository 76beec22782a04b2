"""Finding images: folders (recursive, symlink-safe), ``.txt`` lists, and canonical image keys."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from yololens.errors import InputError
from yololens.sources.common import read_text_file, special_kind
from yololens.sources.records import Skip

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def is_image_name(name: str | Path) -> bool:
    """True when the file name ends with one of :data:`IMAGE_SUFFIXES` (any case)."""
    return str(name).lower().endswith(IMAGE_SUFFIXES)


# --------------------------------------------------------------------------------------- listing


def list_images(folder: str | Path) -> tuple[list[Path], list[Skip]]:
    """Image files under ``folder``, recursively, sorted by their relative posix path.

    Symlinks are followed, but each real directory is listed once, so a symlink loop ends as a
    Skip instead of a hang. Broken links, links that loop, and directories named like images
    (``x.jpg/``, whose contents are still listed) become Skips.
    """
    root = Path(folder)
    found: list[tuple[str, Path]] = []
    skips: list[Skip] = []
    visited: set[tuple[int, int]] = set()
    pending: list[tuple[Path, str]] = [(root, "")]
    while pending:
        directory, rel = pending.pop()
        try:
            st = os.stat(directory)
        except OSError as exc:
            skips.append(Skip(str(directory), f"cannot open folder ({_os_reason(exc)})"))
            continue
        key = (st.st_dev, st.st_ino)
        if key in visited:
            skips.append(Skip(str(directory), "symlink loop or folder linked twice (already listed)"))
            continue
        visited.add(key)
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            skips.append(Skip(str(directory), f"cannot list folder ({_os_reason(exc)})"))
            continue
        for entry in entries:
            _visit(entry, f"{rel}{entry.name}", directory, found, skips, pending)
    found.sort(key=lambda item: item[0])
    skips.sort(key=lambda s: s.file)
    return [path for _, path in found], skips


def _visit(
    entry: os.DirEntry[str],
    rel: str,
    directory: Path,
    found: list[tuple[str, Path]],
    skips: list[Skip],
    pending: list[tuple[Path, str]],
) -> None:
    path = directory / entry.name
    try:
        mode = os.stat(path).st_mode  # follows symlinks
    except OSError as exc:
        if entry.is_symlink():
            broken = exc.errno in (errno.ENOENT, errno.ENOTDIR)
            reason = "broken symlink" if broken else f"symlink cannot be followed ({_os_reason(exc)})"
            skips.append(Skip(str(path), reason))
        elif is_image_name(entry.name):
            skips.append(Skip(str(path), f"cannot read ({_os_reason(exc)})"))
        return
    if stat.S_ISDIR(mode):
        if is_image_name(entry.name):
            skips.append(Skip(str(path), "is a directory, not an image (its contents are still listed)"))
        pending.append((path, f"{rel}/"))
    elif stat.S_ISREG(mode):
        if is_image_name(entry.name):
            found.append((rel, path))
    else:  # a FIFO, socket or device: opening it could block forever or read without end
        skips.append(Skip(str(path), f"is a {special_kind(mode)}, not a regular file"))


def canonical_key(path: str | os.PathLike, root: str | os.PathLike) -> str:
    """The image's key in outputs: its path relative to ``root`` (posix, normalised), or its absolute path
    when it lies outside ``root``. ``base/x.jpg``, ``./base/x.jpg`` and ``/abs/base/x.jpg`` are one key."""
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(os.path.abspath(root)).as_posix()
    except ValueError:
        return absolute.as_posix()


def read_image_list(txt: str | Path) -> tuple[list[tuple[Path, str]], list[Skip]]:
    """Images named in a text file, one path per line, as ``(path, key)`` (:func:`canonical_key` against
    the text file's folder).

    Relative paths resolve against the text file's folder; blank and ``#`` lines are ignored.
    Missing files, folders, non-image names and repeated lines become Skips.
    """
    txt = Path(txt)
    lines = read_text_file(txt, "image list").splitlines()
    entries: list[tuple[Path, str]] = []
    skips: list[Skip] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        path = Path(name) if Path(name).is_absolute() else txt.parent / name
        where = f"{txt}[line {number}: {name}]"
        problem = _list_entry_problem(path)
        key = canonical_key(path, txt.parent)  # one key for a.jpg, ./a.jpg and /abs/a.jpg
        if problem is None and key in first_line:
            problem = f"listed twice (first at line {first_line[key]})"
        if problem:
            skips.append(Skip(where, problem))
            continue
        first_line[key] = number
        entries.append((path, key))
    return entries, skips


def _list_entry_problem(path: Path) -> str | None:
    if path.is_dir():
        return "is a directory, not an image"
    if not path.exists():
        return "broken symlink" if path.is_symlink() else "file not found"
    if not is_image_name(path.name):
        return f"not an image file name (expected {', '.join(IMAGE_SUFFIXES)})"
    return None



def _os_reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symlink loop"
    return exc.strerror or str(exc)
