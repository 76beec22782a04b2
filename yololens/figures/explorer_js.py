"""The explorer's browser code, read from the ``.js`` files in ``yololens/figures/js`` (package data).

The explorer is one bokeh ``CustomJS`` (every widget, panel and the document's ready event call it, so its code is
written into the page once): :data:`FILES` concatenated in order. Each file's header says what it holds; the
names every part shares are listed in ``util.js``. ``tests/test_figures_explorer_js.py`` checks the body with
``node --check`` where Node is installed; the browser tests run it.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

FILES = ("util.js", "filters.js", "panel.js", "actions.js", "suspects.js", "app.js")


@cache
def source(name: str) -> str:
    """The text of one ``.js`` file of the package."""
    return resources.files("yololens.figures").joinpath("js", name).read_text(encoding="utf-8")


def explorer_code() -> str:
    """The ``CustomJS`` body of the explorer (a function body: ``cb_obj`` and the arguments are in scope)."""
    return "\n".join(source(f) for f in FILES)
