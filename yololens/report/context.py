"""What the report's sections share: the options, the :class:`Section` each returns, and the :class:`Context`
(the loaded model, the source, the extract job's result) they read.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from yololens.errors import InputError
from yololens.options import check_options
from yololens.types import BoxMode, Method, ReportBoxMode, SectionStatus, Task

if TYPE_CHECKING:
    from yololens.jobs.extract import ExtractResult
    from yololens.model.catalogue import LayerInfo
    from yololens.model.loading import LoadedModel
    from yololens.sources.records import Source

EXTRACT_DIR, MAPS_DIR, SEG_DIR = "extract", "maps", "seg"
LABEL = "class_name"
NOTE_CHARS = 200  # a failed section's note in the page: one line (the full error is in report.json)


@dataclass
class ReportOptions:
    """Every setting of one report (see :func:`~yololens.report.build.build_report` for their meaning)."""

    layers: object = None
    map_layers: object = None
    max_images: int = 3
    boxes: ReportBoxMode = ReportBoxMode.AUTO
    conf: float = 0.25
    iou: float = 0.7
    max_det: int = 300
    imgsz: int = 640
    batch: int = 8
    method: Method = Method.TSNE
    sample: int | None = 2000
    seed: int = 0
    hover_thumbnails: int = 500
    seg_instances: int = 2
    sections: tuple[str, ...] = ()
    overwrite: bool = False
    progress: bool = True
    workers: int = 2
    class_map: object = None  # --class-map FILE for matching predictions to labels (None: the shipped map)
    backend: str = "auto"  # compute backend of every model pass (as in extract)
    threads: int = 0

    def check(self, known_sections: tuple[str, ...]) -> None:
        """Coerce the enum options (the API takes plain strings too) and refuse bad values."""
        self.boxes = _choice(ReportBoxMode, self.boxes, "--boxes")
        self.method = _choice(Method, self.method, "--method")
        check_options(imgsz=self.imgsz, batch=self.batch, conf=self.conf, iou=self.iou, max_det=self.max_det,
                      seed=self.seed, sample=self.sample, hover_thumbnails=self.hover_thumbnails,
                      workers=self.workers)
        if self.max_images < 1:
            raise InputError(f"--max-images must be at least 1, not {self.max_images}")
        if self.seg_instances < 0:
            raise InputError(f"--seg-instances must be >= 0, not {self.seg_instances}")
        unknown = [s for s in self.sections if s not in known_sections]
        if unknown:
            raise InputError(f"unknown report section(s) {', '.join(unknown)}; sections: {', '.join(known_sections)}")


def _choice(enum: type, value, option: str):
    try:
        return enum(value)
    except ValueError:
        raise InputError(f"{option} must be one of {', '.join(enum)}, not {value!r}") from None


@dataclass
class Section:
    """One part of the report; ``key`` and ``title`` come from its :class:`~yololens.report.sections.SectionSpec`.

    status: see :class:`~yololens.types.SectionStatus` (``note`` says why a section was skipped, or the error in
    one line when it failed; ``error``: the full traceback, kept for ``report.json`` only). ``data``: what the
    section's template block shows.
    """

    key: str = ""
    title: str = ""
    status: SectionStatus = SectionStatus.OK
    note: str | None = None
    data: dict = field(default_factory=dict)
    seconds: float = 0.0
    command: str | None = None
    error: str | None = None

    @property
    def shown(self) -> bool:
        return self.status != SectionStatus.OFF

    def summary(self) -> dict:
        """The section in ``report.json``."""
        d = {"status": str(self.status), "note": self.note, "seconds": round(self.seconds, 3), "command": self.command}
        if self.error:
            d["traceback"] = self.error
        return d

    @classmethod
    def failed(cls, exc: BaseException, traceback: str) -> Section:
        """A failed section: the error's first line (at most :data:`NOTE_CHARS`) and the traceback apart."""
        text = str(exc).strip()
        line = text.splitlines()[0] if text else type(exc).__name__
        if len(line) > NOTE_CHARS:
            line = line[: NOTE_CHARS - 1] + "…"
        return cls(status=SectionStatus.FAILED, note=f"{type(exc).__name__}: {line}", error=traceback)


@dataclass
class Context:
    """What the sections share: the loaded model, the source, the options and the extract job's result."""

    out: Path
    model: LoadedModel
    opts: ReportOptions
    log: object = print
    device: str | None = None
    source: Source | None = None
    labels: object = None
    source_arg: str | None = None
    boxes: BoxMode = BoxMode.PRED
    layer_ids: list = field(default_factory=list)
    extract: ExtractResult | None = None
    n_objects: int = 0
    skips: list = field(default_factory=list)
    _catalogue: list | None = None

    @property
    def extract_dir(self) -> Path:
        return self.out / EXTRACT_DIR

    @property
    def is_seg(self) -> bool:
        return self.model.task == Task.SEGMENT

    def rel(self, path: str | os.PathLike) -> str:
        """``path`` relative to the report folder, with forward slashes (for href/src)."""
        return Path(os.path.relpath(Path(path), self.out)).as_posix()

    def catalogue(self) -> list[LayerInfo]:
        if self._catalogue is None:
            from yololens.model.catalogue import build_catalogue

            self._catalogue = build_catalogue(self.model, imgsz=self.opts.imgsz)
        return self._catalogue

    def model_arg(self) -> str:
        return shlex.quote(str(self.model.path or self.model.source))

    def source_args(self) -> str:
        src = self.source_arg
        if src is None:
            return "--source IMAGES"
        text = f"--source {shlex.quote(str(src))}"
        return text + (f" --labels {shlex.quote(str(self.labels))}" if self.labels else "")

    def spread_images(self) -> Source:
        """``--max-images`` images spread over the source order (the first, the last, evenly between), so a
        folder of video frames shows different scenes, not three consecutive frames (the maps section)."""
        from yololens.sources.records import Source

        recs = self.source.records
        return Source([recs[i] for i in spread_indices(len(recs), self.opts.max_images)], format=self.source.format)

    def first_images(self) -> Source:
        """The first ``--max-images`` images of the source (the feature-map and seg figures show these)."""
        from yololens.sources.records import Source

        return Source(list(self.source.records[: self.opts.max_images]), format=self.source.format)

    def no_objects(self) -> Section | None:
        """A ``skipped`` section when extract produced no objects (or failed), else None."""
        if self.extract is None:
            return Section(status=SectionStatus.SKIPPED, note="the extract step failed, so there are no objects")
        if self.n_objects == 0:
            why = (" (untrained weights score every box near zero; lower --conf to see the plumbing)"
                   if not self.model.trained else "; lower --conf or use more images")
            return Section(status=SectionStatus.SKIPPED,
                           note=f"the model detected no objects at confidence {self.opts.conf:g}{why}")
        return None


def model_line(lm: LoadedModel) -> str:
    weights = "trained weights" if lm.trained else "UNTRAINED weights (random)"
    return f"{lm.source}: {lm.task}, {lm.family}, {lm.nc} classes, {weights}, on {lm.device}"


def spread_indices(n: int, k: int) -> list[int]:
    """``min(n, k)`` indices into ``n`` items, evenly spread from the first to the last (sorted, distinct)."""
    if n <= k:
        return list(range(n))
    if k <= 1:
        return [0]
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})
