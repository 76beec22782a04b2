"""Throughput and memory of `yololens extract`, per compute backend, against Ultralytics predict, in one run.

Every timed run is a fresh process (whole-process wall time: imports, model load, compile, decode,
forward, Parquet), on the same folder of real images of mixed shapes (BDD100K 1280x720, COCO, the
Ultralytics assets, cycled to --images), at the same thread count (--threads):

  * Ultralytics predict on the folder at batch 1 and 8 with --threads torch threads, and as shipped
    (Ultralytics sets min(8, cpus - 1) threads);
  * `extract --backend torch|openvino` (layers 9,15,18,21, predicted boxes);
  * the floor: the raw forward of each backend, on exactly the batches extract forms (windows of the
    source order, same-shape batches with their own letterbox), at the fastest batch size of 1/2/4/8.

Ratios printed (targets from issue 13): G-CPU-1 extract(openvino) / best predict (>= 1.5), G-CPU-2
extract(openvino) / raw OpenVINO forward (>= 0.85; whole process, and the extract loop alone), peak
RSS at 100 and 1,000 images (<= 2 GB, flat). --sweep adds the decode-threads x inference-threads grid
for extract and, for the OpenVINO forward, batch 1 vs same-shape batches vs the THROUGHPUT hint with
several infer requests. The OpenVINO export is built once into a temporary cache (timed apart).

Usage: python benchmarks/extract_throughput.py [--images 128] [--threads N] [--rss 100,1000] [--sweep]
       (tiny smoke run: --images 8 --rss 8 --sweep)
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from _harness import (ChildRun, best_raw_forward, image_folder, predict_code, ratio_line, run_child,
                      shared_dir)

LAYERS = [9, 15, 18, 21]
BATCHES = (1, 2, 4, 8)


def extract_code(model: str, folder: Path, out: Path, backend: str, threads: int, workers: int, batch: int,
                 window: int, executor: str = "local") -> str:
    """``extract`` as a child script; ``executor="ray"`` starts a local Ray first (this machine's cores)."""
    ray = "import ray; ray.init(include_dashboard=False, log_to_driver=False)\n" if executor == "ray" else ""
    return (f"from yololens.jobs.extract import extract\n{ray}"
            f"r = extract({model!r}, {str(folder)!r}, out={str(out)!r}, layers={LAYERS}, batch={batch}, "
            f"device='cpu', backend={backend!r}, threads={threads}, workers={workers}, window={window}, "
            f"executor={executor!r}, overwrite=True, progress=False)\n"
            f"RESULT = {{'images': r.images_done, 'run_s': r.manifest['timings_s']['run'], "
            f"'precision': r.manifest['params']['precision']}}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="default: ../shared/models/yolov8n-seg-coco.pt")
    ap.add_argument("--images", type=int, default=128, help="images in the timed folder (>= 128 for the report)")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="inference threads for every method")
    ap.add_argument("--workers", type=int, default=2, help="extract decode threads")
    ap.add_argument("--batch", type=int, default=8, help="extract --batch")
    ap.add_argument("--window", type=int, default=64, help="extract --window")
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--backends", default="torch,openvino")
    ap.add_argument("--rss", default="100,1000", help="image counts for the peak-RSS runs ('' to skip)")
    ap.add_argument("--sweep", action="store_true", help="also the decode/inference-threads and batching sweep")
    args = ap.parse_args()
    shared = shared_dir()
    model = args.model or str(shared / "models" / "yolov8n-seg-coco.pt")
    backends = [b for b in args.backends.split(",") if b]
    T = args.threads

    with tempfile.TemporaryDirectory(prefix="yololens-bench-") as tmp_name:
        tmp = Path(tmp_name)
        os.environ["YOLOLENS_CACHE"] = str(tmp / "cache")  # children inherit it; nothing lands in the user's cache
        folder = image_folder(shared, args.images, tmp / "images")
        ips: dict[str, float] = {}
        runs: dict[str, ChildRun] = {}

        def timed(name: str, code: str) -> ChildRun:
            run = run_child(code)
            n = run.result.get("images", args.images)
            assert n == args.images, (name, n)
            runs[name], ips[name] = run, n / run.wall_s
            print(f"  {name:<52} {ips[name]:7.2f} img/s  {run.wall_s:6.1f} s  RSS {run.peak_rss_mb:5.0f} MB",
                  flush=True)
            return run

        print(f"model {model}\n{args.images} images (mixed shapes), {T} inference threads, cpus {os.cpu_count()}")
        for backend in backends:  # first run: exports into the temp cache (a one-time cost, shown apart)
            first = run_child(extract_code(model, folder, tmp / "warm", backend, T, args.workers, args.batch,
                                           args.window))
            print(f"  first extract --backend {backend} (cold; openvino: export + compile): {first.wall_s:.1f} s")
        print("whole-process wall time:")
        for b in (1, 8):
            timed(f"ultralytics predict batch={b}, {T} threads", predict_code(model, folder, b, T))
        timed("ultralytics predict batch=8, as shipped", predict_code(model, folder, 8, None))
        for backend in backends:
            timed(f"extract --backend {backend}", extract_code(model, folder, tmp / "out", backend, T,
                                                                  args.workers, args.batch, args.window))

        print("raw forward (compute only, the batches extract forms):")
        from yololens.model.loading import load_model

        loaded = load_model(model, device="cpu")
        layers = LAYERS + (["proto"] if loaded.task == "segment" else [])
        floors: dict[str, float] = {}
        for backend in backends:  # extract --pool box computes no prototypes; neither does its floor
            fastest, floors[backend], speeds = best_raw_forward(loaded, [x for x in layers if x != "proto"], folder,
                                                                args.imgsz, args.window, BATCHES, backend, T,
                                                                protos=False)
            print(f"  raw {backend} forward: " + ", ".join(f"batch {b}: {v:.2f}" for b, v in speeds.items())
                  + f" img/s (fastest: batch {fastest})")

        best_predict = max(v for k, v in ips.items() if k.startswith("ultralytics predict"))
        print("ratios:")
        for backend in backends:
            name = f"extract --backend {backend}"
            if name not in ips:
                continue
            loop_ips = args.images / runs[name].result["run_s"]
            print(ratio_line(f"G-CPU-1 {name} / best predict", ips[name] / best_predict, 1.5))
            print(ratio_line(f"G-CPU-2 {name} / raw {backend} forward (whole process)",
                             ips[name] / floors[backend], 0.85))
            print(ratio_line(f"        {name} / raw {backend} forward (extract loop)",
                             loop_ips / floors[backend], 0.85))
            # the most G-CPU-1 can be with this forward: the loop costs nothing but the raw forward,
            # everything else (imports, load, compile, listing, finalize: wall - loop) as measured
            fixed_s = runs[name].wall_s - runs[name].result["run_s"]
            ceiling = args.images / (fixed_s + args.images / floors[backend])
            print(f"  ceiling: {name} if its loop ran at the raw forward: {ceiling:.2f} img/s = "
                  f"{ceiling / best_predict:.2f}x best predict (fixed cost {fixed_s:.1f} s)")

        rss: dict[int, float] = {}
        rss_backend = "openvino" if "openvino" in backends else backends[0]
        for n in [int(x) for x in args.rss.split(",") if x.strip()]:
            rss_folder = image_folder(shared, n, tmp / f"rss{n}")
            run = run_child(extract_code(model, rss_folder, tmp / f"rss{n}-out", rss_backend, T, args.workers,
                                         args.batch, args.window))
            rss[n] = run.peak_rss_mb
            print(f"peak RSS, extract --backend {rss_backend}, {n} images: {rss[n]:.0f} MB "
                  f"({n / run.wall_s:.2f} img/s whole process)")
            if rss_backend in floors:  # the same shape mix (the folders cycle the same frames): start-up amortised
                print(ratio_line(f"G-CPU-2 at {n} images (whole process)", n / run.wall_s / floors[rss_backend], 0.85))
        if rss:
            print(ratio_line("peak RSS (MB), largest run", max(rss.values()), 2048, higher_is_better=False))
            print(ratio_line("RSS growth (largest / smallest run)", max(rss.values()) / min(rss.values()), 1.1,
                             higher_is_better=False))

        sweep = run_sweep(model, folder, tmp, args, loaded, layers) if args.sweep else {}
        print(json.dumps({"img_per_s": ips, "raw_forward_img_per_s": floors, "peak_rss_mb": rss, "sweep": sweep}))


def run_sweep(model: str, folder: Path, tmp: Path, args, loaded, layers) -> dict:
    """Item 4 of issue 13: what the defaults should be, measured on this machine."""
    from yololens.engine.backends.openvino_backend import PerfHint

    out: dict = {"extract_workers_x_threads": {}, "openvino_forward": {}}
    cpus = os.cpu_count() or 1
    print("sweep: extract --backend openvino, decode workers x inference threads (whole process, img/s)")
    for workers in sorted({1, 2, cpus}):
        for threads in sorted({1, max(1, cpus - 1), cpus}):
            run = run_child(extract_code(model, folder, tmp / "sweep", "openvino", threads, workers, args.batch,
                                         args.window))
            v = args.images / run.wall_s
            out["extract_workers_x_threads"][f"workers={workers},threads={threads}"] = v
            print(f"  workers {workers}, threads {threads}: {v:7.2f}", flush=True)
    print("sweep: raw OpenVINO forward on extract's batches (img/s)")
    hooked = [x for x in layers if x != "proto"]
    # THROUGHPUT: a same-shape batch runs as one request per image, `requests` in flight (None: OpenVINO's optimal
    # number, one per stream)
    settings = [(PerfHint.LATENCY, 1, (1, args.batch))] + [
        (PerfHint.THROUGHPUT, r, (args.batch,)) for r in [None, *sorted({2, 4, args.batch})]
        if r is None or 1 < r <= args.batch]
    for hint, requests, batches in settings:
        _, _, speeds = best_raw_forward(loaded, hooked, folder, args.imgsz, args.window, batches, "openvino",
                                        args.threads, protos=False, hint=hint, requests=requests)
        for b, v in speeds.items():
            key = f"hint={hint},requests={requests},batch={b}"
            out["openvino_forward"][key] = v
            print(f"  {key:<40} {v:7.2f}", flush=True)
    return out


if __name__ == "__main__":
    main()
