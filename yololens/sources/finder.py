"""Resolving label-file image names against ``--source``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from yololens.sources.listing import list_images


class ImageFinder:
    """Resolves image names from a label file against ``--source``.

    A folder: ``source/name`` first, then a recursive lookup by basename when it is unique
    (the folder is listed once, lazily). One image or a list: exact name, then unique basename.
    """

    def __init__(self, root: Path | None = None, entries: Sequence[tuple[Path, str]] = ()) -> None:
        self.root = root
        self._entries = list(entries)
        self._by_name: dict[str, tuple[Path, str]] | None = None
        self._by_base: dict[str, list[tuple[Path, str]]] = {}
        self._claimed: set[str] = set()

    @classmethod
    def for_folder(cls, root: Path) -> ImageFinder:
        return cls(root=root)

    @classmethod
    def for_entries(cls, entries: Sequence[tuple[Path, str]]) -> ImageFinder:
        return cls(entries=entries)

    def find(self, name: str) -> tuple[Path, str]:
        """``(path, output name)`` for a label-file image name.

        Raises:
            LookupError: with a one-line reason (not found, ambiguous, a directory).
        """
        if self.root is not None:
            direct = self.root / name
            if direct.is_file():
                return direct, Path(os.path.normpath(name)).as_posix()  # "./a.jpg" and "a.jpg" are one name
            if direct.is_dir():
                raise LookupError(f"{direct} is a directory, not an image")
        index = self._index()
        if name in index:
            return index[name]
        matches = self._by_base.get(Path(name).name, [])
        if len(matches) == 1:
            return matches[0]
        where = f"under {self.root}" if self.root is not None else "in the source"
        if not matches:
            raise LookupError(f"image not found {where}")
        shown = ", ".join(n for _, n in matches[:3])
        raise LookupError(f"ambiguous: {len(matches)} images named {Path(name).name} {where} ({shown}, ...)")

    def claim(self, name: str) -> tuple[Path, str]:
        """:meth:`find`, refusing a second entry that resolves to an already claimed image
        (``a.jpg`` and ``val/a.jpg`` would otherwise give two records of one image)."""
        path, out_name = self.find(name)
        if out_name in self._claimed:
            raise LookupError(f"resolves to {out_name}, already used by an earlier entry")
        self._claimed.add(out_name)
        return path, out_name

    def _index(self) -> dict[str, tuple[Path, str]]:
        if self._by_name is None:
            entries = self._entries
            if self.root is not None:
                paths, _ = list_images(self.root)  # listing problems are irrelevant to a lookup
                entries = [(p, p.relative_to(self.root).as_posix()) for p in paths]
            self._by_name = {n: (p, n) for p, n in entries}
            for p, n in entries:
                self._by_base.setdefault(p.name, []).append((p, n))
        return self._by_name
