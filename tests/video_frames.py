"""A BDD100K tracking/MOTS-style layout built from the one real BDD frame of ../shared.

``images/<video>/<video>-<frame>.jpg`` and ``labels/<video>.json``: one Scalabel list of frames per video,
each frame with ``name``, ``videoName``, ``frameIndex`` and labels whose ``id`` is the track id. The frame is
copied under every name; boxes move by a few pixels per frame, so every track is one physical object seen
several times (which is what makes ungrouped folds leak).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

VIDEOS = ("b1c66a42-6f7d68ca", "b1c81faa-3df17267", "b1d0091f-75824d0d", "b1d10d08-c35503b8")
FRAMES_PER_VIDEO = 3


def build_video_frames(detect: Path, root: Path, videos=VIDEOS, frames: int = FRAMES_PER_VIDEO) -> tuple[Path, Path]:
    """Write the layout under ``root``; returns ``(images dir, labels dir)``.

    ``detect``: the shared ``bdd100k_sample/detect`` folder (1 frame, 10 boxes).
    """
    base = json.loads((detect / "labels" / "annotation.json").read_text())[0]
    image = next((detect / "images").iterdir())
    images, labels = root / "images", root / "labels"
    labels.mkdir(parents=True, exist_ok=True)
    for v, video in enumerate(videos):
        (images / video).mkdir(parents=True, exist_ok=True)
        frames_json = []
        for f in range(frames):
            name = f"{video}-{f + 1:07d}.jpg"
            shutil.copy(image, images / video / name)
            shift = 2.0 * f + v  # the object moves a little from frame to frame
            labs = []
            for k, lab in enumerate(base["labels"]):
                if "box2d" not in lab:
                    continue
                b = lab["box2d"]
                labs.append({"id": f"{v}{k:03d}", "category": lab["category"], "attributes": lab["attributes"],
                             "box2d": {"x1": b["x1"] + shift, "y1": b["y1"], "x2": b["x2"] + shift, "y2": b["y2"]}})
            frames_json.append({"name": name, "videoName": video, "frameIndex": f, "attributes": base["attributes"],
                                "labels": labs})
        (labels / f"{video}.json").write_text(json.dumps(frames_json))
    return images, labels
