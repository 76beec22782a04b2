"""The tolerance of ``--precision bf16|int8`` against the f32 torch path (the docs/PRECISION.md table).

Images: the real frames of ../shared (BDD100K 1280x720, COCO) and Ultralytics' two assets, each also flipped,
resized and cropped (disjoint variants for calibration and evaluation: int8 is calibrated on the flipped and
shrunk copies, measured on the originals and the crops). For each model: the share of f32's confident
detections (score >= 0.5) that the reduced precision keeps (same class, IoU >= 0.9), and the cosine of the box
embeddings to f32's (median, 1st percentile) at the default layers.

Usage: python benchmarks/precision_tolerance.py [--models det,seg] [--calibration 300]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path

import cv2

from _harness import base_images, shared_dir

CALIBRATION_VARIANTS = ("flip", "shrink")
EVAL_VARIANTS = ("orig", "crop")


def variant(image, kind: str):
    h, w = image.shape[:2]
    if kind == "flip":
        return image[:, ::-1].copy()
    if kind == "shrink":
        return cv2.resize(image, (max(w * 3 // 5, 32), max(h * 3 // 5, 32)), interpolation=cv2.INTER_AREA)
    if kind == "crop":
        return image[h // 10: h - h // 10, w // 8: w - w // 8].copy()
    return image


def write_variants(paths: list[Path], kinds, folder: Path) -> Path:
    from yololens.model import ultra

    folder.mkdir(parents=True, exist_ok=True)
    for path in paths:
        image = ultra.imread(str(path))
        for kind in kinds:
            cv2.imwrite(str(folder / f"{path.stem}_{kind}.jpg"), variant(image, kind), [cv2.IMWRITE_JPEG_QUALITY, 95])
    return folder


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="det,seg")
    ap.add_argument("--calibration", type=int, default=300)
    args = ap.parse_args()
    from yololens.engine.agreement import Agreement, compare_runs
    from yololens.engine.backends import prepare_model
    from yololens.engine.backends.openvino_backend import cpu_has_bf16, cpu_int8_native
    from yololens.engine.runner import Runner
    from yololens.model.catalogue import resolve_layers
    from yololens.sources.resolve import open_source

    shared = shared_dir()
    weights = {"det": shared / "models/yolov8n-coco.pt", "seg": shared / "models/yolov8n-seg-coco.pt"}
    print(f"CPU: {cpu_name()}; bf16: {cpu_has_bf16()}, int8 dot products: {cpu_int8_native() or 'none (slower)'}")
    with tempfile.TemporaryDirectory(prefix="yololens-prec-") as tmp_name:
        tmp = Path(tmp_name)
        os.environ.setdefault("YOLOLENS_CACHE", str(tmp / "cache"))
        base = base_images(shared)
        calib = open_source(str(write_variants(base, CALIBRATION_VARIANTS, tmp / "calib"))).records
        evaluation = open_source(str(write_variants(base, EVAL_VARIANTS, tmp / "eval"))).records
        from yololens.model import ultra

        images = [ultra.imread(str(r.path)) for r in evaluation]
        print(f"{len(images)} evaluation images, {len(calib)} calibration images (disjoint variants)")
        print(f"{'model':<6} {'precision':<9} {'kept':>14} " + "  ".join(f"{'cos L' + str(x):>16}" for x in (9, 15, 18, 21)))
        for key in args.models.split(","):
            loaded, _ = prepare_model(str(weights[key]), device="cpu", backend="torch")
            layers = resolve_layers(loaded, None)
            ref = Runner(loaded, layers=layers, backend="torch")
            for precision in ("bf16", "int8"):
                _, compute = prepare_model(loaded, backend="openvino", precision=precision,
                                           calibration=args.calibration)
                runner = Runner(loaded, layers=layers, **compute.calibrated_on(calib).runner_kwargs())
                agreement = compare_runs(ref, runner, images, layers, Agreement())
                cos = agreement.cosine_summary()
                cells = "  ".join(f"{cos[x]['median']:.4f}/{cos[x]['p1']:.4f}" for x in layers)
                print(f"{key:<6} {runner.backend.precision!s:<9} {agreement.kept:>4}/{agreement.confident:<4} "
                      f"{agreement.kept_share:6.1%}  {cells}", flush=True)


if __name__ == "__main__":
    main()
