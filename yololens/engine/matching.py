"""Match predictions to ground truth by IoU (greedy by score, class-aware through a class map).

Label vocabularies differ from the model's (BDD says ``pedestrian``, COCO says ``person``). A
:class:`ClassMap` says which label name matches which model name: a YAML or JSON mapping
``label name -> model name`` (many-to-one allowed; ``--class-map FILE``). Without one, the shipped
BDD100K -> COCO map (``engine/class_maps/bdd100k_coco.yaml``) is used. Names are compared
case-insensitively with ``_`` read as a space; a name absent from the map matches itself.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from yololens.errors import InputError
from yololens.sources.common import read_text_file
from yololens.types import Origin

DEFAULT_MAP_FILE = "bdd100k_coco.yaml"
DEFAULT_MAP_NAME = "default (BDD100K -> COCO)"


def normalise_name(name: str | None) -> str:
    """``"Traffic_Light " -> "traffic light"``: the form names are compared in."""
    return (name or "").strip().lower().replace("_", " ")


@dataclass(frozen=True)
class ClassMap:
    """Label name -> model name, both normalised (see :func:`normalise_name`).

    Attributes:
        pairs: the map's entries.
        name: where it came from (the file as given, or :data:`DEFAULT_MAP_NAME`).
    """

    pairs: dict[str, str] = field(default_factory=dict)
    name: str = DEFAULT_MAP_NAME

    def model_name(self, label: str | None) -> str:
        """The model class a label name matches (itself when the map does not name it)."""
        key = normalise_name(label)
        return self.pairs.get(key, key)

    def describe(self) -> dict:
        """JSON-ready ``{"name", "pairs"}`` for manifests and run settings."""
        return {"name": self.name, "pairs": dict(sorted(self.pairs.items()))}


def default_class_map() -> ClassMap:
    """The shipped BDD100K -> COCO map."""
    text = resources.files("yololens.engine.class_maps").joinpath(DEFAULT_MAP_FILE).read_text()
    return ClassMap(_parse_pairs(_load_text(text, DEFAULT_MAP_FILE, yaml=True), DEFAULT_MAP_FILE), DEFAULT_MAP_NAME)


def load_class_map(path: str | Path | None, model_names: Iterable[str] | None = None,
                   label_names: Iterable[str] | None = None) -> ClassMap:
    """Read ``--class-map FILE`` (YAML or JSON ``{label name: model name}``); ``None``: the default map.

    ``model_names`` / ``label_names``: when given, every target / key of a user's map must be one of them
    (an :class:`InputError` names the first unknown one). The default map is not checked: it is meant
    for any BDD subset and COCO-like model.
    """
    if path is None:
        return default_class_map()
    file = Path(path)
    text = read_text_file(file, "class map")
    pairs = _parse_pairs(_load_text(text, str(path), yaml=file.suffix.lower() in (".yaml", ".yml")), str(path))
    for names, side, values in ((model_names, "model class", pairs.values()), (label_names, "label class", pairs)):
        if names is None:
            continue
        known = {normalise_name(n) for n in names}
        unknown = sorted({v for v in values if v not in known})
        if unknown and known:
            raise InputError(f"{path}: {unknown[0]!r} is not a {side} (known: {', '.join(sorted(known)[:12])}"
                             f"{', ...' if len(known) > 12 else ''})")
    return ClassMap(pairs, str(path))


def _load_text(text: str, where: str, yaml: bool) -> object:
    import yaml as _yaml

    try:
        return _yaml.safe_load(text) if yaml else json.loads(text)
    except (ValueError, _yaml.YAMLError) as exc:
        kind = "YAML" if yaml else "JSON"
        raise InputError(f"{where}: not valid {kind} ({' '.join(str(exc).split())[:200]})") from None


def _parse_pairs(data: object, where: str) -> dict[str, str]:
    if not isinstance(data, Mapping) or not data:
        raise InputError(f"{where}: a class map must be a non-empty mapping of label name -> model name")
    pairs: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not isinstance(value, str) or not key.strip() or not value.strip():
            raise InputError(f"{where}: entry {key!r}: {value!r} is not a 'label name: model name' pair of names")
        pairs[normalise_name(key)] = normalise_name(value)
    return pairs


def canonical_class(name: str | None, class_map: ClassMap | None = None) -> str:
    """The model-side name a label or model class name is compared as."""
    return (class_map or default_class_map()).model_name(name)


@dataclass(frozen=True)
class MatchResult:
    """For ``P`` predictions and ``G`` ground-truth boxes.

    Attributes:
        pred_to_gt: ``(P,)`` index of the matched gt, or -1.
        gt_to_pred: ``(G,)`` index of the matched prediction, or -1.
        iou: ``(P,)`` IoU with the matched gt (NaN when unmatched).
    """

    pred_to_gt: np.ndarray
    gt_to_pred: np.ndarray
    iou: np.ndarray


def match(pred_boxes: np.ndarray, pred_scores: np.ndarray, pred_classes: list[str],
          gt_boxes: np.ndarray, gt_classes: list[str], iou_threshold: float = 0.5,
          class_map: ClassMap | None = None) -> MatchResult:
    """Greedy matching, highest score first, each gt used once, same class through ``class_map`` only.

    Boxes are ``(n, 4)`` xyxy in the same pixel space (original pixels). ``class_map``: label name ->
    model name (default: :func:`default_class_map`).
    """
    cmap = class_map or default_class_map()
    p, g = len(pred_boxes), len(gt_boxes)
    pred_to_gt = np.full(p, -1, dtype=np.int64)
    gt_to_pred = np.full(g, -1, dtype=np.int64)
    ious = np.full(p, np.nan, dtype=np.float32)
    if p == 0 or g == 0:
        return MatchResult(pred_to_gt, gt_to_pred, ious)
    from torchvision.ops import box_iou  # here: importing torchvision costs start-up (see pooling._roi_align_kernel)

    iou = box_iou(torch.as_tensor(pred_boxes, dtype=torch.float64), torch.as_tensor(gt_boxes, dtype=torch.float64)).numpy()
    gt_as_model = [cmap.model_name(b) for b in gt_classes]
    same = np.array([[normalise_name(a) == b for b in gt_as_model] for a in pred_classes])
    iou = np.where(same, iou, -1.0)
    for i in np.argsort(-np.asarray(pred_scores), kind="stable"):
        candidates = np.where(gt_to_pred < 0, iou[i], -1.0)
        j = int(np.argmax(candidates))
        if candidates[j] >= iou_threshold:
            pred_to_gt[i], gt_to_pred[j], ious[i] = j, i, candidates[j]
    return MatchResult(pred_to_gt, gt_to_pred, ious)


def matched_pairs(gt_classes: Iterable[str], pred_classes: Iterable[str]) -> dict[str, int]:
    """``{"pedestrian -> person": n}``: how often each (label class, model class) pair matched.

    ``gt_classes`` / ``pred_classes``: the two class names of every matched pair, aligned.
    """
    counts = Counter(f"{g} -> {p}" for g, p in zip(gt_classes, pred_classes))
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def table_matched_pairs(table_path: Path) -> dict[str, int]:
    """``{"pedestrian -> person": n}`` over the whole (resumed) table: each TP prediction and its gt's class."""
    import pyarrow.parquet as pq

    df = pq.read_table(table_path, columns=["image", "origin", "gt_id", "class_name", "status"]).to_pandas()
    tp = df[df["status"] == "TP"]
    gt = tp[tp["origin"] == Origin.GT][["image", "gt_id", "class_name"]]
    pred = tp[tp["origin"] == Origin.PRED][["image", "gt_id", "class_name"]]
    pairs = pred.merge(gt, on=["image", "gt_id"], suffixes=("_pred", "_gt"))
    return matched_pairs(pairs["class_name_gt"], pairs["class_name_pred"])
