"""Finding and decoding images (kept importable here; the code lives in small modules).

* :mod:`yololens.sources.listing`: folders, ``.txt`` lists, canonical image keys;
* :mod:`yololens.sources.decoding`: decoding like Ultralytics, header checks;
* :mod:`yololens.sources.finder`: resolving label-file image names against ``--source``.
"""

from __future__ import annotations

from yololens.sources.decoding import (
    DEFAULT_MAX_IMAGE_BYTES,
    DEFAULT_MAX_MEGAPIXELS,
    ImageDecodeError,
    decode_image,
    read_image_size,
)
from yololens.sources.finder import ImageFinder
from yololens.sources.listing import IMAGE_SUFFIXES, canonical_key, is_image_name, list_images, read_image_list

__all__ = ["DEFAULT_MAX_IMAGE_BYTES", "DEFAULT_MAX_MEGAPIXELS", "IMAGE_SUFFIXES", "ImageDecodeError", "ImageFinder", "canonical_key", "decode_image",
           "is_image_name", "list_images", "read_image_list", "read_image_size"]
