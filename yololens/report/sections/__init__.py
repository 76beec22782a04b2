"""The report's sections: one registry of :class:`SectionSpec` (key, title, job, template block).

Each section runs one yololens job and returns a :class:`~yololens.report.context.Section` with what its
template block (``templates/sections/<key>.html.j2``) shows. No analysis lives here: the sections only choose
settings that suit the data at hand (e.g. a t-SNE perplexity for a handful of objects) and turn the jobs'
results into paths relative to the report folder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from yololens.report.context import Context, Section
from yololens.report.sections.catalogue import run_catalogue
from yololens.report.sections.extract import run_extract
from yololens.report.sections.maps import run_maps
from yololens.report.sections.projection import run_projection
from yololens.report.sections.seg import run_seg
from yololens.report.sections.similarity import run_similarity
from yololens.report.sections.stages import run_stages
from yololens.report.sections.suspects import run_suspects


@dataclass(frozen=True)
class SectionSpec:
    """One section of the page: ``run`` is the job it calls; ``phase``: the progress line while it runs;
    ``nav``: its link text; ``block``: its template (None: not a card of its own)."""

    key: str
    title: str
    run: Callable[[Context], Section]
    phase: str = ""
    nav: str = ""
    block: str | None = None


def _spec(key: str, title: str, run, phase: str, nav: str) -> SectionSpec:
    return SectionSpec(key, title, run, phase, nav, f"sections/{key}.html.j2")


#: The extract step: every other section reads its objects; shown in the overview, not as a card.
EXTRACT = SectionSpec("extract", "Object embeddings", run_extract, "object embeddings (yololens extract)")

#: The switchable sections, in page order.
SPECS: tuple[SectionSpec, ...] = (
    _spec("catalogue", "Layer catalogue", run_catalogue, "layer catalogue (yololens layers)", "Layers"),
    _spec("maps", "Stage feature maps", run_maps, "stage feature maps (yololens maps)", "Feature maps"),
    _spec("projection", "Objects in 2-D, per stage", run_projection,
          "2-D maps of the object embeddings (yololens plot)", "Objects in 2-D"),
    _spec("stages", "Which stage separates the classes best?", run_stages, "stage report (yololens stages)",
          "Best stage"),
    _spec("similarity", "How alike are the stages?", run_similarity, "stage similarity (yololens similarity)",
          "Stage similarity"),
    _spec("suspects", "Which labels are probably wrong?", run_suspects, "label-error suspects (yololens suspects)",
          "Suspects"),
    _spec("seg", "Seg internals: prototypes × coefficients", run_seg,
          "mask prototypes and coefficients (yololens protos, coef-report)", "Masks: prototypes × coefficients"),
)
SECTIONS: tuple[str, ...] = tuple(s.key for s in SPECS)
BY_KEY: dict[str, SectionSpec] = {s.key: s for s in (EXTRACT, *SPECS)}
#: The order the sections run in: the page order, except that ``suspects`` runs first so that the 2-D maps
#: (``projection``) carry its scores and the ranked "Suspects" panel (both read the extract's ``suspects.parquet``).
RUN_ORDER: tuple[SectionSpec, ...] = (BY_KEY["suspects"], *(s for s in SPECS if s.key != "suspects"))

__all__ = ["BY_KEY", "EXTRACT", "RUN_ORDER", "SECTIONS", "SPECS", "SectionSpec"]
