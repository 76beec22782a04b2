"""The HTML report: one command that runs the pipeline and writes ``OUT/index.html``.

:func:`build_report` composes the existing jobs (layer catalogue, ``extract``, ``maps``,
``project``/``plot``, ``stages``, and for seg models ``protos`` and the coefficient report) and
renders their outputs with a jinja2 template into one self-contained folder (relative links only,
bokeh inlined, so it opens offline from a copy).
"""

from __future__ import annotations

from yololens.report.build import ReportResult, build_report
from yololens.report.sections import SECTIONS

__all__ = ["SECTIONS", "ReportResult", "build_report"]
