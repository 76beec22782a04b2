"""Decoding images like Ultralytics (``ultralytics.utils.patches.imread``).

3-channel BGR uint8, EXIF orientation applied, grayscale/RGBA/16-bit converted to 8-bit BGR. Sizes are
``(width, height)`` in original-image pixels, i.e. after EXIF orientation.
"""

from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from yololens.errors import InputError
from yololens.model.ultra import imread, pil_open
from yololens.sources.listing import _os_reason
from yololens.sources.records import Skip

#: Refuse images above this many megapixels (a 100 MP BGR image is 300 MB decoded).
DEFAULT_MAX_MEGAPIXELS = 100.0

#: Refuse image files above this many bytes before reading them (``--max-image-bytes``; 1 GiB).
DEFAULT_MAX_IMAGE_BYTES = 1 << 30
#: Formats OpenCV decodes that Pillow does not identify: OpenEXR, Radiance HDR, JPEG 2000 (jp2, j2k).
_OPENCV_ONLY_SIGNATURES = (b"\x76\x2f\x31\x01", b"#?RADIANCE", b"#?RGBE", b"\x00\x00\x00\x0cjP  ", b"\xff\x4f\xff\x51")

# yololens refuses images above ``max_megapixels`` itself, in one line; Pillow's own multi-line
# DecompressionBombWarning (above 89 MP) would only repeat that, so it is silenced once, here.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

_EXIF_ORIENTATION = 0x0112
_ROTATED_ORIENTATIONS = (5, 6, 7, 8)  # EXIF orientations that swap width and height

# Pillow's own opener, not Ultralytics' patched one (see ultra.pil_open).
_pil_open = pil_open


class ImageDecodeError(InputError):
    """An image file that cannot be used; ``reason`` is one line (e.g. ``empty file (0 bytes)``)."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")

    def to_skip(self, file: str | None = None) -> Skip:
        return Skip(file or self.path, self.reason, "skipped")


def decode_image(path: str | Path, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
                 max_bytes: int = DEFAULT_MAX_IMAGE_BYTES) -> np.ndarray:
    """Decode ``path`` to a contiguous BGR uint8 array of shape ``(H, W, 3)``, like Ultralytics.

    OpenCV decodes first (EXIF orientation applied); if it cannot, Pillow does (e.g. a GIF or
    PCX named ``.jpg``). Images above ``max_megapixels`` are refused before decoding when the
    header can be read, to protect memory.

    Raises:
        ImageDecodeError: with a one-line reason (empty file, not an image, truncated, too large...).
    """
    path = Path(path)
    _check_file(path, max_bytes)
    header = _header_size(path, max_megapixels)
    if header is None:
        _sniff(path)  # before OpenCV reads the whole file: a 1.5 GB video named .jpg is refused from 16 bytes
    if header is not None:
        _check_pixels(path, header, max_megapixels)
    try:
        image = imread(str(path))
    except cv2.error:  # OpenCV asserts on some corrupt data instead of returning None
        image = None
    if image is None:
        image = _pil_decode(path, max_megapixels)
    image = _as_bgr_uint8(image)
    _check_pixels(path, (image.shape[1], image.shape[0]), max_megapixels)
    return np.ascontiguousarray(image)


def read_image_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` in original pixels (EXIF orientation applied) from the file header.

    Cheap (no pixel decoding) for JPEG/PNG/WebP/TIFF/BMP; files Pillow cannot read are decoded.

    Raises:
        ImageDecodeError: when the file is not a usable image.
    """
    path = Path(path)
    _check_file(path, max_bytes=None)  # only the header is read: the byte limit is the decoder's
    try:
        with _pil_open(path) as im:
            width, height = _stored_size(im)
            orientation = _orientation(im)
    except Exception:  # noqa: BLE001 - any Pillow failure: let the full decoder give the reason
        shape = decode_image(path).shape
        return int(shape[1]), int(shape[0])
    if orientation in _ROTATED_ORIENTATIONS:
        width, height = height, width
    return int(width), int(height)


def _stored_size(im: Image.Image) -> tuple[int, int]:
    """Size of the stored pixels, before EXIF orientation."""
    if im.format == "TIFF":  # recent Pillow already reports TIFF sizes rotated; the tags never are
        return im.tag_v2.get(256, im.size[0]), im.tag_v2.get(257, im.size[1])
    return im.size


