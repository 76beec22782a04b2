"""Sources: find images, decode them, and read their labels (BDD, COCO, YOLO)."""

from yololens.sources.bdd import BDD_DETECTION_CATEGORIES, read_bdd
from yololens.sources.coco import read_coco
from yololens.sources.images import (
    DEFAULT_MAX_MEGAPIXELS,
    IMAGE_SUFFIXES,
    ImageDecodeError,
    decode_image,
    list_images,
    read_image_size,
)
from yololens.sources.records import ImageRecord, LabelBox, Skip, Source
from yololens.sources.resolve import FORMATS, open_source
from yololens.sources.yolo_dataset import read_yolo_folder, read_yolo_yaml

__all__ = [
    "BDD_DETECTION_CATEGORIES",
    "DEFAULT_MAX_MEGAPIXELS",
    "FORMATS",
    "IMAGE_SUFFIXES",
    "ImageDecodeError",
    "ImageRecord",
    "LabelBox",
    "Skip",
    "Source",
    "decode_image",
    "list_images",
    "open_source",
    "read_bdd",
    "read_coco",
    "read_image_size",
    "read_yolo_folder",
    "read_yolo_yaml",
]
