"""Builds the bad-input corpus for the reliability tests, in a tmp dir (nothing binary is committed).

Every case is described by a :class:`Case`: the file as it appears in outputs, the action
yololens must take (``skipped`` / ``clipped`` / ``kept`` / ``ok``) and a substring of the
one-line reason. The tests assert each case through the CLI.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Case:
    """One corpus entry.

    Attributes:
        file: how the entry is named in ``manifest.json``'s ``skipped`` (relative name) or in the table.
        action: ``skipped``/``clipped``/``kept`` (must appear once in ``skipped``) or ``ok`` (must not).
        reason: substring of the expected reason (``ok``: unused).
        rows: ``ok`` images only: must produce at least one row (it holds objects the model finds).
    """

    file: str
    action: str
    reason: str = ""
    rows: bool = False


# ------------------------------------------------------------------------------------ images


def _bgr(assets: Path, name: str = "bus.jpg") -> np.ndarray:
    image = cv2.imread(str(assets / name))
    assert image is not None, assets / name
    return image


def exif_rotated_jpeg(path: Path, bgr: np.ndarray, orientation: int = 6) -> Path:
    """``bgr`` stored as a JPEG whose EXIF says ``orientation`` (6: display rotated 90° clockwise)."""
    im = Image.fromarray(bgr[..., ::-1])
    exif = im.getexif()
    exif[0x0112] = orientation
    im.save(path, quality=95, exif=exif.tobytes())
    return path


def png_header_only(path: Path, w: int, h: int) -> Path:
    """A PNG whose header claims ``w`` x ``h`` but holds almost no pixel data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def build_image_corpus(root: Path, assets: Path, big: bool = True) -> list[Case]:
    """Good images plus every kind of bad/odd image file under ``root`` (a fresh folder).

    Odd-but-valid images are made from ``bus.jpg`` so the model finds objects in them.
    ``big``: include the 8000x6000 JPEG (~0.5 s to decode).
    """
    root.mkdir(parents=True, exist_ok=True)
    bus = _bgr(assets, "bus.jpg")
    cases: list[Case] = []

    # good images
    shutil.copy(assets / "bus.jpg", root / "good_bus.jpg")
    shutil.copy(assets / "zidane.jpg", root / "good_zidane.jpg")
    cases += [Case("good_bus.jpg", "ok", rows=True), Case("good_zidane.jpg", "ok", rows=True)]

    # unusable files
    (root / "zero.jpg").write_bytes(b"")
    cases.append(Case("zero.jpg", "skipped", "empty file (0 bytes)"))
    data = (assets / "bus.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(data[: len(data) // 3])
    cases.append(Case("truncated.jpg", "skipped", "truncated image data"))
    (root / "text.png").write_text("I am a text file, not a picture\n")
    cases.append(Case("text.png", "skipped", "not an image"))
    png_header_only(root / "bomb.png", 20000, 20000)
    cases.append(Case("bomb.png", "skipped", "too large"))

    # odd but valid: decoded like Ultralytics (3-channel BGR uint8, EXIF applied)
    cv2.imwrite(str(root / "gray.png"), cv2.cvtColor(bus, cv2.COLOR_BGR2GRAY))
    cases.append(Case("gray.png", "ok", rows=True))
    Image.fromarray(np.dstack([bus[..., ::-1], np.full(bus.shape[:2], 128, np.uint8)]), "RGBA").save(root / "rgba.png")
    cases.append(Case("rgba.png", "ok", rows=True))
    cv2.imwrite(str(root / "deep16.png"), bus.astype(np.uint16) * 257)
    cases.append(Case("deep16.png", "ok", rows=True))
    Image.fromarray(bus[..., ::-1]).convert("P").save(root / "palette.gif")
    os.replace(root / "palette.gif", root / "palette_gif.jpg")
    cases.append(Case("palette_gif.jpg", "ok", rows=True))
    # stored rotated 90° counter-clockwise; orientation 6 turns it back upright, so the model sees the bus
    exif_rotated_jpeg(root / "exif6.jpg", cv2.rotate(bus, cv2.ROTATE_90_COUNTERCLOCKWISE))
    cases.append(Case("exif6.jpg", "ok", rows=True))
    cv2.imwrite(str(root / "one_pixel.png"), bus[:1, :1])
    cases.append(Case("one_pixel.png", "ok"))
    cv2.imwrite(str(root / "thin_1x8000.png"), cv2.resize(bus, (8000, 1)))  # letterboxed to 1 row, not 0
    cases.append(Case("thin_1x8000.png", "ok"))
    cv2.imwrite(str(root / "tall_8000x2.png"), cv2.resize(bus, (2, 8000)))
    cases.append(Case("tall_8000x2.png", "ok"))
    if big:
        cv2.imwrite(str(root / "huge_8000x6000.jpg"), cv2.resize(bus, (8000, 6000), interpolation=cv2.INTER_LINEAR),
                    [cv2.IMWRITE_JPEG_QUALITY, 80])
        cases.append(Case("huge_8000x6000.jpg", "ok", rows=True))

    # filesystem oddities
    (root / "folder.jpg").mkdir()
    cases.append(Case("folder.jpg", "skipped", "is a directory"))
    (root / "loop").symlink_to(".", target_is_directory=True)
    cases.append(Case("loop", "skipped", "symlink loop"))
    (root / "self_loop.jpg").symlink_to("self_loop.jpg")
    cases.append(Case("self_loop.jpg", "skipped", "symlink loop"))
    (root / "dangling.jpg").symlink_to("does_not_exist.jpg")
    cases.append(Case("dangling.jpg", "skipped", "broken symlink"))
    return cases


# ------------------------------------------------------------------------------------ labels


def _box(x1, y1, x2, y2) -> dict:
    return {"x1": x1, "y1": y1, "x2": x2, "y2": y2}


def build_bdd_corpus(root: Path, assets: Path) -> tuple[Path, Path, list[Case]]:
    """``(images folder, labels json, cases)``: one valid JSON whose frames hold every label problem.

    Case ``file`` is the location prefix the parser writes (``<json>[frame <name>`` ...).
    """
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    shutil.copy(assets / "bus.jpg", images / "bus.jpg")  # 810 x 1080
    shutil.copy(assets / "zidane.jpg", images / "zidane.jpg")  # 1280 x 720
    shutil.copy(assets / "bus.jpg", images / "nolabels.jpg")
    shutil.copy(assets / "bus.jpg", images / "dup.jpg")
    good = {"id": "g1", "category": "bus", "box2d": _box(20, 230, 800, 750)}
    frames = [
        {"name": "bus.jpg", "attributes": {"weather": "clear"}, "labels": [
            good,
            {"id": "u1", "category": "unicorn", "box2d": _box(50, 400, 250, 900)},
            {"id": "z1", "category": "car", "box2d": _box(10, 10, 10, 50)},
            {"id": "n1", "category": "car", "box2d": _box(300, 300, 200, 400)},
            {"id": "o1", "category": "person", "box2d": _box(700, 600, 900, 1200)},
            {"id": "x1", "category": "car", "box2d": _box(2000, 2000, 2100, 2100)},
            {"id": "nan1", "category": "car", "box2d": _box(float("nan"), 10, 40, 50)},
        ]},
        {"name": "nolabels.jpg"},
        {"name": "missing.jpg", "labels": [good]},
        {"name": "dup.jpg", "labels": [good]},
        {"name": "dup.jpg", "labels": [good]},
        {"name": "zidane.jpg", "labels": [{"id": "p1", "category": "person", "box2d": _box(740, 50, 1150, 715)}]},
    ]
    labels = root / "labels.json"
    labels.write_text(json.dumps(frames))  # NaN is written as the JSON literal NaN, which Python reads back
    f = "labels.json[frame "
    cases = [
        Case(f + "bus.jpg, label 2]", "skipped", "zero-area box"),
        Case(f + "bus.jpg, label 3]", "skipped", "negative box"),
        Case(f + "bus.jpg, label 4]", "clipped", "extends outside the 810x1080 image"),
        Case(f + "bus.jpg, label 5]", "skipped", "outside the 810x1080 image"),
        Case(f + "bus.jpg, label 6]", "skipped", "non-finite box coordinates"),
        Case(f + "nolabels.jpg]", "kept", "no 'labels' key"),
        Case(f + "missing.jpg]", "skipped", "image not found"),
        Case(f + "dup.jpg]", "skipped", "duplicate frame name"),
    ]
    return images, labels, cases


def build_coco_corpus(root: Path, assets: Path) -> tuple[Path, Path]:
    """A COCO JSON whose second annotation names an image id that does not exist."""
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    shutil.copy(assets / "bus.jpg", images / "bus.jpg")
    coco = {
        "images": [{"id": 1, "file_name": "bus.jpg", "width": 810, "height": 1080}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "bbox": [20, 230, 780, 520]},
            {"id": 11, "image_id": 999, "category_id": 1, "bbox": [0, 0, 10, 10]},
        ],
        "categories": [{"id": 1, "name": "bus"}],
    }
    labels = root / "coco.json"
    labels.write_text(json.dumps(coco))
    return images, labels


