"""What a resumable run was made from: its images (key, size, mtime) and its label file.

A resume is only sound for the same source: an image deleted, added or rewritten since the rows were
made would otherwise leave stale rows, duplicate ``image_index`` values or mismatched crops. The
fingerprint is saved beside the run settings and compared before anything is resumed.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from yololens.errors import InputError
from yololens.store.atomic import write_text

_SHOWN = 3  # example names in a refusal


@dataclass(frozen=True)
class SourceFingerprint:
    """``images``: image key -> ``[size in bytes, mtime in ns]`` (``[-1, -1]`` when unreadable);
    ``labels``: the same for the label file (a folder: ``[number of files, newest mtime]``), or None."""

    images: dict[str, list[int]]
    labels: list[int] | None = None
    digest: str = field(default="", compare=False)

    @classmethod
    def of(cls, records: Iterable, labels: str | os.PathLike | None = None) -> SourceFingerprint:
        """The fingerprint of a source's records (``record.name`` keys, ``record.path`` files)."""
        images = {r.name: _stat(Path(r.path)) for r in records}
        lab = None if labels is None else _stat_tree(Path(labels))
        blob = json.dumps([images, lab], sort_keys=True).encode("utf-8", "surrogatepass")
        return cls(images, lab, hashlib.sha256(blob).hexdigest())

    def changes_since(self, old: SourceFingerprint) -> str | None:
        """``None`` when equal, else e.g. ``2 added, 1 removed, 0 modified (added: a.jpg, b.jpg)``."""
        added = sorted(self.images.keys() - old.images.keys())
        removed = sorted(old.images.keys() - self.images.keys())
        modified = sorted(k for k in self.images.keys() & old.images.keys() if self.images[k] != old.images[k])
        parts = [f"{len(added)} added, {len(removed)} removed, {len(modified)} modified"]
        for what, keys in (("added", added), ("removed", removed), ("modified", modified)):
            if keys:
                parts.append(f"{what}: {', '.join(keys[:_SHOWN])}{', ...' if len(keys) > _SHOWN else ''}")
        if self.labels != old.labels:
            parts.append("the label file changed")
        if len(parts) == 1 and not (added or removed or modified):
            return None
        return "; ".join(parts)

    def save(self, path: Path) -> None:
        """Atomically, one compact line (100k images make ~5 MB)."""
        record = {"digest": self.digest, "labels": self.labels, "images": self.images}
        write_text(path, json.dumps(record, separators=(",", ":")) + "\n")

    @classmethod
    def load(cls, path: Path) -> SourceFingerprint | None:
        """The saved fingerprint, or None when there is none (results of an older yololens)."""
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls({k: list(v) for k, v in data["images"].items()}, data.get("labels"), data.get("digest", ""))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InputError(f"{path}: unreadable record of the previous run's source ({exc}); rerun with "
                             "--overwrite to start over") from None


def _stat(path: Path) -> list[int]:
    try:
        st = os.stat(path)
    except OSError:
        return [-1, -1]
    return [st.st_size, st.st_mtime_ns]


def _stat_tree(path: Path) -> list[int]:
    if not path.is_dir():
        return _stat(path)
    stats = [_stat(p) for p in sorted(path.rglob("*")) if p.is_file()]
    return [len(stats), max((s[1] for s in stats), default=0)]
