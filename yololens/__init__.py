"""yololens: open up Ultralytics YOLO models and show what they learned."""

__version__ = "0.1.0"
