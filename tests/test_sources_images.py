"""Image listing, decoding and header sizes, including a bad-input corpus built in tmp_path."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from yololens.errors import InputError
from yololens.sources.images import (
    IMAGE_SUFFIXES,
    ImageDecodeError,
    ImageFinder,
    decode_image,
    list_images,
    read_image_list,
    read_image_size,
)


def _pixels(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _write(path: Path, h: int = 20, w: int = 30) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), _pixels(h, w))
    return path


def _png_header_only(path: Path, w: int, h: int) -> Path:
    """A PNG whose header claims w x h (no pixel data): lets us test the size limit cheaply."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)  # far too little data for w x h
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


# ----------------------------------------------------------------------------------- listing


def test_image_suffixes_are_the_documented_set():
    assert IMAGE_SUFFIXES == (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def test_list_images_recursive_sorted_case_insensitive(tmp_path):
    for rel in ["b.jpg", "a/z.PNG", "a/b/c.webp", "A.JPEG", "notes.txt", "a/data.json", "x.gif"]:
        if rel.endswith((".txt", ".json", ".gif")):
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / rel).write_text("x")
        else:
            _write(tmp_path / rel)
    paths, skips = list_images(tmp_path)
    rels = [p.relative_to(tmp_path).as_posix() for p in paths]
    assert rels == ["A.JPEG", "a/b/c.webp", "a/z.PNG", "b.jpg"]
    assert skips == []


def test_list_images_is_deterministic(tmp_path):
    for i in range(30):
        _write(tmp_path / f"d{i % 3}" / f"{i:03d}.png", 4, 4)
    first, _ = list_images(tmp_path)
    second, _ = list_images(tmp_path)
    assert first == second
    assert [p.relative_to(tmp_path).as_posix() for p in first] == sorted(
        p.relative_to(tmp_path).as_posix() for p in first
    )


@pytest.mark.reliability
def test_list_images_symlink_loops_broken_links_and_dir_named_jpg(tmp_path):
    _write(tmp_path / "good.jpg")
    _write(tmp_path / "sub" / "deep.png")
    os.symlink(tmp_path, tmp_path / "sub" / "loop")  # directory loop back to the root
    os.symlink(tmp_path / "b.jpg", tmp_path / "a.jpg")  # file loop a -> b -> a
    os.symlink(tmp_path / "a.jpg", tmp_path / "b.jpg")
    os.symlink(tmp_path / "missing.jpg", tmp_path / "broken.jpg")
    (tmp_path / "x.jpg").mkdir()
    _write(tmp_path / "x.jpg" / "inside.png")

    paths, skips = list_images(tmp_path)  # must return, not hang

    assert [p.relative_to(tmp_path).as_posix() for p in paths] == ["good.jpg", "sub/deep.png", "x.jpg/inside.png"]
    by_file = {Path(s.file).name: s for s in skips}
    assert set(by_file) == {"a.jpg", "b.jpg", "broken.jpg", "loop", "x.jpg"}
    assert all(s.action == "skipped" for s in skips)
    assert "symlink loop" in by_file["a.jpg"].reason
    assert "symlink loop" in by_file["b.jpg"].reason
    assert by_file["broken.jpg"].reason == "broken symlink"
    assert "symlink loop" in by_file["loop"].reason
    assert "is a directory" in by_file["x.jpg"].reason
    assert str(by_file["broken.jpg"]) == f"{tmp_path / 'broken.jpg'}: broken symlink (skipped)"


@pytest.mark.reliability
def test_read_image_list_resolves_relative_to_the_txt_and_skips_bad_lines(tmp_path):
    _write(tmp_path / "imgs" / "a.jpg")
    _write(tmp_path / "b.png")
    (tmp_path / "dir.jpg").mkdir()
    (tmp_path / "video.mp4").write_text("x")
    lst = tmp_path / "lists" / "set.txt"
    lst.parent.mkdir()
    lst.write_text(
        "# comment\n\n../imgs/a.jpg\n" + str(tmp_path / "b.png") + "\n../missing.jpg\n../dir.jpg\n../video.mp4\n../imgs/a.jpg\n"
    )
    entries, skips = read_image_list(lst)
    # canonical keys: outside the list's folder, the absolute path (however the line spelled it)
    assert [name for _, name in entries] == [str(tmp_path / "imgs" / "a.jpg"), str(tmp_path / "b.png")]
    assert entries[0][0].resolve() == (tmp_path / "imgs" / "a.jpg").resolve()
    reasons = {s.file.rsplit(": ", 1)[-1].rstrip("]"): (s.reason, s.action) for s in skips}
    assert reasons == {
        "../missing.jpg": ("file not found", "skipped"),
        "../dir.jpg": ("is a directory, not an image", "skipped"),
        "../video.mp4": (reasons["../video.mp4"][0], "skipped"),
        "../imgs/a.jpg": ("listed twice (first at line 3)", "skipped"),
    }
    assert "not an image file name" in reasons["../video.mp4"][0]
    assert skips[0].file == f"{lst}[line 5: ../missing.jpg]"


