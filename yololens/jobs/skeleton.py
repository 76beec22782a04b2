"""The resumable job skeleton: :func:`run_job`, the one sequence extract and coefficients run.

folder claim (one job's manifest per folder) -> lock (``store.lock.DirectoryLock``) -> :func:`resume`
(settings guard with the source fingerprint, stale temp files removed, the images already done, corrupt parts
set aside) -> plan the windows -> the executor runs ``build(spec)`` once per worker and its work per window
(each writes one durable part, ``store.table.ResumableTable``) -> the job finalizes -> the manifest, written
from the spec. The job supplies a :class:`JobSpec` (frozen, picklable: what Ray workers get) and a build
function; it never knows which executor runs it.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from tqdm.auto import tqdm

from yololens.engine.batching import plan_windows
from yololens.engine.compute import ComputeSpec
from yololens.engine.executors import LOCAL, Build, Executor, WindowOutcome
from yololens.engine.ray_executor import RayExecutor
from yololens.errors import InputError
from yololens.sources.records import ImageRecord, Skip, Source
from yololens.store.atomic import remove_stale_temps
from yololens.store.fingerprint import SourceFingerprint
from yololens.store.lock import DirectoryLock
from yololens.store.manifest import claim_folder, write_manifest
from yololens.store.table import ResumableTable, guard_settings
from yololens.types import ExecutorKind


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


@dataclass(frozen=True, kw_only=True)
class JobSpec:
    """A resumable job's spec: frozen and picklable (a Ray worker gets it), compute settings resolved once.

    The fields every resumable job has; a job's spec adds its own settings and says what to guard, resume,
    finalize and record. ``window``: images per durable part; ``labels``: the label file or folder the source
    fingerprint covers; ``given``: ``(source, labels)`` as the user gave them, as text (the manifest's);
    ``prepared_s``: seconds building the spec took (model load, source listing).
    """

    job: ClassVar[str]  # the manifest's ``job`` (and ``command``)
    compute: ComputeSpec
    source: Source
    out: Path
    # the forward pass (Ultralytics predict's defaults)
    imgsz: int = 640
    conf: float = 0.25
    iou: float = 0.7
    max_det: int = 300
    # reading and running the windows
    batch: int = 8
    workers: int = 2
    window: int = 64
    max_image_bytes: int | None = None
    # this run
    overwrite: bool = False
    progress: bool = True
    labels: str | None = None
    given: tuple[str | None, str | None] = (None, None)
    prepared_s: float = field(default=0.0, compare=False)

    def tables(self) -> list[ResumableTable]:
        """The job's resumable tables; the first one's keys are the images done."""
        raise NotImplementedError

    def settings(self) -> dict:
        """What changes the rows: a resumed run must have the same (the settings guard's record)."""
        raise NotImplementedError

    def guard(self) -> tuple[Path, Path, str]:
        """The settings guard's ``(record file, the output it names in a refusal, the option to change)``."""
        raise NotImplementedError

    def guarded(self) -> Path | None:
        """An output file outside ``out`` to lock too (``None``: none)."""
        return None

    def after_resume(self, start: Resumed) -> JobSpec:
        """The spec the windows run with, once the earlier runs' state is known."""
        return self

    def finalize(self, run: JobRun) -> dict:
        """Merge the parts; set ``run.final`` and ``run.counts``; return the manifest's extra entries."""
        raise NotImplementedError

    def params(self, run: JobRun) -> dict:
        """The manifest's ``params``: where from, how it ran, and :meth:`settings`."""
        return {"source": self.given[0], "labels": self.given[1], "batch": self.batch,
                "device": self.compute.device, "threads": self.compute.threads, **self.settings()}


def given_paths(source, labels) -> tuple[str | None, str | None]:
    """``(source, labels)`` as the user gave them, as text; an opened Source reports the paths it was opened from
    (never its repr, which later steps would read as a path)."""
    if isinstance(source, Source):
        return source.given
    return (None if source is None else str(source)), (None if labels is None else str(labels))


@dataclass
class JobRun:
    """What :func:`run_job` did: the start, the merged window outcomes, the final table and the manifest."""

    spec: JobSpec
    start: Resumed
    keys: list[str] = field(default_factory=list)
    rows: int = 0
    skips: list[Skip] = field(default_factory=list)
    facts: dict[str, dict] = field(default_factory=dict)
    final: Path | None = None
    outputs: dict[str, Path] = field(default_factory=dict)  # other files finalize wrote (coefficients: report)
    counts: dict = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    manifest: dict = field(default_factory=dict)

    def add(self, outcome: WindowOutcome) -> None:
        self.keys += outcome.keys
        self.rows += outcome.rows
        self.skips += outcome.skips
        for name, values in outcome.facts.items():
            self.facts.setdefault(name, {}).update(values)


def run_job(spec: JobSpec, build: Build, executor: Executor, *, desc: str | None = None) -> JobRun:
    """Run ``spec``'s job: ``build(spec)`` once per worker of ``executor``, its work once per window not done.

    Refused up front (one line) when ``spec.out`` holds another job's manifest."""
    t0 = time.perf_counter() - spec.prepared_s
    out = Path(spec.out)
    claim_folder(out, spec.job)
    guarded = spec.guarded()
    with DirectoryLock(out), DirectoryLock(out, guards=guarded) if guarded else contextlib.nullcontext():
        claim_folder(out, spec.job)  # again under the lock: another job may have finished meanwhile
        records = spec.source.records
        config, where, hint = spec.guard()
        start = resume(out, config, spec.tables(), spec.settings(), spec.overwrite, records, spec.labels,
                       where=where, hint=hint)
        spec = spec.after_resume(start)
        run = JobRun(spec, start, skips=list(spec.source.skips) + start.redone,
                     timings={"prepare": spec.prepared_s})
        windows = [w for w in ([r for r in w if r.name not in start.done]
                               for w in plan_windows(records, spec.window)) if w]
        t_run = time.perf_counter()
        outcomes = []
        for outcome in executor.run(build, spec, windows, out, gpu=spec.compute.gpu, progress=spec.progress,
                                    desc=desc or spec.job):
            for skip in outcome.skips:
                tqdm.write(f"skipped {skip}")
            outcomes.append(outcome)
        for outcome in sorted(outcomes, key=lambda o: o.first_index):
            run.add(outcome)
        run.timings["run"] = time.perf_counter() - t_run
        t_fin = time.perf_counter()
        extra = spec.finalize(run)
        run.timings["finalize"] = time.perf_counter() - t_fin
        run.timings["total"] = time.perf_counter() - t0
        path = write_manifest(out, spec.job, spec.params(run), spec.compute.model.describe(), run.counts,
                              run.timings, run.skips, extra=extra)
        run.manifest = json.loads(path.read_text())
    return run


def executor_of(executor: Executor | ExecutorKind | str | None, address: str | None = None) -> Executor:
    """The executor a job runs its windows on: ``None`` / ``local`` -> this process; ``ray`` -> a
    :class:`~yololens.engine.ray_executor.RayExecutor` on the cluster at ``address`` (None: local Ray); an
    executor object as given."""
    if executor is None:
        return LOCAL
    if not isinstance(executor, str):
        return executor
    try:
        kind = ExecutorKind(executor)
    except ValueError:
        raise InputError(f"--executor must be local or ray, not {executor!r}") from None
    if kind is ExecutorKind.RAY:
        return RayExecutor(address)
    return LOCAL
