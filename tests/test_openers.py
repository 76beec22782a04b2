"""The one source opener and the one model opener that every job uses."""

from __future__ import annotations

import pytest

from yololens.errors import InputError
from yololens.model.loading import as_model, load_model
from yololens.sources.records import Source
from yololens.sources.resolve import as_source


def test_as_source_names_list_images_as_passed(assets):
    paths = [assets / "zidane.jpg", str(assets / "bus.jpg")]
    src = as_source(paths)
    assert src.format == "list" and [r.name for r in src.records] == [str(p) for p in paths]
    assert [r.index for r in src.records] == [0, 1] and as_source(src) is src
    folder = as_source(str(assets))
    assert isinstance(folder, Source) and "bus.jpg" in [r.name for r in folder.records]
    with pytest.raises(InputError, match="no --source given"):
        as_source(None)


def test_as_model_takes_a_loaded_model_as_given():
    lm = load_model("yolov8n.yaml", device="cpu")
    assert as_model(lm) is lm
    other = as_model("yolov8n.yaml", device="cpu")
    assert other is not lm and other.task == "detect" and other.family == lm.family