def test_finder_direct_then_unique_basename(tmp_path):
    _write(tmp_path / "val" / "a.jpg")
    _write(tmp_path / "val" / "b.jpg")
    _write(tmp_path / "train" / "b.jpg")
    finder = ImageFinder.for_folder(tmp_path)
    assert finder.find("val/a.jpg") == (tmp_path / "val" / "a.jpg", "val/a.jpg")
    assert finder.find("a.jpg") == (tmp_path / "val" / "a.jpg", "val/a.jpg")
    with pytest.raises(LookupError, match="ambiguous: 2 images named b.jpg"):
        finder.find("b.jpg")
    with pytest.raises(LookupError, match="image not found under"):
        finder.find("c.jpg")


# ---------------------------------------------------------------------------------- decoding


def test_decode_matches_ultralytics_and_cv2(assets):
    bus = Path(assets) / "bus.jpg"
    image = decode_image(bus)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert image.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(image, cv2.imread(str(bus)))
    assert read_image_size(bus) == (image.shape[1], image.shape[0]) == (810, 1080)


@pytest.mark.reliability
class TestBadImages:
    """Each case: the exact outcome, and a reason that names the cause."""

    def _refused(self, path: Path, *needles: str, **kwargs) -> ImageDecodeError:
        with pytest.raises(ImageDecodeError) as info:
            decode_image(path, **kwargs)
        err = info.value
        assert isinstance(err, InputError)
        assert err.path == str(path)
        for needle in needles:
            assert needle in err.reason
        skip = err.to_skip()
        assert skip.action == "skipped" and skip.file == str(path) and "\n" not in str(skip)
        return err

    def test_zero_byte_jpg(self, tmp_path):
        (tmp_path / "empty.jpg").write_bytes(b"")
        err = self._refused(tmp_path / "empty.jpg")
        assert err.reason == "empty file (0 bytes)"
        with pytest.raises(ImageDecodeError, match="empty file"):
            read_image_size(tmp_path / "empty.jpg")

    def test_truncated_jpeg(self, tmp_path):
        full = tmp_path / "full.jpg"
        _write(full, 64, 64)
        data = full.read_bytes()
        (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
        err = self._refused(tmp_path / "cut.jpg")
        assert err.reason == "truncated image data"

    def test_text_file_named_png(self, tmp_path):
        (tmp_path / "notes.png").write_text("hello, I am not a picture\n")
        err = self._refused(tmp_path / "notes.png")
        assert err.reason == "not an image (cannot be decoded)"
        with pytest.raises(ImageDecodeError, match="not an image"):
            read_image_size(tmp_path / "notes.png")

    def test_directory_named_jpg(self, tmp_path):
        (tmp_path / "x.jpg").mkdir()
        assert self._refused(tmp_path / "x.jpg").reason == "is a directory"

    def test_missing_file(self, tmp_path):
        assert self._refused(tmp_path / "nope.jpg").reason == "file not found"

    @pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
    def test_too_large_is_refused_from_the_header(self, tmp_path):
        big = _png_header_only(tmp_path / "huge.png", 20000, 20000)  # 400 MP claimed, no pixel data
        self._refused(big, "too large", "megapixels")
        mid = _png_header_only(tmp_path / "mid.png", 12000, 10000)  # 120 MP: Pillow only warns, we refuse
        assert self._refused(mid).reason == "image too large (12000x10000 = 120 megapixels; limit 100)"
        small = _write(tmp_path / "small.png", 100, 100)
        err = self._refused(small, "too large", "100x100", max_megapixels=0.005)
        assert "limit 0.005" in err.reason
        assert decode_image(small, max_megapixels=0.01).shape == (100, 100, 3)


@pytest.mark.reliability
class TestOddButValidImages:
    def test_grayscale_png_becomes_bgr(self, tmp_path):
        gray = _pixels(12, 17)[..., 0]
        cv2.imwrite(str(tmp_path / "g.png"), gray)
        image = decode_image(tmp_path / "g.png")
        assert image.shape == (12, 17, 3)
        for c in range(3):
            np.testing.assert_array_equal(image[..., c], gray)

    def test_rgba_png_drops_alpha(self, tmp_path):
        rgba = np.random.default_rng(1).integers(0, 256, (9, 11, 4), dtype=np.uint8)
        Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
        image = decode_image(tmp_path / "a.png")
        assert image.shape == (9, 11, 3)
        np.testing.assert_array_equal(image, rgba[..., 2::-1])

    def test_16bit_png_keeps_the_high_byte(self, tmp_path):
        deep = np.random.default_rng(2).integers(0, 65536, (10, 12), dtype=np.uint16)
        cv2.imwrite(str(tmp_path / "d.png"), deep)
        image = decode_image(tmp_path / "d.png")
        assert image.shape == (10, 12, 3) and image.dtype == np.uint8
        np.testing.assert_array_equal(image[..., 0], (deep >> 8).astype(np.uint8))

    def test_palette_gif_renamed_jpg(self, tmp_path):
        Image.fromarray(_pixels(16, 24)).convert("P").save(tmp_path / "pal.gif")
        (tmp_path / "pal.jpg").write_bytes((tmp_path / "pal.gif").read_bytes())
        image = decode_image(tmp_path / "pal.jpg")
        expected = np.asarray(Image.open(tmp_path / "pal.gif").convert("RGB"))[..., ::-1]
        assert image.shape == (16, 24, 3)
        np.testing.assert_array_equal(image, expected)

    def test_pcx_renamed_jpg_uses_the_pillow_fallback(self, tmp_path):
        pixels = _pixels(8, 10)
        Image.fromarray(pixels).save(tmp_path / "p.pcx")
        (tmp_path / "p.jpg").write_bytes((tmp_path / "p.pcx").read_bytes())
        assert cv2.imread(str(tmp_path / "p.jpg")) is None  # OpenCV cannot: the fallback is exercised
        np.testing.assert_array_equal(decode_image(tmp_path / "p.jpg"), pixels[..., ::-1])
        assert read_image_size(tmp_path / "p.jpg") == (10, 8)

    @pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp"])
    def test_exif_orientation_6_is_applied(self, tmp_path, suffix):
        stored = _pixels(40, 60)  # stored 60 wide x 40 high; orientation 6 = rotate 90 degrees clockwise
        im = Image.fromarray(stored)
        exif = im.getexif()
        exif[0x0112] = 6
        path = tmp_path / f"rot{suffix}"
        im.save(path, exif=exif.tobytes())
        image = decode_image(path)
        assert image.shape == (60, 40, 3)  # H and W swapped vs the stored pixels
        np.testing.assert_array_equal(image, cv2.imread(str(path)))
        assert read_image_size(path) == (40, 60)

    def test_exif_orientation_6_tiff(self, tmp_path):
        im = Image.fromarray(_pixels(40, 60))
        exif = im.getexif()
        exif[0x0112] = 6
        im.save(tmp_path / "rot.tiff", exif=exif.tobytes())
        assert decode_image(tmp_path / "rot.tiff").shape == (60, 40, 3)
        assert read_image_size(tmp_path / "rot.tiff") == (40, 60)

    def test_one_pixel_image(self, tmp_path):
        _write(tmp_path / "one.png", 1, 1)
        assert decode_image(tmp_path / "one.png").shape == (1, 1, 3)
        assert read_image_size(tmp_path / "one.png") == (1, 1)

    def test_8000x6000_decodes(self, tmp_path):
        path = tmp_path / "big.jpg"
        assert cv2.imwrite(str(path), np.full((6000, 8000, 3), 127, np.uint8))
        assert read_image_size(path) == (8000, 6000)
        image = decode_image(path)
        assert image.shape == (6000, 8000, 3)
        assert int(image[3000, 4000, 1]) in range(125, 130)
