"""Throughput and memory of `yololens extract` against Ultralytics predict, measured in one run.

Baselines, on the same images and model:
  * YOLO(...).predict(stream=True) at batch 1 and at batch 8 (Ultralytics' own pipeline), with the
    same torch thread count as extract, and once as shipped (Ultralytics sets min(8, cpus-1) threads);
  * the raw fused forward on pre-letterboxed tensors (the floor: compute only).

Extract runs layers 9,15,18,21 (YOLOv8) with predicted boxes, written to Parquet.
Peak RSS is measured in child processes for 100 and 1,000 images.

Usage: python benchmarks/extract_throughput.py [--model PATH] [--n 64] [--rss 100,1000] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("YOLOLENS_SHARED", ROOT.parent / "shared"))


def real_images() -> list[Path]:
    from ultralytics.utils import ASSETS

    found = sorted((SHARED / "data").rglob("*.jpg")) + [Path(ASSETS) / "bus.jpg", Path(ASSETS) / "zidane.jpg"]
    # de-duplicate identical frames that appear in several BDD sample folders
    seen, unique = set(), []
    for p in found:
        if p.name not in seen:
            seen.add(p.name)
            unique.append(p)
    return unique


def make_folder(n: int, directory: Path) -> Path:
    """``n`` symlinks cycling over the real images, with unique names (so nothing is resumed)."""
    images = real_images()
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        src = images[i % len(images)]
        (directory / f"{i:05d}_{src.name}").symlink_to(src)
    return directory


def time_extract(model: str, folder: Path, device: str, batch: int) -> tuple[float, int]:
    from yololens.engine.extract import extract

    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        res = extract(model, str(folder), out=out, layers=[9, 15, 18, 21], batch=batch, device=device, progress=False)
        return time.perf_counter() - t, res.manifest["counts"]["images_processed"]


def time_predict(model: str, folder: Path, device: str, batch: int, threads: int | None) -> float:
    """Ultralytics predict. Its select_device sets torch to min(8, cpus - 1) threads (1 on a 2-core
    machine); ``threads`` overrides that so both sides use the same thread count."""
    import ultralytics.utils.torch_utils as tu
    from ultralytics import YOLO

    shipped = tu.NUM_THREADS
    tu.NUM_THREADS = threads or shipped
    try:
        yolo = YOLO(model)
        t = time.perf_counter()
        for _ in yolo.predict(str(folder), stream=True, batch=batch, device=device, verbose=False):
            pass
        return time.perf_counter() - t
    finally:
        tu.NUM_THREADS = shipped


def time_raw_forward(model: str, folder: Path, device: str, batch: int) -> float:
    """Only the fused forward, on tensors letterboxed beforehand exactly as extract batches them."""
    import torch

    from yololens.model import ultra
    from yololens.model.loading import load_model
    from yololens.sources.images import decode_image

    loaded = load_model(model, device=device)
    paths = sorted(folder.iterdir())
    imgs = [decode_image(p) for p in paths]
    size = ultra.check_imgsz(640, loaded.stride)
    tensors = [ultra.to_input_tensor(ultra.letterbox_batch(imgs[i:i + batch], size, loaded.stride), loaded.device, False)
               for i in range(0, len(imgs), batch)]
    with torch.inference_mode():
        loaded.net(tensors[0])  # warm-up
        t = time.perf_counter()
        for x in tensors:
            loaded.net(x)
    return time.perf_counter() - t


def peak_rss_mb(model: str, n: int, device: str, batch: int) -> float:
    """Peak RSS of a child process that extracts ``n`` images."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_folder(n, Path(tmp) / "images")
        code = (
            "import resource, sys; from yololens.engine.extract import extract; "
            f"extract({model!r}, {str(folder)!r}, out={str(Path(tmp) / 'out')!r}, layers=[9, 15, 18, 21], "
            f"batch={batch}, device={device!r}, progress=False); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
        )
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
        return int(out.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(SHARED / "models" / "yolov8n-seg-coco.pt"))
    ap.add_argument("--n", type=int, default=64, help="images for the throughput comparison")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--rss", default="100,1000", help="image counts for the peak-RSS runs ('' to skip)")
    args = ap.parse_args()

    import torch

    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_folder(args.n, Path(tmp) / "images")
        time_extract(args.model, folder, args.device, args.batch)  # warm caches (disk, allocator) once
        results = {}
        t_ext, n = time_extract(args.model, folder, args.device, args.batch)
        results["yololens extract"] = n / t_ext
        for b in (1, 8):
            results[f"ultralytics predict batch={b}"] = args.n / time_predict(args.model, folder, args.device, b,
                                                                             threads)
            torch.set_num_threads(threads)
        results["ultralytics predict batch=8, as shipped"] = args.n / time_predict(args.model, folder, args.device,
                                                                                  8, None)
        torch.set_num_threads(threads)  # predict's select_device changed it
        results["raw fused forward"] = args.n / time_raw_forward(args.model, folder, args.device, args.batch)

    print(f"torch threads: {threads} (Ultralytics as shipped uses {__import__('ultralytics').utils.NUM_THREADS})")
    best_predict = max(results["ultralytics predict batch=1"], results["ultralytics predict batch=8"])
    print(f"model: {args.model}\nimages: {args.n} (real frames from shared/data + ultralytics assets, cycled)")
    for name, ips in results.items():
        print(f"  {name:<30} {ips:7.2f} img/s")
    print(f"ratio extract / best Ultralytics predict: {results['yololens extract'] / best_predict:.2f}x (target >= 1.3x)")
    print(f"ratio extract / raw forward:              {results['yololens extract'] / results['raw fused forward']:.2f}x (target >= 0.9x)")
    rss = {}
    for n in [int(x) for x in args.rss.split(",") if x.strip()]:
        rss[n] = peak_rss_mb(args.model, n, args.device, args.batch)
        print(f"peak RSS, {n} images: {rss[n]:.0f} MB")
    print(json.dumps({"img_per_s": results, "peak_rss_mb": rss}))


if __name__ == "__main__":
    main()
