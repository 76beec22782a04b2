"""Peak RSS of the two pooling cases of issue #19 (item 4), each in a fresh process.

* ``masks``: ``extract --pool mask --boxes gt`` on one 1280x720 frame with ``N`` labelled polygon masks;
* ``boxes``: ``extract --pool-size 64 --boxes gt --layers 9`` on one frame with ``N`` boxes.

The model is built from ``yolov8n-seg.yaml`` (no weights needed: memory does not depend on them). Peak RSS
is the child's ``VmHWM`` (the kernel's high-water mark of that process, so nothing between two samples is
missed). ``--yololens PATH`` measures another checkout (e.g. main, for the before numbers).

    python benchmarks/pool_memory.py --masks 2500 --boxes 1000            # the issue's sizes
    python benchmarks/pool_memory.py --masks 100 --boxes 50               # a quick check
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
W, H = 1280, 720


def build_frame(root: Path, n: int) -> tuple[Path, Path]:
    """One 1280x720 JPEG and a COCO JSON with ``n`` box+polygon annotations on a grid (overlapping)."""
    import numpy as np
    from PIL import Image

    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)).save(images / "frame.jpg")
    anns = []
    for k in range(n):
        x, y = float(rng.uniform(0, W - 200)), float(rng.uniform(0, H - 200))
        w, h = float(rng.uniform(20, 200)), float(rng.uniform(20, 200))
        poly = [x, y, x + w, y, x + w / 2, y + h]
        anns.append({"id": k + 1, "image_id": 1, "category_id": 1, "bbox": [x, y, w, h], "area": w * h / 2,
                     "iscrowd": 0, "segmentation": [poly]})
    coco = {"images": [{"id": 1, "file_name": "frame.jpg", "width": W, "height": H}], "annotations": anns,
            "categories": [{"id": 1, "name": "thing"}]}
    labels = root / "coco.json"
    labels.write_text(json.dumps(coco))
    return images, labels


CHILD = """
import json, sys
from yololens import extract
images, labels, out, case = sys.argv[1:5]
kw = dict(pool="mask") if case == "masks" else dict(pool_size=64)
res = extract("yolov8n-seg.yaml", images, labels, out=out, boxes="gt", layers=[9] if case == "boxes" else None,
              imgsz=640, batch=1, workers=0, progress=False, backend="torch", **kw)
status = open("/proc/self/status").read()
print(json.dumps({"rss_mb": int(status.split("VmHWM:")[1].split()[0]) / 1024, "objects": res.objects}))
"""


def peak_rss_mb(case: str, n: int, yololens: Path = ROOT) -> dict:
    """``{"rss_mb": peak RSS of the child in MiB, "objects": rows written}`` for one case with ``n`` objects."""
    with tempfile.TemporaryDirectory() as tmp:
        images, labels = build_frame(Path(tmp), n)
        env = {**os.environ, "PYTHONPATH": str(yololens)}
        proc = subprocess.run([sys.executable, "-c", CHILD, str(images), str(labels), str(Path(tmp) / "out"), case],
                              capture_output=True, text=True, env=env, cwd=tmp)
        if proc.returncode != 0:
            raise RuntimeError(f"{case} n={n} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--masks", type=int, default=2500)
    ap.add_argument("--boxes", type=int, default=1000)
    ap.add_argument("--yololens", type=Path, default=ROOT, help="checkout to measure (default: this one)")
    args = ap.parse_args()
    for case, n in (("masks", args.masks), ("boxes", args.boxes)):
        small = peak_rss_mb(case, 10, args.yololens)
        big = peak_rss_mb(case, n, args.yololens)
        print(f"{case}: peak RSS {small['rss_mb']:.0f} MiB with 10 objects, {big['rss_mb']:.0f} MiB with {n} "
              f"({big['objects']} rows), growth {big['rss_mb'] - small['rss_mb']:.0f} MiB")


if __name__ == "__main__":
    main()
