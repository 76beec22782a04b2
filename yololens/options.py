"""Ranges of the numeric options, checked once, up front, by the API and the CLI alike.

The CLI declares the same bounds to typer (``min=``/``max=``, see :func:`typer_bounds`), so ``--help``
shows them; the API checks them with :func:`check_options`, which raises a one-line
:class:`~yololens.errors.InputError` (exit 2) naming the option as the CLI spells it.
"""

from __future__ import annotations

from dataclasses import dataclass

from yololens.errors import InputError


@dataclass(frozen=True)
class Bound:
    """``lo <= value <= hi`` (``None``: unbounded on that side)."""

    lo: float | None
    hi: float | None = None
    why: str = ""

    def problem(self, value: float) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:  # NaN
            return f"must be a number, not {value!r}"
        if self.lo is not None and value < self.lo:
            return f"must be >= {self.lo:g}{self.why}, not {value:g}"
        if self.hi is not None and value > self.hi:
            return f"must be <= {self.hi:g}{self.why}, not {value:g}"
        return None


#: Option name (Python spelling) -> its range. Units: pixels for sizes, images for counts.
BOUNDS: dict[str, Bound] = {
    "imgsz": Bound(32, 16384, " (pixels; the largest stride is 32)"),
    "batch": Bound(1),
    "window": Bound(1),
    "workers": Bound(0, 256),
    "conf": Bound(0, 1),
    "iou": Bound(0, 1),
    "match_iou": Bound(0, 1),
    "max_det": Bound(1),
    "pool_size": Bound(1, 64),
    "crop_size": Bound(1, 4096),
    "channels": Bound(0),
    "max_instances": Bound(0),
    "max_megapixels": Bound(0.000001),
    "max_image_bytes": Bound(1),
    "max_points": Bound(1),
    "calibration": Bound(1),
    # analysis (project, plot, stages): one table for every command (issue #19)
    "seed": Bound(0, 2**32 - 1, " (numpy seeds are 0 .. 2**32-1)"),
    "sample": Bound(1, why=" (objects; leave it out for all)"),
    "large_n": Bound(0, why=" (objects; 0 = never the large-N way)"),
    "fit_sample": Bound(2),
    "n_iter": Bound(1),
    "perplexity": Bound(1e-6, why=" (t-SNE)"),
    "pca_dims": Bound(0),
    "n_neighbors": Bound(2, why=" (UMAP)"),
    "min_dist": Bound(0),
    "k": Bound(1, why=" (neighbours)"),
    "n_folds": Bound(2),
    "bootstrap": Bound(1, why=" (resamples)"),
    "trust_sample": Bound(0, why=" (objects; 0 = off)"),
    "thumb_size": Bound(1, 1024, " (pixels)"),
    "thumbnails": Bound(0),
    "hover_thumbnails": Bound(0),
    "max_categories": Bound(1),
}

DEFAULT_CALIBRATION = 300  # --precision int8: calibration images (NNCF's own default subset size)


def check_options(**values: float | None) -> None:
    """Raise :class:`InputError` for the first value outside its :data:`BOUNDS` (``None`` = not given)."""
    for name, value in values.items():
        if value is None:
            continue
        problem = BOUNDS[name].problem(value)
        if problem:
            raise InputError(f"--{name.replace('_', '-')} {problem}")


def typer_bounds(name: str) -> dict[str, float]:
    """``min=``/``max=`` keyword arguments for a typer option with :data:`BOUNDS` ``[name]``."""
    bound = BOUNDS[name]
    return {k: v for k, v in (("min", bound.lo), ("max", bound.hi)) if v is not None}