def build_yolo_corpus(root: Path, assets: Path) -> tuple[Path, Path]:
    """``images/`` + ``labels/``: line 1 valid, line 2 has 4 columns, line 3 has values > 1."""
    images, labels = root / "images", root / "labels"
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    shutil.copy(assets / "bus.jpg", images / "bus.jpg")
    (labels / "bus.txt").write_text("5 0.5 0.45 0.95 0.5\n0 0.5 0.5 0.2\n0 1.5 0.5 0.2 0.3\n")
    return images, labels


# ------------------------------------------------------------------------------------ many images


def build_many(root: Path, assets: Path, n: int, extra: list[Path] = ()) -> list[Path]:
    """``n`` images with unique names (symlinks to bus.jpg, zidane.jpg and ``extra`` in turn)."""
    root.mkdir(parents=True, exist_ok=True)
    pool = [assets / "bus.jpg", assets / "zidane.jpg", *extra]
    paths = []
    for i in range(n):
        src = pool[i % len(pool)]
        dst = root / f"img_{i:04d}{src.suffix}"
        dst.symlink_to(src.resolve())
        paths.append(dst)
    return paths


# ------------------------------------------------------------------ issue 12: reliability round two


def build_mixed_attribute_bdd(root: Path, assets: Path) -> tuple[Path, Path]:
    """Three BDD frames whose ``occluded`` is ``false`` (bool) in one frame and ``"no"`` (string) in another,
    and whose frame ``weather`` is a string in one frame and a number in another."""
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        shutil.copy(assets / "bus.jpg", images / name)
    box = _box(20, 230, 800, 750)
    frames = [
        {"name": "a.jpg", "attributes": {"weather": "clear"},
         "labels": [{"id": "a1", "category": "bus", "box2d": box, "attributes": {"occluded": False}}]},
        {"name": "b.jpg", "attributes": {"weather": 3},
         "labels": [{"id": "b1", "category": "bus", "box2d": box, "attributes": {"occluded": "no"}}]},
        {"name": "c.jpg", "labels": [{"id": "c1", "category": "bus", "box2d": box, "attributes": {"truncated": True}}]},
    ]
    labels = root / "labels.json"
    labels.write_text(json.dumps(frames))
    return images, labels


