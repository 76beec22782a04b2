"""The OpenVINO backend: the fused network compiled by OpenVINO, hooked layers as extra outputs.

Export route: ``openvino.convert_model`` straight from the torch module (TorchScript tracing
of :class:`yololens.model.ultra.ExportNet`), not through ONNX: no ``onnx`` dependency, no
opset choice, and the hooked layers come out as plain graph outputs. The input is dynamic
in batch, height and width (the head computes its anchors in the graph), so one export
serves every shape a source has. The IR is cached (see :mod:`.cache`).

Precision is f32 (``INFERENCE_PRECISION_HINT=f32``: a CPU reporting BF16 would otherwise
silently compute in bf16); ``half=True`` asks for bf16 where the CPU has it; a ``calibration``
set compiles the int8 IR that NNCF made from the f32 one (:mod:`.quantize`, cached beside it).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import sys
import warnings
from enum import StrEnum
from pathlib import Path

import numpy as np
import torch

from yololens.engine.backends import Backend, Precision
from yololens.engine.backends.cache import COMPILED as COMPILED_DIR
from yololens.engine.backends.cache import cache_root, cached_entry, keep_bounded
from yololens.errors import ModelError
from yololens.model import ultra
from yololens.model.loading import LoadedModel
from yololens.types import Task

EXPORT_FORMAT = 1  # bump when ExportNet's outputs change: old cache entries then no longer match
IR_NAME = "model.xml"


class PerfHint(StrEnum):
    LATENCY = "LATENCY"
    THROUGHPUT = "THROUGHPUT"


# LATENCY: one infer request per same-shape batch, every thread on each layer. THROUGHPUT: OpenVINO's streams
# (2 on 2 cores, 1 thread each) with one image per request, its optimal number of requests in flight
# (benchmarks/extract_throughput.py --sweep measures both).
DEFAULT_HINT = PerfHint.LATENCY


def model_fingerprint(model: LoadedModel) -> str:
    """The checkpoint's sha256, else (yaml / YOLO object) a sha256 of the fused weights."""
    if model.sha256:
        return model.sha256
    digest = hashlib.sha256()
    for name, tensor in model.net.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def export_fields(model: LoadedModel, layers: list[int], imgsz: tuple[int, int], protos: bool = True,
                  cut: int | None = None) -> dict:
    """Everything the exported graph depends on: the cache key (``cut``: the last layer in the graph, or
    ``"head"`` for the whole network)."""
    import openvino

    return {"format": EXPORT_FORMAT, "model": model_fingerprint(model), "task": model.task,
            "end2end": model.end2end, "layers": list(layers), "imgsz": list(imgsz), "protos": bool(protos),
            "cut": "head" if cut is None else int(cut),
            "ultralytics": ultra.ULTRALYTICS_VERSION, "torch": torch.__version__, "openvino": openvino.__version__}


def export_ir(model: LoadedModel, layers: list[int], imgsz: tuple[int, int], folder: Path,
              protos: bool = True, cut: int | None = None) -> list[str]:
    """Trace ``model`` (a private copy) and save its f32 IR to ``folder``; returns the file names.
    ``protos=False``: a seg model's prototype branch is left out of the graph; ``cut``: the graph ends at
    that layer (only the hooked layers are outputs)."""
    import openvino as ov

    wrapper = ultra.ExportNet(copy.deepcopy(model.net), model.task, layers, protos=protos, cut=cut).prepare()
    example = torch.zeros(1, 3, *imgsz)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit.trace deprecation and tracer notes: not the user's concern
            ov_model = ov.convert_model(wrapper, example_input=example, input=[ov.PartialShape([-1, 3, -1, -1])])
    except Exception as exc:  # tracing/conversion raise many types; the user needs one line and a way out
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise ModelError(f"{model.source}: OpenVINO export failed ({reason}); run it with --backend torch") from None
    ov.save_model(ov_model, folder / IR_NAME, compress_to_fp16=False)  # f32 weights, exactly torch's
    return [IR_NAME, IR_NAME.replace(".xml", ".bin")]


