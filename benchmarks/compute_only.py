"""Compute only what is asked (issue 24): extract variants against Ultralytics predict at batch 1, in one run.

Every timed run is a fresh process (whole-process wall time: imports, model load, compile, decode, forward,
Parquet, exit; extract runs as the console script, `yololens extract ...`, as users run it) on the same folder of
real images (BDD100K 1280x720, COCO, Ultralytics' assets, cycled to --images), with the same --threads for every
method: predict pins torch threads, extract passes --threads, and every child gets OMP_NUM_THREADS=--threads
explicitly (importing ultralytics sets OMP_NUM_THREADS in os.environ, which a child would otherwise inherit,
silently measuring predict on one thread). Runs alternate (predict, then each variant) for --repeats rounds;
medians are reported. The OpenVINO exports and the int8 calibration are built once beforehand into a temporary
cache (timed apart: a one-time cost).

Targets (ratio of img/s to predict batch 1):
  extract --boxes gt --layers 9                 >= 1.8
  extract --boxes gt --layers 9,15,18,21        >= 1.3
  extract --precision int8 (pred, default layers) >= 1.5, keeping >= 95% of f32's confident detections
  extract (default: auto backend, f32)          reported (no regression: issue 24 measured 1.11-1.14)

Usage: python benchmarks/compute_only.py [--images 128] [--threads N] [--repeats 3] [--model PATH] [--backend torch]
       (smoke run: --images 8 --repeats 1 --calibration 8)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

from _harness import image_folder, predict_code, ratio_line, run_child, shared_dir
from precision_tolerance import cpu_name

GT_BOXES = ((0.5, 0.5, 0.3, 0.4), (0.25, 0.6, 0.2, 0.3), (0.75, 0.4, 0.15, 0.2))  # cx cy w h, normalised


def labelled_folder(shared: Path, n: int, root: Path) -> tuple[Path, Path]:
    """``n`` images (as the other benchmarks) plus a YOLO labels folder: three fixed boxes per image."""
    images = image_folder(shared, n, root / "images")
    labels = root / "labels"
    labels.mkdir(parents=True, exist_ok=True)
    for image in images.iterdir():
        (labels / f"{image.stem}.txt").write_text("".join(f"0 {cx} {cy} {w} {h}\n" for cx, cy, w, h in GT_BOXES))
    return images, labels


def extract_code(model: str, images: Path, labels: Path, out: Path, threads: int, boxes: str = "pred",
                 layers=None, precision: str = "f32", calibration: int = 300, backend: str = "auto") -> str:
    """``yololens extract ...`` as users run it: the console script's ``main`` (it exits through SystemExit,
    caught so the harness's footer can report; what main does before it exits, e.g. the heap freeze, is timed)."""
    argv = ["extract", "--model", model, "--source", str(images), "--out", str(out), "--boxes", boxes,
            "--device", "cpu", "--backend", backend, "--precision", precision, "--calibration", str(calibration),
            "--threads", str(threads), "--overwrite", "--no-progress"]
    if boxes != "pred":
        argv += ["--labels", str(labels)]
    if layers:
        argv += ["--layers", ",".join(map(str, layers))]
    return (f"import json, sys\nfrom yololens.cli.app import main\nsys.argv = ['yololens'] + {argv!r}\n"
            f"try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\n"
            f"m = json.load(open({str(out / 'manifest.json')!r}))\n"
            f"RESULT = {{'exit': code, 'images': m['counts']['images_processed'], "
            f"'run_s': m['timings_s']['run'], 'precision': m['params']['precision'], "
            f"'backend': m['params']['backend']}}")


