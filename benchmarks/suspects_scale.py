"""`yololens suspects` at scale: N synthetic gt objects (BDD-like class mix, four stages of 256/64/128/256 dims,
18 objects per image), the whole job in a fresh process (wall time, peak RSS), then the recall of its approximate
neighbours (above 20k objects: PCA to 64 dims + pynndescent's neighbour graph) against exact ones on the
full-dimensional vectors for a sample of objects (cosine, other images only, brute force: an independent
computation). At ``--n`` below the target the time and memory are extrapolated; at the target they are measured.

Target (issue 21): 1.8M gt objects in <= 15 min and <= 4 GB on 2 cores.

    python benchmarks/suspects_scale.py --n 100000 --threads 2 --out /tmp/suspects_scale
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _harness import run_child  # noqa: E402

JOB = """
import time, json, resource
t0 = time.perf_counter()
import numpy as np, yololens, pynndescent, sklearn.neighbors, sklearn.decomposition, yololens.jobs.suspects
cpu0 = time.process_time()
# pynndescent's numba compilation: a constant (time and memory) of every fresh process, measured apart
pynndescent.NNDescent(np.random.default_rng(0).normal(size=(3000, 8)).astype(np.float32), metric="cosine",
                      n_neighbors=21, n_jobs={threads}, low_memory=True).neighbor_graph
jit_cpu = time.process_time() - cpu0
base_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
cpu0 = time.process_time()
rep = yololens.suspects({run!r}, layer={layer!r}, k={k}, n_jobs={threads})
RESULT = {{"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - cpu0, "base_mb": base_mb,
          "jit_cpu_seconds": jit_cpu,
          "headline": rep.headline, "rows": len(rep.table)}}
