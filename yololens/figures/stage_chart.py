"""The stage report's chart: one panel per metric, metric against stage with 95% CI error bars."""

from __future__ import annotations

import numpy as np
import pandas as pd

from yololens.analysis.metrics import Estimate
from yololens.analysis.stage_text import METRICS


def stage_chart(df: pd.DataFrame, params: dict):
    """Matplotlib figure: one panel per metric (``df``: the stage table of :func:`yololens.analysis.stages`).

    A missing interval (NaN ``_lo``/``_hi``, e.g. Davies-Bouldin when its bootstrap interval does not contain
    the point value) is drawn as a bare point.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    panels = [(m, t, hb) for m, t, hb in METRICS]
    trust_cols = [c for c in df.columns if c.startswith("trust_")]
    if trust_cols:
        panels.append(("trust", "trustworthiness of 2-D projections", True))
    ncols = 2
    nrows = int(np.ceil(len(panels) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(11, 3.6 * nrows), squeeze=False)
    x = np.arange(len(df))
    stages_ = df["stage"].astype(str).tolist()
    for ax, (m, title, higher_better) in zip(axes.ravel(), panels):
        if m == "trust":
            for c in trust_cols:
                ax.plot(x, df[c].astype(float), marker="o", label=c.removeprefix("trust_"))
            ax.legend(fontsize=8)
        else:
            v, lo, hi = Estimate.columns(df, m)
            err = np.nan_to_num(np.vstack([np.clip(v - lo, 0, None), np.clip(hi - v, 0, None)]), nan=0.0)
            ax.errorbar(x, v, yerr=err, marker="o", capsize=4, lw=1.5, color="C0")
            if m.endswith("_acc") and "chance" in df:
                ax.plot(x, df["chance"].astype(float), ls="--", color="grey", lw=1, label="chance (commonest class)")
                ax.legend(fontsize=8, loc="best")
            if np.isfinite(v).any():
                best = int(np.nanargmax(v) if higher_better else np.nanargmin(v))
                ax.plot([x[best]], [v[best]], marker="*", ms=16, color="C3", zorder=5)
            if m.endswith("_acc"):
                ax.set_ylim(-0.02, 1.05)
            elif np.isfinite(v).any():  # zero-based, so a 0.01 difference does not fill the panel
                ax.set_ylim(*_zero_based(np.r_[v, lo, hi]))
        ax.set_title(title, fontsize=11)
        ax.set_xticks(x, stages_)
        ax.set_xlabel("stage")
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(panels) :]:
        ax.set_visible(False)
    n = int(df["n"].max()) if "n" in df and len(df) and df["n"].notna().any() else 0
    grouping = f", {params['group_column']}-grouped folds" if params.get("group_column") else ""
    fig.suptitle(
        f"Stage report - label {params['label']!r}, origin {params['origin']}, n<={n} objects per stage, "
        f"{params.get('n_folds_used') or params['n_folds']}-fold CV{grouping}, 95% bootstrap CIs (star = best)",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return fig


def _zero_based(values: np.ndarray) -> tuple[float, float]:
    """y-limits that include 0 and every finite value, with a 5% margin."""
    finite = values[np.isfinite(values)]
    low, high = min(0.0, float(finite.min())), max(0.0, float(finite.max()))
    pad = 0.05 * (high - low or 1.0)
    return low - pad, high + pad
