"""The similarity job (``yololens similarity``): linear CKA between the stages of a run (or of two runs), written
into run A as ``similarity.csv`` (long form) and ``similarity.png`` (the heatmap); across two runs the names are
``similarity_vs_<run B>.csv`` / ``.png``."""

from __future__ import annotations

import textwrap

from yololens.analysis.run import open_run
from yololens.analysis.similarity import DEFAULT_BATCH, SimilarityResult, compute_similarity
from yololens.store.atomic import atomic_path, save_figure
from yololens.store.naming import key_hash, safe_component

__all__ = ["SimilarityResult", "similarity"]


def similarity(run, other=None, *, layers=None, layers_b=None, origin: str = "auto", batch: int = DEFAULT_BATCH,
               bootstrap: int = 0, seed: int = 0, save: bool = True) -> SimilarityResult:
    """Linear CKA between every pair of stages of ``run`` (a run path, a ``Run`` or a result with ``.out``), or
    between the stages of ``run`` and ``other`` on the gt objects both share (same source and labels).

    ``layers``/``layers_b``: the stages of each run (default: every embedding column); ``origin``: which objects
    (``auto``: gt rows when there are any); ``batch``: objects per minibatch; ``bootstrap``: resamples of the
    batches for a 95% interval per cell (0: none); ``save``: write the CSV and the heatmap into ``run``.
    """
    res = compute_similarity(run, other, layers=layers, layers_b=layers_b, origin=origin, batch=batch,
                             n_boot=bootstrap, seed=seed)
    if save and not res.insufficient:
        write_similarity(res)
    return res


def output_stem(res: SimilarityResult) -> str:
    """``similarity`` within one run; ``similarity_vs_<run B's folder>_<hash of its path>`` across two."""
    if not res.across:
        return "similarity"
    return f"similarity_vs_{safe_component(res.run_b.name)}_{key_hash(str(res.run_b.resolve()))}"


def write_similarity(res: SimilarityResult) -> dict:
    """Write ``<stem>.csv`` and ``<stem>.png`` into run A; returns (and sets) ``res.paths``."""
    import matplotlib.pyplot as plt

    from yololens.figures.similarity_heatmap import similarity_heatmap

    out = open_run(res.run_a).path
    stem = output_stem(res)
    csv_path, png_path = out / f"{stem}.csv", out / f"{stem}.png"
    with atomic_path(csv_path) as tmp:
        res.table.to_csv(tmp, index=False, float_format="%.6g")
    title = "\n".join(textwrap.wrap(res.headline, 90))
    fig = similarity_heatmap(res.matrix, res.roles_a, res.roles_b, title,
                             res.run_a.name if res.across else "", res.run_b.name if res.across else "")
    save_figure(fig, png_path, dpi=120)
    plt.close(fig)
    res.paths = {"csv": csv_path, "heatmap": png_path}
    return res.paths
