"""Core types: the option enums compare equal to their strings; LayerId prints one way everywhere."""

from __future__ import annotations

import json

import pytest

from yololens.types import PROTO, BoxMode, CoefLayout, LayerId, Method, Origin, ReportBoxMode, SectionStatus, Task


def test_enums_are_their_strings():
    assert BoxMode.BOTH == "both" and f"{Method.TSNE}" == "tsne" and json.dumps([Origin.GT]) == '["gt"]'
    assert {"tsne": 1}[Method.TSNE] == 1  # same hash as the string: dict keys written as strings still match
    assert [m.value for m in ReportBoxMode] == ["auto", *[m.value for m in BoxMode]]
    assert Task("segment") is Task.SEGMENT and CoefLayout("seed") is CoefLayout.SEED
    assert SectionStatus("failed") is SectionStatus.FAILED
    with pytest.raises(ValueError):
        Method("tsnee")


@pytest.mark.parametrize("value, index, text", [(9, 9, "L9"), ("9", 9, "L9"), ("L15", 15, "L15"), ("l4", 4, "L4"),
                                                ("proto", None, "proto"), (" PROTO ", None, "proto")])
def test_layer_id(value, index, text):
    layer = LayerId.of(value)
    assert layer.index == index and str(layer) == text and LayerId.of(layer) is layer
    assert layer.value == (PROTO if index is None else index) and layer.is_proto == (index is None)


def test_layer_id_rejects_names():
    with pytest.raises(ValueError):
        LayerId.of("sppf")  # aliases are the catalogue's to resolve (model.catalogue.resolve_layers)