def _orientation(im: Image.Image) -> int:
    if im.format == "PNG" and "exif" not in im.info:
        return 1  # an eXIf chunk after the pixel data is rare; finding it would decode the whole PNG
    try:
        value = im.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # noqa: BLE001 - malformed EXIF: OpenCV ignores it too
        return 1
    return value if isinstance(value, int) else 1


def _sniff(path: Path) -> None:
    """Refuse a file whose first bytes are no image format OpenCV reads beyond Pillow's (Pillow knows the rest)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise ImageDecodeError(path, f"cannot read ({_os_reason(exc)})") from None
    if not head.startswith(_OPENCV_ONLY_SIGNATURES):
        raise ImageDecodeError(path, "not an image (cannot be decoded)")


def _check_file(path: Path, max_bytes: int | None = DEFAULT_MAX_IMAGE_BYTES) -> None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ImageDecodeError(path, "broken symlink" if path.is_symlink() else "file not found") from None
    except OSError as exc:
        raise ImageDecodeError(path, f"cannot read ({_os_reason(exc)})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageDecodeError(path, "is a directory")
    if st.st_size == 0:
        raise ImageDecodeError(path, "empty file (0 bytes)")
    if max_bytes is not None and st.st_size > max_bytes:
        raise ImageDecodeError(path, f"file too large ({st.st_size:,} bytes; limit --max-image-bytes {max_bytes})")
    if not os.access(path, os.R_OK):
        raise ImageDecodeError(path, "cannot read (permission denied)")


def _header_size(path: Path, max_megapixels: float) -> tuple[int, int] | None:
    """Stored ``(w, h)`` from the header (orientation does not change the pixel count), or None."""
    try:
        with _pil_open(path) as im:
            return im.size
    except Image.DecompressionBombError:
        limit_mp = 2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6  # Pillow refuses above twice its limit
        if limit_mp and limit_mp >= max_megapixels:
            reason = f"image too large (over {limit_mp:.0f} megapixels; limit {max_megapixels:g})"
            raise ImageDecodeError(path, reason) from None
        return None
    except Exception:  # noqa: BLE001 - unknown to Pillow: OpenCV may still decode it
        return None


def _check_pixels(path: Path, size: tuple[int, int], max_megapixels: float) -> None:
    width, height = size
    if width * height > max_megapixels * 1e6:
        mp = width * height / 1e6
        reason = f"image too large ({width}x{height} = {mp:.0f} megapixels; limit {max_megapixels:g})"
        raise ImageDecodeError(path, reason)
    if width < 1 or height < 1:
        raise ImageDecodeError(path, f"image has no pixels ({width}x{height})")


def _pil_decode(path: Path, max_megapixels: float) -> np.ndarray:
    """Pillow fallback: EXIF transpose, RGB, then BGR like OpenCV."""
    try:
        with _pil_open(path) as im:
            _check_pixels(path, im.size, max_megapixels)
            upright = ImageOps.exif_transpose(im)
            rgb = np.asarray(upright.convert("RGB"))
    except ImageDecodeError:
        raise
    except UnidentifiedImageError:
        raise ImageDecodeError(path, "not an image (cannot be decoded)") from None
    except Image.DecompressionBombError:
        raise ImageDecodeError(path, f"image too large (limit {max_megapixels:g} megapixels)") from None
    except OSError as exc:
        truncated = "truncated" in str(exc) or "broken data stream" in str(exc)
        reason = "truncated image data" if truncated else f"cannot be decoded ({_one_line(exc)})"
        raise ImageDecodeError(path, reason) from None
    except Exception as exc:  # noqa: BLE001 - Pillow plugins raise SyntaxError/ValueError/... on junk
        raise ImageDecodeError(path, f"not an image (cannot be decoded: {_one_line(exc)})") from None
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def _as_bgr_uint8(image: np.ndarray) -> np.ndarray:
    """Defensive: whatever the decoder returned, hand back HxWx3 uint8 BGR."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[2] == 1:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = image[..., :3]
    return image



def _one_line(exc: BaseException, limit: int = 120) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."

