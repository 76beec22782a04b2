"""Throughput of ``yololens coefficients --all`` against Ultralytics predict and a seed-style predictor.

    .venv/bin/python benchmarks/coefficients.py [--n 64] [--rounds 2] [--threads N] [--device cpu]

Images: the seed's 9 COCO images, bus.jpg, zidane.jpg and the BDD100K frames from ../shared,
repeated (as links) to at least ``--n``. Methods, each timed in the same process over the same
images, with masks computed:

* ``yololens`` : ``coefficients(..., all coefficients, mask_area)`` at ``--batch`` (table written);
* ``yololens-noarea``: the same without the ``mask_area`` column (no original-size masks);
* ``ultra-b1`` / ``ultra-b8``: ``YOLO.predict(folder, batch=1|8, stream=True)``, default masks;
* ``seed-like``: a ``SegmentationPredictor`` subclass that keeps each image's prototypes and
  coefficients, called once per image (the seed's approach).

Ultralytics' predictor sets ``torch.set_num_threads(cpu_count - 1)`` when it starts; every timed
section here sets ``--threads`` first, so all methods run with the same thread count. Each
method runs ``--rounds`` times (interleaved); the best round counts (shared machines are noisy).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    env = os.environ.get("YOLOLENS_SHARED")
    path = Path(env) if env else ROOT.parent / "shared"
    if not (path / "models").is_dir():
        raise SystemExit(f"{path}: shared data not found (set YOLOLENS_SHARED)")
    return path


def image_folder(shared: Path, n: int, tmp: Path) -> Path:
    from ultralytics.utils import ASSETS

    base = sorted((shared / "data/seed_coco_images").glob("*.jpg"))
    base += [Path(ASSETS) / "bus.jpg", Path(ASSETS) / "zidane.jpg"]
    base += sorted({p.name: p for p in (shared / "data/bdd100k_sample").rglob("*.jpg")}.values())
    folder = tmp / "images"
    folder.mkdir()
    for i in range(max(n, len(base))):
        src = base[i % len(base)]
        os.symlink(src, folder / f"{i:04d}_{src.name}")
    return folder


def make_seed_predictor(weights: str, device: str):
    from ultralytics.models.yolo.segment import SegmentationPredictor

    class GrabPredictor(SegmentationPredictor):
        """Keeps the prototypes and the NMS coefficients of every image it predicts."""

        grabbed: list = []

        def construct_result(self, pred, img, orig_img, img_path, proto):
            self.grabbed.append((proto.cpu().clone(), pred[:, 6:].cpu().clone()))
            return super().construct_result(pred, img, orig_img, img_path, proto)

    return GrabPredictor(overrides={"model": weights, "device": device, "verbose": False, "save": False})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=64, help="images (the base set repeated)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8, help="yololens batch size")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--methods", default="yololens,yololens-noarea,ultra-b1,ultra-b8,seed-like")
    args = ap.parse_args()

    from ultralytics import YOLO

    from yololens.seg.coefficients import coefficients
    from yololens.seg.common import seg_model

    shared = shared_dir()
    weights = str(shared / "models/yolov8n-seg-coco.pt")
    tmp = Path(tempfile.mkdtemp(prefix="yololens-bench-"))
    try:
        folder = image_folder(shared, args.n, tmp)
        paths = sorted(str(p) for p in folder.iterdir())
        loaded = seg_model(weights, "coefficients", device=args.device)
        yolo = YOLO(weights)
        seed = make_seed_predictor(weights, args.device)

        def ours(mask_area: bool):
            res = coefficients(loaded, folder, tmp / "out", batch=args.batch, mask_area=mask_area, overwrite=True,
                               progress=False)
            return res.images

        def ultra(batch: int):
            return sum(1 for _ in yolo.predict(str(folder), batch=batch, stream=True, verbose=False,
                                               device=args.device))

        def seed_like():
            seed.grabbed.clear()
            for p in paths:
                list(seed(source=p, stream=True))
            return len(seed.grabbed)

        methods = {"yololens": lambda: ours(True), "yololens-noarea": lambda: ours(False),
                   "ultra-b1": lambda: ultra(1), "ultra-b8": lambda: ultra(8), "seed-like": seed_like}
        chosen = [m for m in args.methods.split(",") if m]
        # warm-up: model setup, oneDNN kernels for each input shape
        for name in chosen:
            methods[name]()
        best: dict[str, float] = {}
        for r in range(args.rounds):
            for name in chosen:
                torch.set_num_threads(args.threads)
                t0 = time.perf_counter()
                count = methods[name]()
                dt = time.perf_counter() - t0
                assert count == len(paths), (name, count)
                best[name] = min(best.get(name, float("inf")), dt)
                print(f"round {r}: {name:16s} {len(paths) / dt:6.2f} img/s ({dt:.1f} s)", flush=True)
        print(f"\n{len(paths)} images, torch threads {args.threads}, device {args.device}, yololens batch {args.batch}")
        ultra_best = max(len(paths) / best[m] for m in ("ultra-b1", "ultra-b8") if m in best) if any(
            m in best for m in ("ultra-b1", "ultra-b8")) else None
        for name in chosen:
            ips = len(paths) / best[name]
            ratio = f"  {ips / ultra_best:.2f}x Ultralytics' best predict" if ultra_best else ""
            print(f"{name:16s} {ips:6.2f} img/s{ratio}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
