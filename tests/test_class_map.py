"""Class maps as data: --class-map FILE, the shipped BDD100K -> COCO map, and matching through them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from yololens.engine.matching import (
    DEFAULT_MAP_NAME,
    ClassMap,
    default_class_map,
    load_class_map,
    match,
    matched_pairs,
)
from yololens.errors import InputError

COCO_SOME = ["person", "bicycle", "car", "motorcycle", "bus", "truck", "traffic light"]


def test_default_map_is_the_shipped_file():
    cmap = default_class_map()
    assert cmap.name == DEFAULT_MAP_NAME
    assert cmap.model_name("pedestrian") == "person" and cmap.model_name("rider") == "person"
    assert cmap.model_name("Traffic_Light") == "traffic light"  # absent names match themselves
    assert cmap.model_name("traffic sign") == "traffic sign"
    assert load_class_map(None).pairs == cmap.pairs


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_user_map_yaml_or_json_many_to_one(tmp_path, suffix):
    pairs = {"pedestrian": "person", "rider": "person", "van": "car"}
    path = tmp_path / f"map{suffix}"
    path.write_text(json.dumps(pairs) if suffix == ".json" else "".join(f"{k}: {v}\n" for k, v in pairs.items()))
    cmap = load_class_map(path, COCO_SOME, ["pedestrian", "rider", "van", "car"])
    assert cmap.pairs == pairs and cmap.name == str(path)
    assert cmap.model_name("van") == "car"


def test_unknown_names_in_a_map_are_errors_naming_them(tmp_path):
    path = tmp_path / "map.yaml"
    path.write_text("pedestrian: persn\n")
    with pytest.raises(InputError, match="'persn' is not a model class"):
        load_class_map(path, COCO_SOME)
    path.write_text("pedestrain: person\n")
    with pytest.raises(InputError, match="'pedestrain' is not a label class"):
        load_class_map(path, COCO_SOME, ["pedestrian", "car"])
    path.write_text("- a\n- b\n")
    with pytest.raises(InputError, match="mapping of label name -> model name"):
        load_class_map(path)
    path.write_text("a: [b\n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_class_map(path)


def test_matching_goes_through_the_map():
    gt = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)
    pred = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)
    scores = np.array([0.9, 0.8])
    default = match(pred, scores, ["person", "truck"], gt, ["pedestrian", "van"])
    assert default.pred_to_gt.tolist() == [0, -1]  # van is no truck in the default map
    custom = match(pred, scores, ["person", "truck"], gt, ["pedestrian", "van"],
                   class_map=ClassMap({"van": "truck"}, "mine"))
    assert custom.pred_to_gt.tolist() == [-1, 1]  # the user's map replaces the default: pedestrian is itself
    assert matched_pairs(["van", "car", "car"], ["truck", "car", "car"]) == {"car -> car": 2, "van -> truck": 1}


def test_extract_uses_and_records_the_class_map(bdd_detect, det_weights, tmp_path):
    from yololens.jobs.extract import extract

    src, labels = str(bdd_detect / "images"), str(bdd_detect / "labels" / "annotation.json")
    res = extract(str(det_weights), src, labels, out=tmp_path / "a", boxes="both", layers=[9], progress=False)
    t = res.to_pandas()
    n_tp = int(((t.origin == "pred") & (t.status == "TP")).sum())
    assert n_tp >= 1 and res.manifest["class_map"]["name"] == DEFAULT_MAP_NAME
    assert res.manifest["class_map"]["matched"] == {"car -> car": n_tp}
    # a map that sends BDD cars to COCO trucks: no car matches a car any more
    path = tmp_path / "map.yaml"
    path.write_text("car: truck\n")
    res2 = extract(str(det_weights), src, labels, out=tmp_path / "b", boxes="both", layers=[9], class_map=path,
                   progress=False)
    t2 = res2.to_pandas()
    assert not ((t2.origin == "pred") & (t2.class_name == "car") & (t2.status == "TP")).any()
    assert res2.manifest["class_map"]["name"] == str(path) and res2.manifest["params"]["class_map"]["pairs"] == {
        "car": "truck"}
    path.write_text("car: lorry\n")
    with pytest.raises(InputError, match="'lorry' is not a model class"):
        extract(str(det_weights), src, labels, out=tmp_path / "c", boxes="both", layers=[9], class_map=path,
                progress=False)
