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


def test_estimate_reads_stage_table_cells():
    """The one reader of ``<m>``/``<m>_lo``/``<m>_hi``: a NaN or absent bound means no interval."""
    import numpy as np
    import pandas as pd

    from yololens.analysis.metrics import Estimate

    df = pd.DataFrame({"knn_acc": [0.8, 0.6], "knn_acc_lo": [0.7, float("nan")], "knn_acc_hi": [0.9, 0.65]})
    e = Estimate.of(df.iloc[0], "knn_acc")
    assert (e.value, e.lo, e.hi, e.has_interval) == (0.8, 0.7, 0.9, True)
    assert not Estimate.of(df.iloc[1], "knn_acc").has_interval
    none = Estimate.of({"db": None}, "db")
    assert np.isnan(none.value) and not none.has_interval
    v, lo, hi = Estimate.columns(df, "knn_acc")
    assert v.tolist() == [0.8, 0.6] and np.isnan(lo[1]) and hi.tolist() == [0.9, 0.65]
    assert np.isnan(Estimate.columns(df, "silhouette")[0]).all()
