"""The stage report's chart: one panel per metric, metric against stage with 95% CI error bars; the verdict is
its title and the verdict's stage is the one stage marked (a band across every panel)."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd

from yololens.analysis.metrics import Estimate
from yololens.analysis.stage_text import METRICS
from yololens.analysis.verdict import Verdict, stage_tick

#: Trustworthiness of a random map is about 0.5, of a perfect one 1: the axis shows that range, so the small
#: differences between stages are not blown up to fill the panel.
TRUST_RANGE = (0.5, 1.0)


def stage_chart(df: pd.DataFrame, params: dict, verdict: Verdict | None = None):
    """Matplotlib figure: one panel per metric (``df``: the stage table of :func:`yololens.analysis.stages`);
    ``verdict``: its sentence is the title and its stage is marked in every panel.

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
    fig, axes = plt.subplots(nrows, ncols, figsize=(11, 3.6 * nrows + 0.6), squeeze=False)
    x = np.arange(len(df))
    roles = df["role"] if "role" in df else pd.Series([""] * len(df))
    ticks = [stage_tick(str(s), r) for s, r in zip(df["stage"], roles)]
    stages_ = df["stage"].astype(str).tolist()
    marked = stages_.index(verdict.best) if verdict is not None and verdict.best in stages_ else None
    for ax, (m, title, _) in zip(axes.ravel(), panels):
        if marked is not None:
            ax.axvspan(marked - 0.4, marked + 0.4, color="C3", alpha=0.12, lw=0, zorder=0)
        if m == "trust":
            values = [df[c].astype(float).to_numpy() for c in trust_cols]
            for c, v in zip(trust_cols, values):
                ax.plot(x, v, marker="o", label=c.removeprefix("trust_"))
            ax.legend(fontsize=8)
            finite = np.concatenate(values)
            finite = finite[np.isfinite(finite)]
            low = min(TRUST_RANGE[0], float(finite.min()) - 0.02) if finite.size else TRUST_RANGE[0]
            ax.set_ylim(low, TRUST_RANGE[1] + 0.01)
        else:
            v, lo, hi = Estimate.columns(df, m)
            err = np.nan_to_num(np.vstack([np.clip(v - lo, 0, None), np.clip(hi - v, 0, None)]), nan=0.0)
            ax.errorbar(x, v, yerr=err, marker="o", capsize=4, lw=1.5, color="C0")
            if m.endswith("_acc") and "chance" in df:
                ax.plot(x, df["chance"].astype(float), ls="--", color="grey", lw=1, label="chance (commonest class)")
                ax.legend(fontsize=8, loc="best")
            if m.endswith("_acc"):
                ax.set_ylim(-0.02, 1.05)
            elif np.isfinite(v).any():  # zero-based, so a 0.01 difference does not fill the panel
                ax.set_ylim(*_zero_based(np.r_[v, lo, hi]))
        ax.set_title(title, fontsize=11)
        ax.set_xticks(x, ticks, fontsize=9)
        if marked is not None:
            ax.get_xticklabels()[marked].set_fontweight("bold")
        ax.set_xlim(-0.6, len(df) - 0.4)
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(panels) :]:
        ax.set_visible(False)
    n = int(df["n"].max()) if "n" in df and len(df) and df["n"].notna().any() else 0
    grouping = f", {params['group_column']}-grouped folds" if params.get("group_column") else ""
    setup = (f"label {params['label']!r}, origin {params['origin']}, n<={n} objects per stage, "
             f"{params.get('n_folds_used') or params['n_folds']}-fold CV{grouping}, 95% bootstrap CIs"
             + (" (shaded: the verdict's stage)" if marked is not None else ""))
    head = "\n".join(textwrap.wrap(verdict.text, 110)) if verdict is not None else "Stage report"
    fig.suptitle(f"{head}\n{setup}", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.98 - 0.025 * head.count("\n")))
    return fig


def _zero_based(values: np.ndarray) -> tuple[float, float]:
    """y-limits that include 0 and every finite value, with a 5% margin."""
    finite = values[np.isfinite(values)]
    low, high = min(0.0, float(finite.min())), max(0.0, float(finite.max()))
    pad = 0.05 * (high - low or 1.0)
    return low - pad, high + pad
