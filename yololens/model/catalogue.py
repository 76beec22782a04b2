"""The layer catalogue: what every layer outputs, where it sits, and the names users may type."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from yololens.errors import InputError
from yololens.model import ultra
from yololens.model.hooks import FeatureCapture
from yololens.model.loading import LoadedModel, as_model
from yololens.options import check_options
from yololens.types import PROTO, Task  # PROTO: the seg head's prototype tensor, addressable like a layer



@dataclass(frozen=True)
class LayerInfo:
    """One row of the catalogue. Shapes are for a square ``imgsz`` input.

    Attributes:
        index: Ultralytics' layer index (``net.model[index]``), or ``"proto"``.
        module: module type name (``SPPF``, ``C2f``, ``Concat`` ...).
        channels, height, width: output tensor shape (None for the head's tuple output).
        stride: input pixels per output cell (None for the head).
        level: P-level, ``log2(stride)`` (P3 = stride 8).
        role: ``backbone``, ``neck`` or ``head``.
        from_: the layer(s) this one reads, as in the model yaml.
        aliases: names accepted for this layer besides its index (``sppf``, ``p3`` ...).
    """

    index: int | str
    module: str
    channels: int | None
    height: int | None
    width: int | None
    stride: int | None
    level: int | None
    role: str
    from_: int | list[int]
    aliases: tuple[str, ...] = ()

    @property
    def shape_text(self) -> str:
        return "-" if self.channels is None else f"{self.channels}×{self.height}×{self.width}"

    def as_dict(self) -> dict:
        d = asdict(self)
        d["from"] = d.pop("from_")
        d["aliases"] = list(self.aliases)
        return d


CATALOGUE_MAX_IMGSZ = 4096


def build_catalogue(model: LoadedModel, imgsz: int = 640) -> list[LayerInfo]:
    """Run one dummy forward at ``imgsz`` x ``imgsz`` (rounded up to the model's stride, as predict does) and
    describe every layer."""
    check_options(imgsz=imgsz)
    if imgsz > CATALOGUE_MAX_IMGSZ:  # one dummy forward of a square input: memory grows with imgsz**2
        raise InputError(f"--imgsz must be <= {CATALOGUE_MAX_IMGSZ} for the layer catalogue, not {imgsz}")
    imgsz = max(ultra.check_imgsz(imgsz, model.stride))
    layers = model.layers
    n_backbone = len(model.net.yaml.get("backbone", [])) or _guess_backbone_end(model) + 1
    aliases = layer_aliases(model)
    by_index: dict[int, list[str]] = {}
    for name, idx in aliases.items():
        if isinstance(idx, int):
            by_index.setdefault(idx, []).append(name)
    x = torch.zeros(1, 3, imgsz, imgsz, device=model.device, dtype=torch.half if model.half else torch.float)
    with FeatureCapture(layers, list(range(len(layers)))) as cap, torch.inference_mode():
        output = model.net(x)
    rows = []
    for i, module in enumerate(layers):
        out = cap.features.get(i)
        role = "head" if i == len(layers) - 1 else ("backbone" if i < n_backbone else "neck")
        if isinstance(out, torch.Tensor) and out.ndim == 4:
            _, c, h, w = out.shape
            stride = imgsz // h
            rows.append(LayerInfo(i, type(module).__name__, c, h, w, stride, int(round(math.log2(stride))), role,
                                  module.f, tuple(sorted(by_index.get(i, [])))))
        else:
            rows.append(LayerInfo(i, type(module).__name__, None, None, None, None, None, role, module.f,
                                  tuple(sorted(by_index.get(i, [])))))
    if model.task == Task.SEGMENT:
        from yololens.model.ultra import split_head_output

        _, protos = split_head_output(output, model.task)
        _, c, h, w = protos.shape
        stride = imgsz // h
        rows.append(LayerInfo(PROTO, "Proto", c, h, w, stride, int(round(math.log2(stride))), "head",
                              len(layers) - 1, (PROTO,)))
    return rows


def layer_aliases(model: LoadedModel) -> dict[str, int | str]:
    """Names users may type instead of indices: ``sppf``, ``p3``/``p4``/``p5`` (the neck
    outputs that feed the head), ``head``, ``proto`` for seg models, and ``L<i>``."""
    names: dict[str, int | str] = {}
    for i, module in enumerate(model.layers):
        if type(module).__name__ in ("SPPF", "C2PSA"):
            names.setdefault(type(module).__name__.lower(), i)
    head_from = model.head.f if isinstance(model.head.f, list) else [model.head.f]
    for level, idx in zip(range(3, 3 + len(head_from)), head_from):
        names[f"p{level}"] = idx
    names["head"] = len(model.layers) - 1
    if model.task == Task.SEGMENT:
        names[PROTO] = PROTO
    return names


def default_layers(model: LoadedModel) -> list[int]:
    """SPPF output plus the neck outputs that feed the head (v8: 9,15,18,21; 11/26: 9,16,19,22)."""
    aliases = layer_aliases(model)
    head_from = model.head.f if isinstance(model.head.f, list) else [model.head.f]
    layers = ([aliases["sppf"]] if "sppf" in aliases else []) + list(head_from)
    return sorted(set(layers))


def resolve_layers(
    model: LoadedModel,
    spec,
    allow_proto: bool = False,
    allow_head: bool = False,
) -> list[int | str]:
    """Turn user input (``"9,15,sppf"``, ``[9, "p3"]``, ``"all"``, ``None``) into layer ids.

    ``None`` gives :func:`default_layers`. ``"all"`` gives every layer with a 4-D output
    (plus ``proto`` when allowed). Unknown names or indices raise an ``InputError`` that
    lists the valid ones.
    """
    if spec is None:
        return list(default_layers(model))
    items = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    n = len(model.layers)
    aliases = layer_aliases(model)
    out: list[int | str] = []
    for item in items:
        if isinstance(item, str) and item.lower() == "all":
            out.extend(range(n - 1))
            if allow_proto and model.task == Task.SEGMENT:
                out.append(PROTO)
            continue
        idx = _resolve_one(item, aliases)
        if idx is None and str(item).strip().lower() == PROTO:
            raise InputError(f"layer 'proto' needs a segmentation model, but {model.source} is a '{model.task}' "
                             f"model; {valid_layers_text(model, allow_proto)}")
        if idx is None or (isinstance(idx, int) and not 0 <= idx < n):
            raise InputError(f"layer {item!r} does not exist in {model.source}; {valid_layers_text(model, allow_proto)}")
        if idx == PROTO and not allow_proto:
            raise InputError(f"layer 'proto' is not available here; {valid_layers_text(model, False)}")
        if idx == n - 1 and not allow_head:
            raise InputError(
                f"layer {item!r} is the detection head, whose output is not a feature map; "
                f"use its inputs p3/p4/p5 instead. {valid_layers_text(model, allow_proto)}"
            )
        if idx not in out:
            out.append(idx)
    return out


def _resolve_one(item, aliases: dict[str, int | str]) -> int | str | None:
    if isinstance(item, int):
        return item
    text = str(item).strip().lower()
    if text.startswith("l") and text[1:].isdigit():
        text = text[1:]
    if text.lstrip("-").isdigit():
        return int(text)
    return aliases.get(text)


def valid_layers_text(model: LoadedModel, allow_proto: bool = False) -> str:
    n = len(model.layers)
    names = sorted(k for k, v in layer_aliases(model).items() if k != "head" and (allow_proto or v != PROTO))
    return f"valid layers: 0..{n - 2} (feature maps; {n - 1} is the head) or {', '.join(names)}"


def _guess_backbone_end(model: LoadedModel) -> int:
    """Last SPPF/C2PSA layer, for models whose yaml lacks a ``backbone`` section."""
    ends = [i for i, m in enumerate(model.layers) if type(m).__name__ in ("SPPF", "C2PSA")]
    return ends[-1] if ends else 0


def catalogue(model=None, imgsz: int = 640, device: str | None = "cpu") -> list[LayerInfo]:
    """The layer catalogue of ``model`` (path, yaml, ``YOLO`` or :class:`LoadedModel`), as ``yololens layers`` prints it."""
    loaded = as_model(model, device=device)
    return build_catalogue(loaded, imgsz=imgsz)
