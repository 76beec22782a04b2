"""Benchmark: `yololens project --method tsne` against openTSNE called directly, same data, same parameters.

    python benchmarks/projection.py --sizes 10000            # quick
    python benchmarks/projection.py --sizes 10000,50000,100000 --html

For each size: clustered synthetic embeddings (N x 256, 10 classes) are written as an objects table; then
  * direct: sklearn PCA-50 + openTSNE.TSNE(**same kwargs).fit(X) on the in-memory array,
  * ours:   yololens.analysis.project(OUT, 9, "tsne") (reads the Parquet table, same PCA + openTSNE, writes
            the projection Parquet + JSON),
timed in the same process one after the other; prints both wall times, the overhead ratio (target <= 5%),
whether the coordinates are identical, and trustworthiness (k=10, 2000-point sample) of both.
``--html`` also writes the interactive scatter for every size (PCA coordinates, 1000 hover thumbnails)
and prints its size.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from yololens.analysis import metrics as M  # noqa: E402
from yololens.analysis import table as T  # noqa: E402
from yololens.analysis.projection import Projector, project  # noqa: E402
from yololens.analysis.synthetic import make_objects_table  # noqa: E402


def direct_tsne(X: np.ndarray, proj: Projector) -> tuple[np.ndarray, float]:
    import openTSNE
    from sklearn.decomposition import PCA

    t0 = time.perf_counter()
    Xp = PCA(n_components=proj.pca_dims, random_state=proj.seed).fit_transform(X).astype(np.float32)
    Y = np.asarray(openTSNE.TSNE(**proj.tsne_kwargs(len(X))).fit(Xp))
    return Y, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,50000,100000", help="comma-separated object counts")
    ap.add_argument("--dims", type=int, default=256)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=-1, help="openTSNE threads (-1 = all cores)")
    ap.add_argument("--gradient", default="fft", help="fft (default here), bh or auto")
    ap.add_argument("--trust-sample", type=int, default=2000)
    ap.add_argument("--html", action="store_true", help="also measure the interactive HTML size")
    ap.add_argument("--no-tsne", action="store_true", help="skip the t-SNE timing (e.g. only --html)")
    ap.add_argument("--workdir", default=None, help="where the synthetic tables go (default: a temp dir)")
    args = ap.parse_args(argv)

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    root = Path(args.workdir or tempfile.mkdtemp(prefix="yololens-bench-"))
    classes = tuple(f"class{i}" for i in range(args.classes))
    print(f"cores: {len(os.sched_getaffinity(0))}, jobs: {args.jobs}, gradient: {args.gradient}, dims: {args.dims}")
    print("overhead = ours/direct - 1 (both wall clocks; noisy on a shared machine); own = ours minus its PCA and")
    print("openTSNE time (reading, sampling, writing), own% = own / direct: the wrapper's cost independent of noise")
    print(f"{'N':>8} {'direct_s':>9} {'ours_s':>8} {'overhead':>9} {'own_s':>6} {'own%':>6} {'same':>5} "
          f"{'trust_direct':>13} {'trust_ours':>11}")
    for n in sizes:
        out = root / f"n{n}"
        make_objects_table(out, n, dims={"emb_L9": args.dims}, separable=("emb_L9",), classes=classes,
                           n_images=max(4, n // 2000), write_images=args.html, seed=n)
        if not args.no_tsne:
            run_tsne(out, n, args)
        if args.html:
            from yololens.jobs.plot import plot

            project(out, 9, "pca", seed=0)
            t0 = time.perf_counter()
            r = plot(out, 9, "pca", "class_name", hover_thumbnails=1000)
            size = r.paths["html"].stat().st_size
            print(f"{'':>8} html ({n:,} points, 1000 hover thumbnails): {size / 1e6:.1f} MB, "
                  f"written in {time.perf_counter() - t0:.1f} s -> {r.paths['html']}", flush=True)


def run_tsne(out: Path, n: int, args) -> None:
    """Time openTSNE directly, then our project() path, on the table at ``out``."""
    # kl_tol=None: both sides run the same fixed iteration counts (this measures the wrapper, not the route)
    proj = Projector(method="tsne", seed=0, pca_dims=50, n_jobs=args.jobs, gradient=args.gradient, kl_tol=None)
    X = T.read_embeddings(out, "emb_L9")
    Y_direct, t_direct = direct_tsne(X, proj)
    t0 = time.perf_counter()
    res = project(out, 9, "tsne", seed=0, pca_dims=50, n_jobs=args.jobs, gradient=args.gradient, kl_tol=None)
    t_ours = time.perf_counter() - t0
    same = bool(np.array_equal(np.asarray(Y_direct, np.float32), res.coords))
    tw_d = M.trustworthiness(X, Y_direct, sample=args.trust_sample)
    tw_o = M.trustworthiness(X, res.coords, sample=args.trust_sample)
    own = t_ours - res.timings.get("preprocess_s", 0.0) - res.timings.get("fit_s", 0.0)
    print(f"{n:>8} {t_direct:>9.2f} {t_ours:>8.2f} {100 * (t_ours / t_direct - 1):>8.1f}% {own:>6.2f} "
          f"{100 * own / t_direct:>5.2f}% {str(same):>5} {tw_d:>13.4f} {tw_o:>11.4f}", flush=True)


if __name__ == "__main__":
    main()
