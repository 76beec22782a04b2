"""Finding and decoding images.

Decoding matches Ultralytics (``ultralytics.utils.patches.imread``): 3-channel BGR uint8,
EXIF orientation applied, grayscale/RGBA/16-bit converted to 8-bit BGR. Sizes are
``(width, height)`` in original-image pixels, i.e. after EXIF orientation.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from yololens.errors import InputError
from yololens.model.ultra import imread, pil_open
from yololens.sources.records import Skip

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
#: Refuse images above this many megapixels (a 100 MP BGR image is 300 MB decoded).
DEFAULT_MAX_MEGAPIXELS = 100.0

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


def is_image_name(name: str | Path) -> bool:
    """True when the file name ends with one of :data:`IMAGE_SUFFIXES` (any case)."""
    return str(name).lower().endswith(IMAGE_SUFFIXES)


# --------------------------------------------------------------------------------------- listing


def list_images(folder: str | Path) -> tuple[list[Path], list[Skip]]:
    """Image files under ``folder``, recursively, sorted by their relative posix path.

    Symlinks are followed, but each real directory is listed once, so a symlink loop ends as a
    Skip instead of a hang. Broken links, links that loop, and directories named like images
    (``x.jpg/``, whose contents are still listed) become Skips.
    """
    root = Path(folder)
    found: list[tuple[str, Path]] = []
    skips: list[Skip] = []
    visited: set[tuple[int, int]] = set()
    pending: list[tuple[Path, str]] = [(root, "")]
    while pending:
        directory, rel = pending.pop()
        try:
            st = os.stat(directory)
        except OSError as exc:
            skips.append(Skip(str(directory), f"cannot open folder ({_os_reason(exc)})"))
            continue
        key = (st.st_dev, st.st_ino)
        if key in visited:
            skips.append(Skip(str(directory), "symlink loop or folder linked twice (already listed)"))
            continue
        visited.add(key)
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            skips.append(Skip(str(directory), f"cannot list folder ({_os_reason(exc)})"))
            continue
        for entry in entries:
            _visit(entry, f"{rel}{entry.name}", directory, found, skips, pending)
    found.sort(key=lambda item: item[0])
    skips.sort(key=lambda s: s.file)
    return [path for _, path in found], skips


def _visit(
    entry: os.DirEntry[str],
    rel: str,
    directory: Path,
    found: list[tuple[str, Path]],
    skips: list[Skip],
    pending: list[tuple[Path, str]],
) -> None:
    path = directory / entry.name
    try:
        mode = os.stat(path).st_mode  # follows symlinks
    except OSError as exc:
        if entry.is_symlink():
            broken = exc.errno in (errno.ENOENT, errno.ENOTDIR)
            reason = "broken symlink" if broken else f"symlink cannot be followed ({_os_reason(exc)})"
            skips.append(Skip(str(path), reason))
        elif is_image_name(entry.name):
            skips.append(Skip(str(path), f"cannot read ({_os_reason(exc)})"))
        return
    if stat.S_ISDIR(mode):
        if is_image_name(entry.name):
            skips.append(Skip(str(path), "is a directory, not an image (its contents are still listed)"))
        pending.append((path, f"{rel}/"))
    elif stat.S_ISREG(mode) and is_image_name(entry.name):
        found.append((rel, path))


def read_image_list(txt: str | Path) -> tuple[list[tuple[Path, str]], list[Skip]]:
    """Images named in a text file, one path per line, as ``(path, name as written)``.

    Relative paths resolve against the text file's folder; blank and ``#`` lines are ignored.
    Missing files, folders, non-image names and repeated lines become Skips.
    """
    txt = Path(txt)
    try:
        lines = txt.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{txt}: cannot read image list ({exc})") from None
    entries: list[tuple[Path, str]] = []
    skips: list[Skip] = []
    first_line: dict[Path, int] = {}
    for number, line in enumerate(lines, 1):
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        path = Path(name) if Path(name).is_absolute() else txt.parent / name
        where = f"{txt}[line {number}: {name}]"
        problem = _list_entry_problem(path)
        key = Path(os.path.normpath(path))
        if problem is None and key in first_line:
            problem = f"listed twice (first at line {first_line[key]})"
        if problem:
            skips.append(Skip(where, problem))
            continue
        first_line[key] = number
        entries.append((path, name))
    return entries, skips


def _list_entry_problem(path: Path) -> str | None:
    if path.is_dir():
        return "is a directory, not an image"
    if not path.exists():
        return "broken symlink" if path.is_symlink() else "file not found"
    if not is_image_name(path.name):
        return f"not an image file name (expected {', '.join(IMAGE_SUFFIXES)})"
    return None


# -------------------------------------------------------------------------------------- decoding


def decode_image(path: str | Path, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> np.ndarray:
    """Decode ``path`` to a contiguous BGR uint8 array of shape ``(H, W, 3)``, like Ultralytics.

    OpenCV decodes first (EXIF orientation applied); if it cannot, Pillow does (e.g. a GIF or
    PCX named ``.jpg``). Images above ``max_megapixels`` are refused before decoding when the
    header can be read, to protect memory.

    Raises:
        ImageDecodeError: with a one-line reason (empty file, not an image, truncated, too large...).
    """
    path = Path(path)
    _check_file(path)
    header = _header_size(path, max_megapixels)
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
    _check_file(path)
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


def _check_file(path: Path) -> None:
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


def _os_reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symlink loop"
    return exc.strerror or str(exc)


def _one_line(exc: BaseException, limit: int = 120) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ------------------------------------------------------------------------------ name resolution


class ImageFinder:
    """Resolves image names from a label file against ``--source``.

    A folder: ``source/name`` first, then a recursive lookup by basename when it is unique
    (the folder is listed once, lazily). One image or a list: exact name, then unique basename.
    """

    def __init__(self, root: Path | None = None, entries: Sequence[tuple[Path, str]] = ()) -> None:
        self.root = root
        self._entries = list(entries)
        self._by_name: dict[str, tuple[Path, str]] | None = None
        self._by_base: dict[str, list[tuple[Path, str]]] = {}
        self._claimed: set[str] = set()

    @classmethod
    def for_folder(cls, root: Path) -> ImageFinder:
        return cls(root=root)

    @classmethod
    def for_entries(cls, entries: Sequence[tuple[Path, str]]) -> ImageFinder:
        return cls(entries=entries)

    def find(self, name: str) -> tuple[Path, str]:
        """``(path, output name)`` for a label-file image name.

        Raises:
            LookupError: with a one-line reason (not found, ambiguous, a directory).
        """
        if self.root is not None:
            direct = self.root / name
            if direct.is_file():
                return direct, Path(os.path.normpath(name)).as_posix()  # "./a.jpg" and "a.jpg" are one name
            if direct.is_dir():
                raise LookupError(f"{direct} is a directory, not an image")
        index = self._index()
        if name in index:
            return index[name]
        matches = self._by_base.get(Path(name).name, [])
        if len(matches) == 1:
            return matches[0]
        where = f"under {self.root}" if self.root is not None else "in the source"
        if not matches:
            raise LookupError(f"image not found {where}")
        shown = ", ".join(n for _, n in matches[:3])
        raise LookupError(f"ambiguous: {len(matches)} images named {Path(name).name} {where} ({shown}, ...)")

    def claim(self, name: str) -> tuple[Path, str]:
        """:meth:`find`, refusing a second entry that resolves to an already claimed image
        (``a.jpg`` and ``val/a.jpg`` would otherwise give two records of one image)."""
        path, out_name = self.find(name)
        if out_name in self._claimed:
            raise LookupError(f"resolves to {out_name}, already used by an earlier entry")
        self._claimed.add(out_name)
        return path, out_name

    def _index(self) -> dict[str, tuple[Path, str]]:
        if self._by_name is None:
            entries = self._entries
            if self.root is not None:
                paths, _ = list_images(self.root)  # listing problems are irrelevant to a lookup
                entries = [(p, p.relative_to(self.root).as_posix()) for p in paths]
            self._by_name = {n: (p, n) for p, n in entries}
            for p, n in entries:
                self._by_base.setdefault(p.name, []).append((p, n))
        return self._by_name
