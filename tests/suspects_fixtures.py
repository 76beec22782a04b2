"""Larger labelled fixtures for `suspects`, built from the real frames of ../shared (never copied into the repo).

Each source image (the BDD frame, the two COCO images, and optionally the seed COCO images with labels given as
``extra``) becomes one *video*: ``copies`` augmented frames of it (a random crop keeping 70-100% of each side, a
horizontal flip half the time, a brightness change, a resize), its labels moved with the pixels (boxes clipped to
the crop; a box that keeps less than half its area is dropped). The same physical object therefore recurs in
every frame of its video with the same track id, as on BDD video labels, which is what the video exclusion of
`suspects` is for. Written in the BDD/Scalabel per-video layout ``images/<video>/<video>-<frame>.jpg`` +
``labels/<video>.json`` that `yololens extract` reads (video, frame_index, track_id columns).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance


def shared_sources(shared: Path) -> list[tuple[str, Path, list[tuple[str, list[float]]]]]:
    """``(name, image path, [(category, [x1, y1, x2, y2])])`` for the BDD frame and the COCO sample images."""
    out = []
    bdd = shared / "data" / "bdd100k_sample" / "detect"
    for frame in json.loads((bdd / "labels" / "annotation.json").read_text()):
        labs = [(lab["category"], [lab["box2d"][k] for k in ("x1", "y1", "x2", "y2")])
                for lab in frame["labels"] if "box2d" in lab]
        out.append((Path(frame["name"]).stem, bdd / "images" / frame["name"], labs))
    coco = shared / "data" / "coco_sample"
    data = json.loads((coco / "instances.json").read_text())
    names = {c["id"]: c["name"] for c in data["categories"]}
    for img in data["images"]:
        labs = [(names[a["category_id"]], [a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2],
                                           a["bbox"][1] + a["bbox"][3]])
                for a in data["annotations"] if a["image_id"] == img["id"] and not a.get("iscrowd")]
        out.append((Path(img["file_name"]).stem, coco / "images" / img["file_name"], labs))
    return out


def _augment(img: Image.Image, labs, rng: np.random.Generator):
    W, H = img.size
    cw, ch = W * rng.uniform(0.7, 1.0), H * rng.uniform(0.7, 1.0)
    x0, y0 = rng.uniform(0, W - cw), rng.uniform(0, H - ch)
    out = img.crop((int(x0), int(y0), int(x0 + cw), int(y0 + ch)))
    x0, y0 = int(x0), int(y0)
    cw, ch = out.size
    flip = rng.random() < 0.5
    if flip:
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    out = ImageEnhance.Brightness(out).enhance(rng.uniform(0.7, 1.3))
    scale = rng.uniform(0.75, 1.0)
    out = out.resize((max(32, int(cw * scale)), max(32, int(ch * scale))))
    sx, sy = out.size[0] / cw, out.size[1] / ch
    kept = []
    for k, (cat, (x1, y1, x2, y2)) in enumerate(labs):
        area = max(x2 - x1, 0) * max(y2 - y1, 0)
        a1, b1, a2, b2 = max(x1 - x0, 0), max(y1 - y0, 0), min(x2 - x0, cw), min(y2 - y0, ch)
        if a2 <= a1 or b2 <= b1 or (a2 - a1) * (b2 - b1) < 0.5 * area:
            continue
        if flip:
            a1, a2 = cw - a2, cw - a1
        kept.append((k, cat, [a1 * sx, b1 * sy, a2 * sx, b2 * sy]))
    return out, kept


def build_augmented_videos(sources, root: Path, copies: int = 8, seed: int = 0) -> tuple[Path, Path]:
    """Write ``copies`` augmented frames of every source as one video under ``root``; ``(images, labels)``."""
    rng = np.random.default_rng(seed)
    images, labels = root / "images", root / "labels"
    labels.mkdir(parents=True, exist_ok=True)
    for v, (name, path, labs) in enumerate(sources):
        video = f"v{v:02d}-{name}"
        (images / video).mkdir(parents=True, exist_ok=True)
        base = Image.open(path).convert("RGB")
        frames = []
        for f in range(copies):
            img, kept = _augment(base, labs, rng)
            fname = f"{video}-{f + 1:07d}.jpg"
            img.save(images / video / fname, quality=90)
            frames.append({"name": fname, "videoName": video, "frameIndex": f, "attributes": {},
                           "labels": [{"id": f"{v}-{k}", "category": cat, "attributes": {},
                                       "box2d": dict(zip(("x1", "y1", "x2", "y2"), map(float, box)))}
                                      for k, cat, box in kept]})
        (labels / f"{video}.json").write_text(json.dumps(frames))
    return images, labels
