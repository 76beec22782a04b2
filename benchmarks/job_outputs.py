"""Fingerprint what `extract` and `coefficients` write, local and on Ray, to prove a refactor changed no byte.

Runs both jobs on small real fixtures (../shared: the seed COCO images, the COCO sample with its labels) with
one inference thread (a Ray worker computes on one), then prints one JSON object: for every case, the sha256 of
every file under its OUT (``manifest.json`` apart: it holds times and versions; its ``params`` and ``counts``
are listed instead; lock files hold a pid). Run it on two checkouts and compare the outputs:

    PYTHONPATH=/path/to/old python benchmarks/job_outputs.py > old.json
    PYTHONPATH=/path/to/new python benchmarks/job_outputs.py > new.json
    python benchmarks/job_outputs.py --compare old.json new.json   # exit 1 when a file differs

Usage: python benchmarks/job_outputs.py [--no-ray] [--shared DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import sys
import tempfile
from pathlib import Path

RUN = dict(imgsz=320, batch=2, backend="torch", threads=1, progress=False)


def _files(out: Path) -> dict:
    found = {}
    for p in sorted(out.rglob("*")):
        # the manifest holds times and versions, a lock file the holder's pid: listed apart / left out
        if p.is_file() and p.name not in ("manifest.json", ".yololens.lock") and ".yololens-ray-" not in p.name:
            found[str(p.relative_to(out))] = hashlib.sha256(p.read_bytes()).hexdigest()
    manifest = out / "manifest.json"
    if manifest.exists():
        m = json.loads(manifest.read_text())
        found["manifest.json:params"] = {k: v for k, v in m["params"].items() if k != "out"}
        found["manifest.json:counts"] = {k: v for k, v in m["counts"].items() if k != "images_per_s"}
    return found


def cases(shared: Path, tmp: Path, ray: bool) -> dict:
    from yololens.jobs.coefficients import coefficients
    from yololens.jobs.extract import extract

    window_kw = "window" if "window" in inspect.signature(extract).parameters else "chunk_images"
    det, seg = shared / "models/yolov8n-coco.pt", shared / "models/yolov8n-seg-coco.pt"
    seed = shared / "data/seed_coco_images"
    coco = shared / "data/coco_sample"
    executors = ["local", "ray"] if ray else ["local"]
    results = {}
    for ex in executors:
        out = tmp / f"extract-det-{ex}"
        extract(det, seed, out=out, layers=[9, 15], crops=True, executor=ex, **{window_kw: 2}, **RUN)
        results[f"extract det crops ({ex})"] = _files(out)
        out = tmp / f"extract-seg-{ex}"
        extract(seg, coco / "images", coco / "instances.json", out=out, layers=[9, 15], boxes="both",
                pool="both", executor=ex, **{window_kw: 1}, **RUN)
        results[f"extract seg labels both ({ex})"] = _files(out)
        out = tmp / f"coef-csv-{ex}"
        coefficients(seg, seed, out, indices=[0, 3], save_prototype_png=True, report=True, window=3, executor=ex,
                     **RUN)
        results[f"coefficients csv report pngs ({ex})"] = _files(out)
        out = tmp / f"coef-parquet-{ex}"
        coefficients(seg, seed, out, table="c.parquet", layout="seed", window=2, executor=ex, **RUN)
        results[f"coefficients parquet seed ({ex})"] = _files(out)
    return results


def compare(old: Path, new: Path) -> int:
    a, b = json.loads(old.read_text()), json.loads(new.read_text())
    bad = 0
    for case in sorted(set(a) | set(b)):
        fa, fb = a.get(case, {}), b.get(case, {})
        keys = [k for k in sorted(set(fa) | set(fb)) if not k.endswith(".yololens.lock")]  # a pid
        files = [k for k in keys if not k.startswith("manifest.json:") and fa.get(k) != fb.get(k)]
        print(f"{'same' if not files else 'DIFFERENT'}: {case} ({len(fa)} entries)")
        for k in files:
            print(f"    {k}: {fa.get(k)!r} -> {fb.get(k)!r}")
        for k in (k for k in keys if k.startswith("manifest.json:")):  # names may change; listed, not failed
            ma, mb = fa.get(k) or {}, fb.get(k) or {}
            changed = {n: (ma.get(n), mb.get(n)) for n in sorted(set(ma) | set(mb))
                       if ma.get(n) != mb.get(n) and n != "table"}  # table: a temporary path
            if changed:
                print(f"    {k} (not a file): {changed}")
        bad += bool(files)
    return 1 if bad else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=os.environ.get("YOLOLENS_SHARED", "../shared"))
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("OLD", "NEW"))
    args = ap.parse_args()
    if args.compare:
        sys.exit(compare(*args.compare))
    if not args.no_ray:
        import ray

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(cases(Path(args.shared), Path(tmp), not args.no_ray), indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
