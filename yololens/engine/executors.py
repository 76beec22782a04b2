"""The executor seam: what runs a resumable job's windows.

An executor takes the full source order, the images already done, and the window / batch plan, and yields one
:class:`~yololens.engine.windows.BatchStep` per batch, in plan order, marking each window's last batch (the job
then writes that window's durable part). One implementation today, :class:`LocalExecutor` (in-process, decoding
on background threads); a distributed executor plugs in here.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from yololens.engine.runner import Runner
from yololens.engine.windows import BatchStep, run_windows
from yololens.sources.records import ImageRecord, Skip


class Executor(Protocol):
    """Runs the windows of a job (see :func:`~yololens.engine.windows.run_windows` for the arguments)."""

    def run(self, runner: Runner, records: Sequence[ImageRecord], done: Container[str], *, batch: int, window: int,
            workers: int, progress: bool, desc: str, on_skip: Callable[[Skip], None] | None,
            decode: Callable[[ImageRecord], np.ndarray] | None) -> Iterator[BatchStep]: ...


@dataclass(frozen=True)
class LocalExecutor:
    """This process: the shared window loop of :mod:`yololens.engine.windows`."""

    def run(self, runner: Runner, records: Sequence[ImageRecord], done: Container[str] = (), *, batch: int,
            window: int, workers: int = 2, progress: bool = True, desc: str = "images",
            on_skip: Callable[[Skip], None] | None = None,
            decode: Callable[[ImageRecord], np.ndarray] | None = None) -> Iterator[BatchStep]:
        return run_windows(runner, records, done, batch=batch, window=window, workers=workers, progress=progress,
                           desc=desc, on_skip=on_skip, decode=decode)


LOCAL = LocalExecutor()
