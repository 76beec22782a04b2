"""``build_report``: run the pipeline on a model and a source and write ``OUT/index.html``.

Folder layout (everything linked relatively, so the folder can be copied and opened offline)::

    OUT/index.html        the report
    OUT/report.json       the run manifest: model hash, versions, parameters, per-phase timings, skips
    OUT/extract/          `yololens extract` output (objects.parquet, crops/, manifest.json), plus
                          projections/ and figures/ (`yololens plot`) and stages.* (`yololens stages`)
    OUT/maps/             `yololens maps` output for --max-images images spread over the source
    OUT/seg/              seg models: `yololens protos` output and the coefficient report

Each phase prints one line when it starts and one when it ends (with its time); the underlying jobs
show their own tqdm bars. A section that fails is reported in the page and in ``report.json`` (and
makes the CLI exit with 1) instead of stopping the whole report.
"""

from __future__ import annotations

import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from yololens import reprs
from yololens.errors import InputError, OutputLockedError
from yololens.model.loading import as_model
from yololens.report.context import Context, ReportOptions, Section, model_line
from yololens.report.sections import EXTRACT, RUN_ORDER, SECTIONS, SectionSpec
from yololens.sources.resolve import as_source
from yololens.types import Method, ReportBoxMode, SectionStatus

REPORT_JSON = "report.json"
INDEX = "index.html"


@dataclass
class ReportResult:
    """What :func:`build_report` wrote.

    out: the report folder; index: ``out/index.html``; sections: key -> :class:`Section`;
    manifest: the content of ``out/report.json``; skips: skipped inputs (one line each);
    untrained: the model has random weights; seconds: wall time.
    """

    out: Path
    index: Path
    sections: dict[str, Section]
    manifest: dict
    skips: list = field(default_factory=list)
    untrained: bool = False
    seconds: float = 0.0

    @property
    def failed(self) -> list[str]:
        return [k for k, s in self.sections.items() if s.status == SectionStatus.FAILED]

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for s in self.sections.values():
            counts[s.status] = counts.get(s.status, 0) + 1
        parts = ", ".join(f"{n} {k}" for k, n in counts.items())
        n_obj = self.manifest.get("counts", {}).get("objects")
        obj = f", {n_obj} objects" if n_obj is not None else ""
        return f"report: {len(self.sections)} sections ({parts}){obj}, {len(self.skips)} skipped inputs, " \
               f"{self.seconds:.1f} s -> {self.index}"

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:  # the link to the page and each section's status
        rows = [{"section": s.title, "status": str(s.status)} for s in self.sections.values()]
        return reprs.block("yololens report", reprs.link(self.index, f"open {self.index}"),
                           reprs.table_html(rows, ["section", "status"]), self.summary())


class PhaseLog:
    """One line per phase on stderr: ``[3/8] extract: ...`` when it starts, ``... done (4.2 s)`` at the end."""

    def __init__(self, total: int, enabled: bool = True, stream=None):
        self.total, self.i, self.enabled = total, 0, enabled
        self.stream = stream or sys.stderr

    def write(self, msg: str) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        tqdm.write(msg, file=self.stream)
        self.stream.flush()

    def start(self, name: str, what: str) -> float:
        self.i += 1
        self.write(f"[{self.i}/{self.total}] {name}: {what}")
        return time.perf_counter()

    def end(self, name: str, t0: float, result: str = "done") -> float:
        dt = time.perf_counter() - t0
        self.write(f"      {name}: {result} ({dt:.1f} s)")
        return dt


