"""Notebook display helpers shared by the result classes: short text reprs, inline HTML and PNG.

Jupyter calls ``_repr_html_`` / ``_repr_png_`` on the last value of a cell; each result class delegates to the
functions here (two lines per class), so every result looks the same and none prints a whole manifest or
every object id. Nothing here imports the rest of yololens (it sits with ``errors``/``types``).
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

#: Lists longer than this are cut in text reprs (``a, b, c, ... (+17 more)``).
MAX_ITEMS = 12


class Html(str):
    """Markup made by this module's builders from escaped pieces. :func:`block` inserts an ``Html`` part as it is
    and escapes every other string, so text from a run folder (class names, paths, notes) can never become markup
    by being passed in the wrong place. Concatenating gives a plain ``str`` again (escaped, not trusted)."""


def short_list(items: Iterable, limit: int = MAX_ITEMS) -> str:
    """``"a, b, c"``; longer lists end in ``... (+N more)``."""
    items = [str(x) for x in items]
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f", ... (+{len(items) - limit} more)"


def text(kind: str, headline: str, fields: Mapping[str, object] | None = None) -> str:
    """``Kind: headline`` followed by one indented ``name: value`` line per field (``None`` values left out)."""
    lines = [f"{kind}: {headline}"]
    for name, value in (fields or {}).items():
        if value is not None and value != "":
            lines.append(f"  {name}: {value}")
    return "\n".join(lines)


def table_fields(path: str | os.PathLike | None) -> dict[str, str]:
    """Repr fields of an objects table: its path, row count, scalar columns and embedding columns with their C.

    Read from the Parquet footer only (no data), so it is instant for millions of rows.
    """
    if path is None or not Path(path).is_file():
        return {"table": "none (no objects)"}
    import pyarrow as pa
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    schema = meta.schema.to_arrow_schema()
    emb = [f"{f.name} ({f.type.list_size})" if pa.types.is_fixed_size_list(f.type) else f.name
           for f in schema if f.name.startswith("emb_")]
    return {"table": f"{path} ({meta.num_rows:,} rows)",
            "columns": short_list(f.name for f in schema if not f.name.startswith("emb_")),
            "embeddings": short_list(emb) or "none"}


def png_bytes(path: str | os.PathLike | None) -> bytes | None:
    """The bytes of ``path`` when it is an existing ``.png`` file, else ``None`` (Jupyter then skips PNG)."""
    if path is None:
        return None
    p = Path(path)
    return p.read_bytes() if p.suffix.lower() == ".png" and p.is_file() else None


def img_tag(path: str | os.PathLike | None, width: str = "100%") -> Html:
    """An ``<img>`` with the PNG inlined as a data URI ("" when there is no PNG), so the notebook stays offline."""
    data = png_bytes(path)
    if data is None:
        return Html()
    return Html(f'<img style="max-width:{html.escape(width)}" alt="{html.escape(Path(path).name)}" '
                f'src="data:image/png;base64,{base64.b64encode(data).decode("ascii")}">')


def link(path: str | os.PathLike, label: str | None = None) -> Html:
    """A link to a local file (relative to the notebook's folder when it is below it, else absolute)."""
    p = Path(path)
    try:
        href = p.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        href = p.resolve().as_uri()
    return Html(f'<a href="{html.escape(href)}" target="_blank">{html.escape(label or str(p))}</a>')


def iframe(path: str | os.PathLike, min_height: int = 640) -> Html:
    """A written, self-contained HTML page shown inline (``srcdoc``), e.g. the bokeh scatter (JS inlined).

    The frame is as wide as the output and 85% of the window high (at least ``min_height`` px; drag its corner
    to resize): the page inside lays its panels out to that width and scrolls on its own, and the explorer's
    drawer stays in view. A note under it links the page itself, for a full window."""
    page = Path(path).read_text(encoding="utf-8")
    return Html(f'<iframe style="width:100%;height:85vh;min-height:{int(min_height)}px;border:1px solid #ddd;'
                f'resize:vertical" srcdoc="{html.escape(page, quote=True)}"></iframe>'
                f'<div style="font:12px sans-serif;color:#555">Full window: {link(path)}</div>')


def block(title: str, *parts: str | Html | None) -> Html:
    """One ``<div>``: a bold title and the given parts, one ``<div>`` each (empty parts left out). An
    :class:`Html` part (from :func:`img_tag`, :func:`link`, :func:`table_html` ...) is inserted as markup; any
    other string is text, escaped."""
    body = "".join(f"<div>{p if isinstance(p, Html) else html.escape(str(p))}</div>" for p in parts if p)
    return Html(f'<div class="yololens"><b>{html.escape(title)}</b>{body}</div>')


def table_html(rows: Iterable[Mapping[str, object]], columns: list[str]) -> Html:
    """A small HTML table of ``rows`` (dicts) restricted to ``columns``; floats printed with 3 decimals."""
    def cell(v) -> str:
        return f"{v:.3f}" if isinstance(v, float) else html.escape("" if v is None else str(v))

    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(r.get(c))}</td>" for c in columns) + "</tr>" for r in rows)
    return Html(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
