"""Validation of `yololens suspects` on a realistic fixture built from the real frames of ../shared.

Sources: the BDD100K frame and the two COCO-sample images with their labels, plus the seed COCO images and
Ultralytics' two assets labelled by the model itself (yolov8n-coco predictions at conf >= 0.5: pseudo-labels, so
the detector baseline is favoured on those images, said in the output). Each source becomes one video of
``--copies`` augmented frames (tests/suspects_fixtures.py), extracted with yolov8n-coco (``--boxes both``), then
`suspects --inject-noise` runs twice: neighbours from other *videos* (the default on video frames: honest) and from
other *images* only (the same physical object in another frame counts: leaks).

    python benchmarks/suspects_fixture.py --copies 12 --out /tmp/suspects_fixture
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))


def pseudo_labelled(shared: Path, work: Path, model: Path) -> list:
    """``(name, path, [(class, box)])`` for the seed COCO images and Ultralytics' assets, labelled by ``model``."""
    import pandas as pd

    import yololens
    from _harness import base_images

    images = [p for p in base_images(shared) if "bdd100k" not in str(p)]
    listing = work / "pseudo.txt"
    listing.write_text("\n".join(str(p) for p in images) + "\n")
    res = yololens.extract(str(model), str(listing), out=work / "pseudo_run", boxes="pred", conf=0.5,
                           progress=False, overwrite=True, layers="9")
    df: pd.DataFrame = res.to_pandas()
    by_name = {p.name: p for p in images}
    out = []
    for image, rows in df.groupby("image", sort=True):
        path = by_name[Path(image).name]
        out.append((path.stem, path, [(r.class_name, [r.x1, r.y1, r.x2, r.y2]) for r in rows.itertuples()]))
    return out


def build_fixture(out: Path, copies: int, seed: int = 0) -> tuple[Path, list, Path, Path]:
    """``(model, sources, images, labels)``: the video fixture of ``copies`` frames per source under ``out``."""
    from _harness import shared_dir
    from suspects_fixtures import build_augmented_videos, shared_sources

    shared = shared_dir()
    model = shared / "models" / "yolov8n-coco.pt"
    out.mkdir(parents=True, exist_ok=True)
    sources = shared_sources(shared) + pseudo_labelled(shared, out, model)
    images, labels = build_augmented_videos(sources, out / "fixture", copies=copies, seed=seed)
    return model, sources, images, labels


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=12)
    ap.add_argument("--out", type=Path, default=Path("/tmp/suspects_fixture"))
    ap.add_argument("--noise", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import yololens

    model, sources, images, labels = build_fixture(args.out, args.copies, args.seed)
    t = time.perf_counter()
    run = yololens.extract(str(model), str(images), str(labels), out=args.out / "run", boxes="both", progress=False,
                           overwrite=True, crops=True)
    print(f"fixture: {len(sources)} sources x {args.copies} frames, extract {time.perf_counter() - t:.0f} s")
    for group_by in ("auto", "image"):
        rep = yololens.suspects(run, inject_noise=args.noise, seed=args.seed, group_by=group_by)
        print(f"\n== neighbours: {rep.grouping}")
        print(rep.headline)
        print(rep.finding)
        print("unscored (class has no object outside the own group):", rep.unscored)
        cols = ["noise", "ranking", "precision_at_k", "precision_at_k_lo", "precision_at_k_hi", "ap", "ap_lo", "ap_hi"]
        print(rep.evaluation[cols].to_string(index=False, float_format="%.3f"))


if __name__ == "__main__":
    main()
