"""The executor seam: what runs a resumable job's windows.

One contract for every executor. A job gives a picklable *spec* and a *build* function; the executor calls
``build(spec)`` once per worker (model, runner, pooling: the costly part), then ``work(window)`` once per
window. A window is a list of consecutive source records (:func:`~yololens.engine.batching.plan_windows`,
minus those already done); ``work`` writes the window's durable part itself and returns a
:class:`WindowOutcome`. :class:`LocalExecutor` runs this in the calling process;
:class:`~yololens.engine.ray_executor.RayExecutor` on Ray actors. A job never knows which one runs it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from tqdm.auto import tqdm

from yololens.sources.records import ImageRecord, Skip

Window = list[ImageRecord]
S = TypeVar("S")


@dataclass
class WindowOutcome:
    """What one window did.

    Attributes:
        first_index: the window's first record's source index (outcomes are merged in this order).
        keys: image keys done (their rows are in the window's part).
        rows: rows written.
        skips: inputs skipped in this window.
        facts: what the window learned about the run (extract: ``{"dims": {column: C}, "strides": {layer: s}}``),
            merged over windows with ``dict.update`` per key.
    """

    first_index: int
    keys: list[str] = field(default_factory=list)
    rows: int = 0
    skips: list[Skip] = field(default_factory=list)
    facts: dict[str, dict] = field(default_factory=dict)


WindowWork = Callable[[Window], WindowOutcome]
Build = Callable[[S], WindowWork]


class Executor(Protocol):
    """Runs ``build(spec)`` once per worker and its work on every window; yields outcomes as they finish."""

    def run(self, build: Build, spec: S, windows: Sequence[Window], out: Path, *, gpu: bool = False,
            progress: bool = True, desc: str = "images") -> Iterator[WindowOutcome]: ...


@dataclass(frozen=True)
class LocalExecutor:
    """This process: one worker, the windows in order."""

    def run(self, build: Build, spec: S, windows: Sequence[Window], out: Path, *, gpu: bool = False,
            progress: bool = True, desc: str = "images") -> Iterator[WindowOutcome]:
        bar = tqdm(total=sum(len(w) for w in windows), unit="img", desc=desc, disable=not progress,
                   dynamic_ncols=True)
        try:
            work = build(spec) if windows else None
            for window in windows:
                outcome = work(window)
                bar.update(len(window))
                yield outcome
        finally:
            bar.close()


LOCAL = LocalExecutor()

