"""The CKA heatmap: stages of A (rows) against stages of B (columns), a fixed 0-1 colour scale with its colourbar,
stage names with their role and stride, the value in every cell when the grid is small enough to read."""

from __future__ import annotations

import numpy as np
import pandas as pd

from yololens.analysis.verdict import stage_tick

#: Largest side at which every cell is annotated with its value.
ANNOTATE_MAX = 14


def similarity_heatmap(matrix: pd.DataFrame, roles_a: dict, roles_b: dict, title: str,
                       label_a: str = "", label_b: str = ""):
    """Matplotlib figure of ``matrix`` (CKA in [0, 1]; NaN cells blank); ``roles_*``: ``{stage: role}``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    na, nb = matrix.shape
    side = max(na, nb)
    fig, ax = plt.subplots(figsize=(min(4 + 0.55 * nb, 22), min(3.2 + 0.5 * na, 20)))
    values = matrix.to_numpy(dtype=float)
    im = ax.imshow(np.ma.masked_invalid(values), vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
    bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    bar.set_label("linear CKA (1 = same geometry up to rotation and scale)")
    size = 8 if side <= 8 else 6
    ax.set_xticks(range(nb), [stage_tick(s, roles_b.get(s)) for s in matrix.columns], fontsize=size)
    ax.set_yticks(range(na), [stage_tick(s, roles_a.get(s)).replace("\n", " ") for s in matrix.index], fontsize=size)
    if label_a:
        ax.set_ylabel(label_a)
    if label_b:
        ax.set_xlabel(label_b)
    if side <= ANNOTATE_MAX:
        for i in range(na):
            for j in range(nb):
                v = values[i, j]
                if np.isfinite(v):
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=size,
                            color="black" if v > 0.6 else "white")
    ax.set_title(title, fontsize=10, wrap=True)
    fig.tight_layout()
    return fig
