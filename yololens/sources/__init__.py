"""Sources: find images, decode them, and read their labels (BDD, COCO, YOLO)."""

from yololens.sources.records import ImageRecord, LabelBox, Skip, Source

__all__ = ["ImageRecord", "LabelBox", "Skip", "Source"]