"""


def exact_recall(run: Path, layer: str, k: int, sample: int, seed: int) -> dict:
    """Recall@k of the job's neighbour search (refitted here exactly as the job fits it) against brute force on
    the full vectors, for ``sample`` query objects."""
    import numpy as np
    import pyarrow.parquet as pq

    from yololens.analysis import table as T
    from yololens.analysis.grouping import group_codes
    from yololens.analysis.suspects import NeighbourSuspects
    from yololens.analysis.suspects_run import _stage_embeddings
    from yololens.analysis.run import open_run

    r = open_run(run)
    meta = pq.read_table(r.objects_path, columns=["origin", "image", "class_name"]).to_pandas()
    gt_rows = np.flatnonzero((meta["origin"] == "gt").to_numpy())
    groups = group_codes(meta["image"].to_numpy()[gt_rows])
    col = r.column(layer)
    t = time.perf_counter()
    pos, X = _stage_embeddings(r, col, gt_rows, 20_000, seed)
    est = NeighbourSuspects(k, seed=seed, n_jobs=2).fit(X, groups[pos])
    fit_s = time.perf_counter() - t
    rng = np.random.default_rng(seed)
    q = np.sort(rng.choice(len(pos), size=min(sample, len(pos)), replace=False))
    F = T.read_embeddings(run, col, gt_rows[pos])  # the full-dimensional vectors
    F /= np.maximum(np.linalg.norm(F, axis=1, keepdims=True), 1e-12)
    exact = np.empty((len(q), k), dtype=np.int64)
    exact_sim = np.empty((len(q), k), dtype=np.float32)
    for lo in range(0, len(q), 50):  # 50 queries at a time: a (50, N) block, not (sample, N), at millions of rows
        S = F[q[lo: lo + 50]] @ F.T
        S[groups[pos][q[lo: lo + 50]][:, None] == groups[pos][None, :]] = -np.inf
        exact[lo: lo + 50] = np.argpartition(-S, k, axis=1)[:, :k]
        exact_sim[lo: lo + 50] = np.take_along_axis(S, exact[lo: lo + 50], 1)
    hits = [len(set(a) & set(e)) / k for a, e in zip(est.idx_[q], exact)]
    # what the votes see: the neighbours' label shares, approximate vs exact (weights max(sim, 0) as the job)
    labels = np.unique(meta["class_name"].to_numpy()[gt_rows][pos], return_inverse=True)[1]
    nc = labels.max() + 1

    def shares(idx, sim):
        w = np.maximum(np.nan_to_num(sim), 0)
        W = np.zeros((len(idx), nc))
        np.add.at(W, (np.repeat(np.arange(len(idx)), idx.shape[1]), labels[idx].ravel()), w.ravel())
        return W / np.maximum(W.sum(1, keepdims=True), 1e-12)

    P_apx = shares(est.idx_[q], est.sim_[q])
    P_ex = shares(exact, exact_sim)
    own = labels[q]
    return {"layer": col, "fit_seconds": fit_s, "recall": float(np.mean(hits)), "sample": len(q),
            "mean_abs_diff_p_given": float(np.abs(P_apx[np.arange(len(q)), own] - P_ex[np.arange(len(q)), own]).mean()),
            "same_top_class": float((P_apx.argmax(1) == P_ex.argmax(1)).mean())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000, help="gt objects")
    ap.add_argument("--out", type=Path, default=Path("/tmp/suspects_scale"))
    ap.add_argument("--layer", default="all")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--recall-sample", type=int, default=500)
    ap.add_argument("--target-n", type=int, default=1_800_000)
    args = ap.parse_args()
    from yololens.analysis.synthetic import write_large_table

    run = args.out / f"n{args.n}"
    if not (run / "objects.parquet").is_file():
        t = time.perf_counter()
        write_large_table(run, args.n, gt_share=1.0)
        print(f"table: {args.n:,} gt objects written in {time.perf_counter() - t:.0f} s")
    env = {k: str(args.threads) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    child = run_child(JOB.format(run=str(run), layer=args.layer, k=args.k, threads=args.threads), env=env)
    base = child.result["base_mb"]
    rec = exact_recall(run, "L15", args.k, args.recall_sample, 0)
    scale = args.target_n / args.n
    # the neighbour graph is ~N log N: extrapolate with N log N from this N
    import math

    factor = scale * math.log(args.target_n) / math.log(args.n)
    result = {"n": args.n, "threads": args.threads, "wall_s": round(child.wall_s, 1), "job_s": round(child.result["seconds"], 1),
              "job_cpu_s": round(child.result["cpu_seconds"], 1), "imports_and_jit_rss_mb": round(base),
              "jit_cpu_s": round(child.result["jit_cpu_seconds"], 1),
              "extrapolated_job_cpu_s_at_target": round(child.result["cpu_seconds"] * factor),
              "peak_rss_mb": round(child.peak_rss_mb), "recall_at_k_vs_exact": round(rec["recall"], 4),
              "recall_sample": rec["sample"], "recall_layer": rec["layer"],
              "p_given_mean_abs_diff_vs_exact": round(rec["mean_abs_diff_p_given"], 4),
              "neighbour_majority_same_as_exact": round(rec["same_top_class"], 4),
              "extrapolated_wall_s_at_target": round(child.wall_s * factor),
              "extrapolated_note": (f"time: N log N from N={args.n:,} to {args.target_n:,} (x{factor:.1f}); memory: "
                                    f"linear above the {base:.0f} MB of the imports and the numba compilation"),
              "extrapolated_rss_mb_at_target": round(base + (child.peak_rss_mb - base) * scale)}
    if args.n >= args.target_n:  # measured at the target size: no extrapolation, the targets themselves
        for key in [k for k in result if k.startswith("extrapolated")]:
            del result[key]
        print(f"target (issue 21): {args.n:,} gt objects in <= 900 s: {child.wall_s:.0f} s "
              f"{'PASS' if child.wall_s <= 900 else 'FAIL'}; <= 4096 MB: {child.peak_rss_mb:.0f} MB "
              f"{'PASS' if child.peak_rss_mb <= 4096 else 'FAIL'}")
    print(child.result["headline"])
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