def kept_share(f32_table: Path, other_table: Path) -> tuple[int, int]:
    """Of the f32 run's confident predictions, how many the other run keeps (engine.agreement's rule)."""
    import numpy as np
    import pyarrow.parquet as pq

    from yololens.engine.agreement import Agreement

    cols = ["image", "x1", "y1", "x2", "y2", "score", "class_id"]
    a, b = (pq.read_table(t, columns=cols).to_pandas() for t in (f32_table, other_table))
    agreement, groups = Agreement(), dict(tuple(b.groupby("image")))
    for image, ref in a.groupby("image"):
        other = groups.get(image, b.iloc[:0])
        agreement.add(ref[cols[1:5]].to_numpy(), ref["score"].to_numpy(), ref["class_id"].to_numpy(),
                      other[cols[1:5]].to_numpy(), other["class_id"].to_numpy(np.int64))
    return agreement.kept, agreement.confident


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="default: ../shared/models/yolov8n-seg-coco.pt")
    ap.add_argument("--images", type=int, default=128)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeats", type=int, default=3, help="alternating rounds; medians reported")
    ap.add_argument("--calibration", type=int, default=300, help="--precision int8 calibration images")
    ap.add_argument("--backend", default="auto", help="extract --backend of the f32 variants (int8 is OpenVINO)")
    args = ap.parse_args()
    shared = shared_dir()
    model = args.model or str(shared / "models" / "yolov8n-seg-coco.pt")
    T = args.threads
    from yololens.engine.backends.openvino_backend import cpu_has_bf16, cpu_int8_native

    native = cpu_int8_native()
    print(f"CPU: {cpu_name()} ({os.cpu_count()} cpus); bf16: {cpu_has_bf16()}; int8 dot products: "
          f"{native or 'NONE: int8 runs without VNNI/AMX here, slower than it would with them'}")
    print(f"model {model}; {args.images} images (mixed shapes); {T} threads for every method; "
          f"{args.repeats} alternating round(s), medians")
    with tempfile.TemporaryDirectory(prefix="yololens-compute-") as tmp_name:
        tmp = Path(tmp_name)
        env = {"YOLOLENS_CACHE": str(tmp / "cache"), "OMP_NUM_THREADS": str(T), "YOLOLENS_BACKEND": ""}
        images, labels = labelled_folder(shared, args.images, tmp / "ds")
        variants = {
            "extract --boxes gt --layers 9": dict(boxes="gt", layers=[9], backend=args.backend),
            "extract --boxes gt --layers 9,15,18,21": dict(boxes="gt", layers=[9, 15, 18, 21], backend=args.backend),
            "extract --precision int8": dict(precision="int8", calibration=args.calibration),
            "extract (default layers, f32)": dict(backend=args.backend),
        }
        codes = {name: extract_code(model, images, labels, tmp / f"out{i}", T, **kw)
                 for i, (name, kw) in enumerate(variants.items())}
        for name, code in codes.items():  # exports and calibration, once, into the temp cache
            cold = run_child(code, env)
            print(f"  cold {name} (export/calibration, once): {cold.wall_s:.1f} s "
                  f"[{cold.result.get('backend')}, {cold.result.get('precision')}]", flush=True)
        walls: dict[str, list[float]] = {"predict batch 1": [], **{name: [] for name in codes}}
        for r in range(args.repeats):
            for name in walls:
                code = predict_code(model, images, 1, T) if name == "predict batch 1" else codes[name]
                run = run_child(code, env)
                assert run.result.get("images", args.images) == args.images, (name, run.result)
                assert run.result.get("exit") in (None, 0), (name, run.result)
                walls[name].append(run.wall_s)
                print(f"  round {r + 1}: {name:<44} {args.images / run.wall_s:7.2f} img/s  {run.wall_s:6.1f} s",
                      flush=True)
        ips = {name: args.images / statistics.median(w) for name, w in walls.items()}
        kept, confident = kept_share(tmp / "out3" / "objects.parquet", tmp / "out2" / "objects.parquet")
        share = kept / confident if confident else float("nan")
        base = ips["predict batch 1"]
        print(f"ratios (img/s over predict batch 1 = {base:.2f} img/s, whole process, medians):")
        targets = {"extract --boxes gt --layers 9": 1.8, "extract --boxes gt --layers 9,15,18,21": 1.3,
                   "extract --precision int8": 1.5, "extract (default layers, f32)": 1.0}
        for name, target in targets.items():
            print(ratio_line(name, ips[name] / base, target))
        # each round's own ratio (predict and the variant measured minutes apart, not rounds apart): steadier
        # when the machine's speed drifts between rounds
        paired = {name: statistics.median(p / v for p, v in zip(walls["predict batch 1"], walls[name]))
                  for name in targets}
        print("paired (median of each round's ratio): "
              + ", ".join(f"{name.replace('extract ', '')} {r:.2f}" for name, r in paired.items()))
        print(ratio_line(f"int8: f32's confident detections kept ({kept}/{confident})", share, 0.95))
        if native is None:
            print("  note: this CPU has no VNNI/AMX: the int8 ratio is not what a CPU with them gets")
        print(json.dumps({"cpu": cpu_name(), "img_per_s": ips, "paired_ratio": paired, "walls_s": walls,
                          "int8_kept": [kept, confident]}))


if __name__ == "__main__":
    main()
