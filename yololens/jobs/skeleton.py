"""The resumable job skeleton extract and coefficients share.

lock (``store.lock.DirectoryLock``, taken by the job) -> :func:`resume` (settings guard with the source
fingerprint, stale temp files removed, the images already done, corrupt parts set aside) -> windows, run by an
:class:`~yololens.engine.executors.Executor` -> one durable part per window (``store.table.ResumableTable``)
-> finalize -> manifest (``store.manifest.write_manifest``). The two seams: the compute backend
(``engine/backends``, chosen by ``prepare_model``) and the executor (:func:`executor_of`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from yololens.engine.executors import LOCAL
from yololens.sources.records import ImageRecord, Skip
from yololens.store.atomic import remove_stale_temps
from yololens.store.fingerprint import SourceFingerprint
from yololens.store.table import ResumableTable, guard_settings


@dataclass
class Resumed:
    """Where a resumable job starts.

    Attributes:
        done: image keys finished by earlier runs (in the first table).
        redone: corrupt parts set aside, one :class:`Skip` each (their images are done again).
        resumed: how many of the source's images are in ``done``.
    """

    done: set[str]
    redone: list[Skip] = field(default_factory=list)
    resumed: int = 0


def resume(out: Path, config: Path, tables: Sequence[ResumableTable], settings: dict, overwrite: bool,
           records: Sequence[ImageRecord], labels, *, where: Path, hint: str = "--out") -> Resumed:
    """Guard ``tables`` (refuse other settings or another source; ``overwrite`` discards them) and find what is
    done. Call it holding ``out``'s lock: it removes half-written temp files of a killed run."""
    guard_settings(config, list(tables), settings, overwrite, where=where, hint=hint,
                   source=SourceFingerprint.of(records, labels))
    remove_stale_temps(out)  # we hold the lock: no live writer owns them
    done = tables[0].done_keys()
    redone = [Skip(file, reason, "redone") for t in tables for file, reason in t.notes]
    return Resumed(done, redone, sum(r.name in done for r in records))


def executor_of(executor, address: str | None = None):
    """The executor a job runs its windows on: ``None`` / ``"local"`` -> this process; ``"ray"`` -> a
    :class:`~yololens.jobs.ray_executor.RayExecutor` on the cluster at ``address`` (None: local Ray)."""
    if executor is None or executor == "local":
        return LOCAL
    if executor == "ray":
        from yololens.jobs.ray_executor import RayExecutor

        return RayExecutor(address)
    if isinstance(executor, str):
        from yololens.errors import InputError

        raise InputError(f"--executor must be local or ray, not {executor!r}")
    return executor
