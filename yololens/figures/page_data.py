"""What several of the explorer's callbacks read, held once in the document.

Bokeh serializes a plain list, dict or array into *every* ``CustomJS`` that takes it as an argument, while a
model is serialized once and passed by reference. At 1.8M objects (150k points drawn, 80k image names) the
image-name table alone was written four times (8 MB of a 27.5 MB page), and with several stages each panel's
click handler carried every stage's neighbour table. Imported lazily: it imports bokeh.
"""

from __future__ import annotations

from bokeh.core.properties import Any, Dict, List, String
from bokeh.model import DataModel


class PageData(DataModel):
    """``names``: ``{column: [value, ...]}`` lookup tables of the ``h__<column>`` codes; ``nn``: per stage the
    ``(N * k,)`` int32 neighbour rows; ``stages``: their labels; ``uris``: embedded whole images (data URIs);
    ``imw``/``imh``: ``(n_images,)`` float32 image sizes in original pixels, indexed by the ``h__image`` code;
    ``colour``: the column the points are coloured by now (their codes are ``c__<colour>``); ``dist``: per stage
    the ``(N * k,)`` uint8 cosine distances of ``nn`` (value / 127.5); ``file_root``: the ``file:`` URI of the
    folder holding the original images (``root + name``), ``files``: ``{image name: file URI}`` where not;
    ``embedded``: ``(n_images,)`` int32 index into ``uris`` per ``h__image`` code (``-1``: no copy)."""

    names = Dict(String, List(String))
    nn = List(Any())
    stages = List(String)
    uris = List(String)
    imw = Any()
    imh = Any()
    colour = String()
    dist = List(Any())
    embedded = Any()
    files = Dict(String, String)
    file_root = String()
