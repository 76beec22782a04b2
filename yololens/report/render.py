"""Render the report page from ``templates/report.html.j2`` (jinja2, autoescaped): the overview, then each
shown section's block (``templates/sections/<key>.html.j2``, named by its spec), then the manifest."""

from __future__ import annotations

from pathlib import Path

from yololens.report.sections import BY_KEY, SPECS
from yololens.types import SectionStatus, Task

TEMPLATE = "report.html.j2"
TEMPLATES = Path(__file__).with_name("templates")


def environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every value is escaped unless marked safe (bokeh's script/div, our own markup)
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["seconds"] = _seconds
    env.filters["show"] = _show
    return env


def _show(value) -> str:
    """A setting for people: lists as ``a, b``, ``None`` as a dash."""
    if value is None or value == []:
        return "–"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)


def _seconds(value) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return ""
    return f"{v:.1f} s" if v < 120 else f"{int(v // 60)} min {v % 60:.0f} s"


def render_report(ctx, sections: dict, manifest: dict, *, title: str | None = None, notes: list | None = None) -> str:
    """The page's HTML for the finished ``sections`` (see :mod:`yololens.report.sections`)."""
    from markupsafe import Markup

    lm = ctx.model
    model = manifest["model"]
    name = Path(model.get("path") or model.get("source") or "model").name
    projection = sections.get("projection")
    bokeh_head = ""
    if projection is not None and projection.status == SectionStatus.OK:
        from bokeh.resources import INLINE

        bokeh_head = Markup(INLINE.render())  # inlined, so the page works offline
        projection.data["script"] = Markup(projection.data["script"])
        projection.data["div"] = Markup(projection.data["div"])
    is_seg = lm.task == Task.SEGMENT
    shown = [sections[spec.key] for spec in SPECS if spec.key in sections and sections[spec.key].shown
             and not (spec.key == "seg" and not is_seg)]
    return environment().get_template(TEMPLATE).render(
        title=title or f"yololens report: {name}",
        model_name=name,
        notes=notes or [],
        untrained=not lm.trained,
        is_seg=is_seg,
        model=model,
        manifest=manifest,
        params=manifest["params"],
        counts=manifest["counts"],
        timings=manifest["timings_s"],
        versions=manifest["versions"],
        extract=sections.get("extract"),
        sections=sections,
        shown=shown,
        nav={spec.key: spec.nav for spec in SPECS},
        specs=BY_KEY,
        bokeh_head=bokeh_head,
    )
