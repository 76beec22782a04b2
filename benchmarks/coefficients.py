"""Throughput of ``yololens coefficients --all``, per compute backend, against Ultralytics predict with masks.

    python benchmarks/coefficients.py [--images 128] [--threads N] [--rss 100,1000] [--methods ...]
    (tiny smoke run: --images 8 --rss 8)

Same protocol as ``benchmarks/extract_throughput.py`` (shared in ``_harness.py``): every timed run is
a fresh process on the same folder of real mixed-shape images (BDD100K, COCO, Ultralytics assets,
cycled to --images), whole-process wall time, the same inference thread count for every method:

* ``coefficients-torch`` / ``coefficients-openvino``: ``coefficients(..., all coefficients, mask_area)``;
* ``ultra-b1`` / ``ultra-b8``: ``YOLO.predict(folder, batch=1|8, stream=True)`` (seg: masks computed),
  with --threads torch threads; ``ultra-shipped``: batch 8, Ultralytics' own thread count;
* ``seed-like``: a ``SegmentationPredictor`` subclass that keeps each image's prototypes and
  coefficients, called once per image (the seed's approach);
* the floor: each backend's raw forward (prototypes + head) on exactly the batches coefficients forms,
  at the fastest batch size of 1/2/4/8.

Printed ratios: coefficients(openvino) / best predict (>= 1.5), coefficients(openvino) / raw OpenVINO
forward (>= 0.85), peak RSS (<= 2 GB, flat from the smallest to the largest --rss run).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from _harness import best_raw_forward, image_folder, predict_code, ratio_line, run_child, shared_dir

BATCHES = (1, 2, 4, 8)


def make_seed_predictor(weights: str, device: str):
    from ultralytics.models.yolo.segment import SegmentationPredictor

    class GrabPredictor(SegmentationPredictor):
        """Keeps the prototypes and the NMS coefficients of every image it predicts."""

        grabbed: list = []

        def construct_result(self, pred, img, orig_img, img_path, proto):
            self.grabbed.append((proto.cpu().clone(), pred[:, 6:].cpu().clone()))
            return super().construct_result(pred, img, orig_img, img_path, proto)

    return GrabPredictor(overrides={"model": weights, "device": device, "verbose": False, "save": False})


def coefficients_code(weights: str, folder: Path, out: Path, backend: str, threads: int, batch: int) -> str:
    return (f"from yololens.jobs.coefficients import coefficients\n"
            f"r = coefficients({weights!r}, {str(folder)!r}, {str(out)!r}, batch={batch}, device='cpu', "
            f"backend={backend!r}, threads={threads}, overwrite=True, progress=False)\n"
            f"RESULT = {{'images': r.images, 'call_s': r.seconds}}")


def seed_code(weights: str, folder: Path, threads: int) -> str:
    here = str(Path(__file__).parent)
    return (f"import sys, torch, ultralytics.utils.torch_utils as tu; sys.path.insert(0, {here!r})\n"
            f"tu.NUM_THREADS = {threads}; torch.set_num_threads({threads})\n"
            f"from pathlib import Path\nfrom coefficients import make_seed_predictor\n"
            f"seed = make_seed_predictor({weights!r}, 'cpu')\n"
            f"for p in sorted(Path({str(folder)!r}).iterdir()):\n    list(seed(source=str(p), stream=True))\n"
            f"RESULT = {{'images': len(seed.grabbed)}}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", "--n", type=int, default=128, help="images (the base set cycled)")
    ap.add_argument("--batch", type=int, default=8, help="yololens batch size")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--rss", default="100,1000", help="image counts for the peak-RSS runs ('' to skip)")
    ap.add_argument("--methods", default="coefficients-torch,coefficients-openvino,ultra-b1,ultra-b8,ultra-shipped,"
                                         "seed-like")
    args = ap.parse_args()
    shared = shared_dir()
    weights = str(shared / "models/yolov8n-seg-coco.pt")
    T = args.threads
    chosen = [m for m in args.methods.split(",") if m]
    with tempfile.TemporaryDirectory(prefix="yololens-bench-") as tmp_name:
        tmp = Path(tmp_name)
        os.environ["YOLOLENS_CACHE"] = str(tmp / "cache")
        folder = image_folder(shared, args.images, tmp / "images")
        codes = {
            "coefficients-torch": coefficients_code(weights, folder, tmp / "out", "torch", T, args.batch),
            "coefficients-openvino": coefficients_code(weights, folder, tmp / "out", "openvino", T, args.batch),
            "ultra-b1": predict_code(weights, folder, 1, T),
            "ultra-b8": predict_code(weights, folder, 8, T),
            "ultra-shipped": predict_code(weights, folder, 8, None),
            "seed-like": seed_code(weights, folder, T),
        }
        if "coefficients-openvino" in chosen:  # the one-time export, apart from the timed runs
            first = run_child(codes["coefficients-openvino"])
            print(f"first coefficients --backend openvino (export + compile, cold): {first.wall_s:.1f} s")
        ips: dict[str, float] = {}
        call_s: dict[str, float] = {}
        print(f"{args.images} images (mixed shapes), {T} inference threads; whole-process wall time:")
        for name in chosen:
            run = run_child(codes[name])
            assert run.result["images"] == args.images, (name, run.result)
            ips[name] = args.images / run.wall_s
            if "call_s" in run.result:
                call_s[name] = run.result["call_s"]
            print(f"  {name:<24} {ips[name]:7.2f} img/s  {run.wall_s:6.1f} s  RSS {run.peak_rss_mb:5.0f} MB",
                  flush=True)

        from yololens.model.loading import load_model

        loaded = load_model(weights, device="cpu")
        floors = {}
        for backend in ("torch", "openvino"):
            if f"coefficients-{backend}" in chosen:
                fastest, floors[backend], speeds = best_raw_forward(loaded, [], folder, args.imgsz,
                                                                    max(8 * args.batch, 64), BATCHES, backend, T)
                print(f"  raw {backend} forward: " + ", ".join(f"batch {b}: {v:.2f}" for b, v in speeds.items())
                      + f" img/s (fastest: batch {fastest})")
        predicts = [v for k, v in ips.items() if k.startswith("ultra-")]
        print("ratios:")
        for backend, floor in floors.items():
            name = f"coefficients-{backend}"
            if predicts:
                print(ratio_line(f"{name} / best predict with masks", ips[name] / max(predicts), 1.5))
            print(ratio_line(f"{name} / raw {backend} forward (whole process)", ips[name] / floor, 0.85))
            print(ratio_line(f"{name} / raw {backend} forward (coefficients() call)",
                             args.images / call_s[name] / floor, 0.85))
        rss = {}
        for n in [int(x) for x in args.rss.split(",") if x.strip()]:
            rss_folder = image_folder(shared, n, tmp / f"rss{n}")
            rss[n] = run_child(coefficients_code(weights, rss_folder, tmp / f"rss{n}-out", "openvino", T,
                                                 args.batch)).peak_rss_mb
            print(f"peak RSS, coefficients --backend openvino, {n} images: {rss[n]:.0f} MB")
        if rss:
            print(ratio_line("peak RSS (MB), largest run", max(rss.values()), 2048, higher_is_better=False))
            print(ratio_line("RSS growth (largest / smallest run)", max(rss.values()) / min(rss.values()), 1.1,
                             higher_is_better=False))
        print(json.dumps({"img_per_s": ips, "raw_forward_img_per_s": floors, "peak_rss_mb": rss}))


if __name__ == "__main__":
    main()