def build_report(
    model=None,
    source=None,
    labels=None,
    *,
    out="yololens-report",
    source_format: str | None = None,
    layers=None,
    map_layers=None,
    max_images: int = 3,
    boxes: ReportBoxMode | str = ReportBoxMode.AUTO,
    conf: float = 0.25,
    iou: float = 0.7,
    max_det: int = 300,
    imgsz: int = 640,
    batch: int = 8,
    device: str | None = None,
    method: Method | str = Method.TSNE,
    sample: int | None = 2000,
    seed: int = 0,
    hover_thumbnails: int = 500,
    seg_instances: int = 2,
    sections=SECTIONS,
    overwrite: bool = False,
    progress: bool = True,
    workers: int = 2,
    class_map=None,
    backend: str = "auto",
    threads: int = 0,
    title: str | None = None,
    notes=(),
) -> ReportResult:
    """Run the yololens pipeline on ``model`` and ``source`` and write the report ``out/index.html``.

    Args:
        model: checkpoint path, model yaml (untrained), official name, ``YOLO`` object or
            :class:`~yololens.model.loading.LoadedModel`; ``None``: ``$YOLOLENS_MODEL``, else ``yolov8n-seg.pt``.
        source, labels, source_format: as for ``yololens extract`` (image, folder, list, data.yaml; BDD/COCO/YOLO
            labels), or a :class:`~yololens.sources.records.Source`.
        layers: embedding layers (default SPPF + the neck outputs feeding the head).
        map_layers: layers of the feature-map figures (default: the last backbone layer at strides 4, 8
            and 16, then the embedding layers).
        max_images: images shown as feature maps (spread over the source order) and seg decompositions (the first ones).
        boxes: ``auto`` (``both`` with labels, else ``pred``), ``pred``, ``gt`` or ``both``.
        conf, iou, max_det, imgsz, batch, device: inference settings as in Ultralytics predict.
        backend, threads: compute backend and inference threads of every model pass (as in extract).
        method: ``tsne`` (default), ``umap`` or ``pca`` for the 2-D maps; with fewer than 10 objects
            PCA is used (t-SNE needs more points than its perplexity). ``sample``: class-stratified cap
            on the objects projected (``None``: all). ``hover_thumbnails``: crops embedded for hovering.
        seg_instances: seg models: instances decomposed per shown image.
        class_map: as for ``yololens extract``: label name -> model name file (default: BDD100K -> COCO).
        sections: the sections to include (any of :data:`SECTIONS`); the manifest is always included.
        overwrite: discard earlier extract results in ``out`` instead of resuming them.
        title: the page title; notes: extra lines shown under the header (the demo explains its choices).

    Returns a :class:`ReportResult`; ``result.index`` is the page.
    """
    from yololens.report.manifest import manifest as report_manifest
    from yololens.report.render import render_report
    from yololens.store.atomic import remove_stale_temps, write_json, write_text
    from yololens.store.lock import DirectoryLock

    t_start = time.perf_counter()
    wanted = tuple(dict.fromkeys(_section_list(sections)))
    opts = ReportOptions(layers=layers, map_layers=map_layers, max_images=int(max_images), boxes=boxes, conf=conf,
                         iou=iou, max_det=max_det, imgsz=imgsz, batch=batch, method=method,
                         sample=sample if sample != 0 else None, seed=seed,
                         hover_thumbnails=hover_thumbnails, seg_instances=seg_instances, sections=wanted,
                         overwrite=overwrite, progress=progress, workers=workers, class_map=class_map,
                         backend=backend, threads=threads)
    opts.check(SECTIONS)
    out = Path(out)
    phases = 2 + 1 + sum(1 for s in SECTIONS if s in wanted) + 1  # model, source+extract, sections, html
    plog = PhaseLog(phases, enabled=progress)
    plog.write(f"yololens report -> {out}/{INDEX}")
    with DirectoryLock(out):
        remove_stale_temps(out)  # a killed report's .*.tmp.png: we hold the lock, no live writer owns them
        t0 = plog.start("model", _model_text(model))
        lm = as_model(model, device)
        ctx = Context(out=out, model=lm, opts=opts, log=plog.write, device=device)
        timings = {"model": plog.end("model", t0, model_line(lm))}

        t0 = plog.start("source", f"opening {source if not hasattr(source, 'records') else 'the given images'}")
        ctx.source = as_source(source, labels, source_format, exclude=out)
        ctx.labels = labels
        ctx.source_arg = str(source) if isinstance(source, (str, Path)) else None
        timings["source"] = plog.end("source", t0, f"{len(ctx.source)} images"
                                     + (f", {len(ctx.source.skips)} skipped" if ctx.source.skips else ""))

        t0 = plog.start(EXTRACT.key, EXTRACT.phase)
        extract_section = _run(EXTRACT, ctx, fatal=(InputError,))
        timings["extract"] = plog.end(EXTRACT.key, t0, extract_section.note or "done")

        results: dict[str, Section] = {}
        for spec in RUN_ORDER:  # the page shows them in SPECS order
            if spec.key not in wanted:
                results[spec.key] = Section(spec.key, spec.title, status=SectionStatus.OFF, note="switched off")
                continue
            t0 = plog.start(spec.key, spec.phase)
            section = _run(spec, ctx)
            ok = section.status == SectionStatus.OK
            section.seconds = plog.end(spec.key, t0, section.data.get("summary", "done") if ok else section.note)
            timings[spec.key] = section.seconds
            results[spec.key] = section
        results["extract"] = extract_section
        extract_section.seconds = timings["extract"]

        t0 = plog.start("html", f"writing {out / INDEX}")
        timings["total"] = time.perf_counter() - t_start
        manifest = report_manifest(ctx, results, timings, title, list(notes))
        write_json(out / REPORT_JSON, manifest)
        html = render_report(ctx, results, manifest, title=title, notes=list(notes))
        write_text(out / INDEX, html)
        plog.end("html", t0, f"{len(html) / 1e6:.1f} MB")
    seconds = time.perf_counter() - t_start
    result = ReportResult(out, out / INDEX, results, manifest, list(ctx.skips), not lm.trained, seconds)
    failed = result.failed
    if failed:
        plog.write(f"warning: section(s) failed: {', '.join(failed)} (see {out / REPORT_JSON})")
    return result


def _section_list(sections) -> list[str]:
    if sections is None:
        return list(SECTIONS)
    if isinstance(sections, str):
        return [s.strip() for s in sections.split(",") if s.strip()]
    return list(sections)


def _model_text(model) -> str:
    from yololens.model.loading import LoadedModel

    if isinstance(model, LoadedModel):
        return f"{model.source} (already loaded)"
    return f"loading {model if model is not None else 'the default model'}"


def _run(spec: SectionSpec, ctx: Context, fatal: tuple = ()) -> Section:
    """Run one section; a failure becomes a ``failed`` section (one line in the page, the traceback in
    ``report.json``).

    ``fatal``: exception types that stop the report instead (a bad option is the user's to fix)."""
    try:
        section = spec.run(ctx)
    except (KeyboardInterrupt, OutputLockedError, *fatal):
        raise
    except Exception as exc:  # one broken section must not cost the user the rest of the report
        section = Section.failed(exc, traceback.format_exc(limit=8))
        ctx.log(f"      {spec.key}: FAILED: {section.note}")
    section.key, section.title = spec.key, spec.title
    return section


__all__ = ["SECTIONS", "ReportOptions", "ReportResult", "Section", "build_report"]