@functools.cache
def _cpu_capabilities() -> tuple[str, ...]:
    import openvino as ov

    return tuple(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def cpu_has_bf16(core=None) -> bool:
    """Whether OpenVINO's CPU plugin can compute in bf16 here (AVX512-BF16 / AMX)."""
    caps = _cpu_capabilities() if core is None else core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    return "BF16" in caps


def cpu_int8_native() -> str | None:
    """The CPU's int8 dot-product instructions (``AMX``, ``VNNI``), or ``None``: int8 then still runs, on wider
    arithmetic, usually slower than f32."""
    flags = set(Path("/proc/cpuinfo").read_text().split()) if Path("/proc/cpuinfo").is_file() else set()
    if "amx_int8" in flags:
        return "AMX"
    if flags & {"avx512_vnni", "avx_vnni"}:
        return "VNNI"
    return None


def compiled_cache(core) -> None:
    """Point ``core`` at OpenVINO's compiled-model cache (``<cache root>/compiled``): a later compile of the same
    IR with the same settings imports the blob instead of compiling (measured 1.0 -> 0.25 s for the int8 seg
    model, 0.5 -> 0.16 s for f32; docs/PRECISION.md). OpenVINO keys blobs by model, config, device and its
    version, and compiles anew when a blob cannot be imported. A folder that cannot be made leaves it off. The
    blobs count toward the cache's bound (see :meth:`OpenVINOBackend.__init__`)."""
    folder = cache_root() / COMPILED_DIR
    try:
        folder.mkdir(parents=True, exist_ok=True)
        core.set_property({"CACHE_DIR": str(folder)})
    except (OSError, RuntimeError):  # read-only cache: compile every time, as before
        pass


class OpenVINOBackend:
    """Compile ``model`` with ``layers`` as extra outputs; :meth:`forward` like the torch backend.

    Args:
        half: bf16 inference where the CPU supports it (else f32, with a note).
        threads: ``INFERENCE_NUM_THREADS`` (0: OpenVINO's default, all cores).
        imgsz: the traced example shape (the IR itself takes any shape).
        hint: OpenVINO performance hint (``None``: :data:`DEFAULT_HINT`); THROUGHPUT runs a batch as one request
            per image, ``requests`` of them in flight (``None``: OpenVINO's optimal number for the compiled model).
        protos: export a seg model's prototypes (``False``: the branch is not in the graph; the head output
            then carries ``None`` for them, and every other output is unchanged).
        cut: export only the layers up to ``cut`` (the hooked layers are the only outputs; :meth:`forward`
            returns ``None`` for the head output). Part of the cache key.
        calibration: int8: ``(CalibrationSet, prepare)``; the f32 IR is quantized on ``prepare(image)`` of each
            set image (once per set, cached) and compiled instead of it.
    """

    name = Backend.OPENVINO

    def __init__(self, model: LoadedModel, layers: list[int], half: bool = False, threads: int = 0,
                 imgsz: tuple[int, int] = (640, 640), hint: PerfHint | None = None,
                 requests: int | None = None, protos: bool = True, cut: int | None = None, calibration=None):
        import openvino as ov

        self.model, self.layers, self.cut = model, list(layers), cut
        self.protos = protos and model.task == Task.SEGMENT and cut is None
        fields = export_fields(model, self.layers, tuple(imgsz), self.protos, cut)
        self.folder = cached_entry(fields, lambda tmp: export_ir(model, self.layers, tuple(imgsz), tmp, self.protos,
                                                                 cut), what="OpenVINO export")
        core = ov.Core()
        self.precision = Precision.F32
        if calibration is not None:
            self.folder = self._quantized(fields, *calibration)
            self.precision = Precision.INT8
        elif half:
            if cpu_has_bf16(core):
                self.precision = Precision.BF16
            else:
                print("--half: this CPU has no bf16 support; OpenVINO computes in f32", file=sys.stderr)
        # int8: the quantized convolutions run int8 whatever the hint; the rest (head arithmetic) stays f32
        compute = Precision.F32 if self.precision is Precision.INT8 else self.precision
        hint = PerfHint(DEFAULT_HINT if hint is None else hint)
        config = {"INFERENCE_PRECISION_HINT": str(compute), "PERFORMANCE_HINT": str(hint)}
        if threads > 0:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        compiled_cache(core)
        self.compiled = core.compile_model(core.read_model(self.folder / IR_NAME), "CPU", config)
        keep_bounded(self.folder)  # after the compile, so that the blob it just wrote counts
        if hint is PerfHint.LATENCY:
            self.requests = 1
        else:
            self.requests = max(1, int(requests or self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
        self._request = self.compiled.create_infer_request()
        self._queue = ov.AsyncInferQueue(self.compiled, self.requests) if self.requests > 1 else None

    def _quantized(self, fields: dict, calibration, prepare) -> Path:
        """The int8 IR for this export and calibration set (built from the f32 entry once, then cached)."""
        from yololens.engine.backends.quantize import quantize_fields, quantize_ir

        key = quantize_fields(fields, calibration.fields(), len(calibration))
        f32 = self.folder / IR_NAME
        head = len(self.model.layers) - 1
        return cached_entry(key, lambda tmp: quantize_ir(f32, calibration.inputs(prepare), head, tmp),
                            what="int8 model (NNCF calibration)")

    @property
    def compiled_precision(self) -> str:
        """The precision the compiled model computes in, as OpenVINO reports it (``f32``, ``bf16``)."""
        return self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()

    def _infer(self, x: np.ndarray) -> list[np.ndarray]:
        if self._queue is None or len(x) == 1:
            out = self._request.infer({0: x}, share_inputs=True)
            return [out[o] for o in self.compiled.outputs]
        # one image per request: the streams run images side by side, and each stream meets (1, 3, H, W) shapes
        # only (fewer shape-specific kernels than batches of every size)
        results: list = [None] * len(x)

        def done(request, i):
            results[i] = [np.array(request.get_output_tensor(k).data) for k in range(len(self.compiled.outputs))]

        self._queue.set_callback(done)
        for i in range(len(x)):
            self._queue.start_async({0: x[i:i + 1]}, i)
        self._queue.wait_all()
        return [np.concatenate([r[k] for r in results]) for k in range(len(results[0]))]

    def forward(self, x: torch.Tensor) -> tuple[object, dict[int, torch.Tensor]]:
        outputs = [torch.from_numpy(o) for o in self._infer(x.float().cpu().contiguous().numpy())]
        if self.cut is not None:
            return None, dict(zip(self.layers, outputs))
        protos = outputs[1] if self.protos else None
        first = 2 if self.protos else 1
        features = dict(zip(self.layers, outputs[first:]))
        return ultra.head_output(self.model.net, outputs[0], protos, self.model.task), features