#: File names that once escaped ``--out``, collided or were too long (issue 12, cases 3-5).
HOSTILE_NAMES = ("...jpg", "..jpg", "a b.jpg", "a_b.jpg", "é ü.jpg", "ñ.jpg", "-x.jpg", "A B.jpg",
                 "n" * 251 + ".jpg", "deep/" + "m" * 248 + ".jpg")  # 255 bytes: the longest legal name; 252 in a folder


def build_hostile_names(root: Path, assets: Path, names=HOSTILE_NAMES) -> list[str]:
    """One copy of ``bus.jpg`` per name in ``names`` under ``root``; returns the names."""
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(assets / "bus.jpg", root / name)
    return list(names)


def build_special_files(root: Path, assets: Path) -> list[Case]:
    """A FIFO named like an image beside a good image (issue 12, case 15); a non-image with a huge size and a
    fake ``.jpg`` name (case 7, made sparse: no disk is used)."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(assets / "bus.jpg", root / "good.jpg")
    os.mkfifo(root / "pipe.jpg")
    with open(root / "video.jpg", "wb") as fh:  # 1.5 GB of zeros after a few bytes of an MP4-like header
        fh.write(b"\x00\x00\x00\x18ftypmp42")
        fh.truncate(1_500_000_000)
    return [Case("pipe.jpg", "skipped", "is a FIFO (named pipe), not a regular file"),
            Case("video.jpg", "skipped", "file too large")]


# ------------------------------------------------------------- CLI helpers shared by the reliability tests


def invoke(args: list) -> object:
    """Run the CLI in-process; a Python exception other than SystemExit is re-raised (a bug, not an answer)."""
    from typer.testing import CliRunner

    from yololens.cli.app import app

    res = CliRunner().invoke(app, [str(a) for a in args])
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res


def error_line(res) -> str:
    """The single ``error: ...`` line of a failed run (never a traceback)."""
    lines = [ln for ln in res.output.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in res.output, res.output
    return lines[0]


def synthetic_run(root: Path, extra: dict | None = None, n: int = 60) -> Path:
    """A synthetic run folder (``n`` objects on 2 images, emb_L9) with extra columns ``{name: values}``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from yololens.analysis.synthetic import make_objects_table

    path = make_objects_table(root, n, n_images=2, seed=1, dims={"emb_L9": 8})
    table = pq.read_table(path)
    for name, values in (extra or {}).items():
        table = table.append_column(name, pa.array(values))
    pq.write_table(table, path)
    return root
