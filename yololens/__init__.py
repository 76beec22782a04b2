"""yololens: open up Ultralytics YOLO models and show what they learned.

The API mirrors the CLI, one function per command::

    import yololens
    res = yololens.extract("best.pt", "images/", labels="det_val.json", boxes="both", out="run1")
    df = res.to_pandas()                     # one row per object, emb_L9 ... embeddings
    X, ids = res.embeddings("L9")            # (N, C) float32 and the matching object ids
    yololens.layers("best.pt")               # the layer catalogue (list of LayerInfo)
    yololens.report.build_report("best.pt", "images/", out="report")

Names are imported lazily, so ``import yololens`` stays fast; ``dir(yololens)`` lists only the public API.
"""

import importlib as _importlib

__version__ = "0.1.0"
#: The Ultralytics versions yololens is tested against (pyproject pins the same range).
ULTRALYTICS_TESTED = ">=8.4.150,<8.5"

_API = {
    "extract": "yololens.jobs.extract",
    "load_objects": "yololens.jobs.extract",
    "open_run": "yololens.analysis.run",
    "Run": "yololens.analysis.run",
    "ExtractResult": "yololens.jobs.extract",
    "load_model": "yololens.model.loading",
    "LoadedModel": "yololens.model.loading",
    "layers": "yololens.model.catalogue",
    "LayerInfo": "yololens.model.catalogue",
    "Runner": "yololens.engine.runner",
    "open_source": "yololens.sources.resolve",
    "maps": "yololens.jobs.maps",
    "MapsResult": "yololens.jobs.maps",
    "project": "yololens.analysis",
    "stages": "yololens.jobs.stages",
    "Projector": "yololens.analysis",
    "ProjectionResult": "yololens.analysis",
    "StageReport": "yololens.analysis",
    "load_projection": "yololens.analysis",
    "plot": "yololens.jobs.plot",
    "protos": "yololens.jobs.protos",
    "coefficients": "yololens.jobs.coefficients",
    "coef_report": "yololens.jobs.coef_report",
    "build_report": "yololens.report",
    "PlotResult": "yololens.jobs.plot",
    "export_tensorboard": "yololens.jobs.export_tensorboard",
    "export_fiftyone": "yololens.jobs.export_fiftyone",
    "to_fiftyone": "yololens.jobs.export_fiftyone",
    "similarity": "yololens.jobs.similarity",
    "SimilarityResult": "yololens.jobs.similarity",
    "compare": "yololens.jobs.compare",
    "CompareResult": "yololens.jobs.compare",
    "suspects": "yololens.jobs.suspects",
    "SuspectsReport": "yololens.analysis.suspects_run",
}
_RENAMED = {"layers": "catalogue"}
#: Public subpackages reached as attributes (``yololens.report.build_report(...)``, as the README shows).
_MODULES = {"report": "yololens.report"}

__all__ = sorted([*_API, *_MODULES, "ULTRALYTICS_TESTED"])


def __getattr__(name: str):
    if name in _MODULES:
        return _importlib.import_module(_MODULES[name])
    if name not in _API:
        raise AttributeError(f"module 'yololens' has no attribute {name!r}")
    module = _importlib.import_module(_API[name])
    return getattr(module, _RENAMED.get(name, name))


def __dir__() -> list[str]:
    return [*__all__, "__version__"]
