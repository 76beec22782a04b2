"""What the throughput benchmarks share: the image folder, whole-process timing, the raw-forward floor.

* :func:`image_folder`: ``n`` links cycling over the real BDD100K (1280x720) and COCO frames of
  ``../shared`` plus Ultralytics' two assets: mixed shapes, unique names.
* :func:`run_child`: one measured run = one fresh Python process; returns its whole-process wall
  time (imports, model load, compile, decode, forward, writing) and its peak RSS.
* :func:`planned_inputs` / :func:`raw_forward`: the floor. The input tensors are built from exactly
  the batches extract forms (windows of the source order, then same-shape batches, each with its
  own minimal letterbox), and only the backend's forward is timed.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    env = os.environ.get("YOLOLENS_SHARED")
    path = Path(env) if env else ROOT.parent / "shared"
    if not (path / "models").is_dir():
        raise SystemExit(f"{path}: shared data not found (set YOLOLENS_SHARED)")
    return path


def base_images(shared: Path) -> list[Path]:
    from ultralytics.utils import ASSETS

    bdd = sorted({p.name: p for p in (shared / "data/bdd100k_sample").rglob("*.jpg")}.values())
    coco = sorted((shared / "data/seed_coco_images").glob("*.jpg"))
    return bdd + coco + [Path(ASSETS) / "bus.jpg", Path(ASSETS) / "zidane.jpg"]


def image_folder(shared: Path, n: int, folder: Path) -> Path:
    """``n`` symlinks cycling over :func:`base_images` (unique names, so nothing is resumed)."""
    base = base_images(shared)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        src = base[i % len(base)]
        (folder / f"{i:05d}_{src.name}").symlink_to(src)
    return folder


@dataclass
class ChildRun:
    wall_s: float  # whole process, start to exit
    peak_rss_mb: float
    result: dict  # what the child printed as its last JSON line


def peak_rss_kb() -> int:
    """This process's peak RSS in KiB: ``VmHWM`` on Linux, else ``ru_maxrss``.

    Not ``ru_maxrss`` on Linux: ``execve`` keeps the forking process's high-water mark there, so a child
    started from a benchmark that has grown to 3 GB reports 3 GB whatever it uses itself (measured: a
    13 MB child of a 1.6 GB parent reports 1.6 GB). ``VmHWM`` belongs to the new address space.
    """
    try:
        status = Path("/proc/self/status").read_text()
        return int(status.split("VmHWM:")[1].split()[0])
    except (OSError, IndexError, ValueError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# the child runs the same function (its source), so parent and children measure alike
CHILD_FOOTER = ("from pathlib import Path\n" + inspect.getsource(peak_rss_kb)
                + "import json; print(json.dumps({'rss_kb': peak_rss_kb(), **globals().get('RESULT', {})}))")


def run_child(code: str, env: dict | None = None) -> ChildRun:
    """Run ``code`` in a fresh interpreter; it may set ``RESULT = {...}`` to report numbers."""
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), full_env.get("PYTHONPATH")]))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code + "\n" + CHILD_FOOTER], capture_output=True, text=True,
                          env=full_env)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    return ChildRun(wall, last.pop("rss_kb") / 1024, last)


def predict_code(model: str, folder: Path, batch: int, threads: int | None, device: str = "cpu") -> str:
    """Ultralytics predict over the folder, as a child script. ``threads=None``: as shipped
    (Ultralytics' select_device sets min(8, cpus - 1) torch threads); else that many threads."""
    pin = "" if threads is None else (
        f"import torch, ultralytics.utils.torch_utils as tu; tu.NUM_THREADS = {threads}; "
        f"torch.set_num_threads({threads})\n")
    return (f"{pin}from ultralytics import YOLO\n"
            f"n = sum(1 for _ in YOLO({model!r}).predict({str(folder)!r}, stream=True, batch={batch}, "
            f"device={device!r}, verbose=False))\nRESULT = {{'images': n}}")


def planned_inputs(model, folder: Path, imgsz: int, batch: int, window: int):
    """The input tensors extract runs for ``folder``: same windows, same-shape batches, same letterbox."""
    from yololens.engine.batching import bucket_by_shape, plan_windows
    from yololens.model import ultra
    from yololens.sources.images import decode_image
    from yololens.sources.resolve import open_source

    records = open_source(str(folder)).records
    size = ultra.check_imgsz(imgsz, model.stride)
    tensors = []
    for w in plan_windows(records, window):
        for planned in bucket_by_shape(w, batch):
            images = [decode_image(r.path) for r in planned]
            lb = ultra.letterbox_batch(images, size, model.stride)
            tensors.append(ultra.to_input_tensor(lb, model.device, False))
    return tensors


def raw_forward(backend, tensors, rounds: int = 2) -> float:
    """Images per second of ``backend.forward`` alone over ``tensors`` (best of ``rounds``, after a warm-up
    pass over every shape)."""
    import torch

    n = sum(len(x) for x in tensors)
    best = float("inf")
    with torch.inference_mode():
        for x in tensors:  # warm-up: kernels for every shape
            backend.forward(x)
        for _ in range(rounds):
            t0 = time.perf_counter()
            for x in tensors:
                backend.forward(x)
            best = min(best, time.perf_counter() - t0)
    return n / best


def best_raw_forward(model, layers: list, folder: Path, imgsz: int, window: int, batches, backend: str,
                     threads: int, protos: bool = True, **backend_kw) -> tuple[int, float, dict[int, float]]:
    """The raw forward at each batch size of ``batches``; returns (fastest batch, its img/s, all).
    ``protos``: whether the job measured computes a seg model's prototypes (``extract --pool box`` does not)."""
    from yololens.engine.backends import create_backend
    from yololens.model import ultra

    size = ultra.check_imgsz(imgsz, model.stride)
    if backend == "openvino" and backend_kw:
        from yololens.engine.backends.openvino_backend import OpenVINOBackend

        impl = OpenVINOBackend(model, layers, threads=threads, imgsz=size, protos=protos, **backend_kw)
    else:
        impl = create_backend(model, layers, backend, threads=threads, imgsz=size, protos=protos)
    speeds = {b: raw_forward(impl, planned_inputs(model, folder, imgsz, b, window)) for b in batches}
    fastest = max(speeds, key=speeds.get)
    return fastest, speeds[fastest], speeds


def ratio_line(name: str, value: float, target: float, higher_is_better: bool = True) -> str:
    ok = value >= target if higher_is_better else value <= target
    return f"  {name:<58} {value:6.2f}  (target {'>=' if higher_is_better else '<='} {target:g}: " \
           f"{'PASS' if ok else 'FAIL'})"
