"""Benchmark: analysis at BDD100K scale (issue 15): a synthetic 1.8M-row objects table in the real schema.

    python benchmarks/scale.py --steps t1                 # T1: 100k x 256, openTSNE defaults vs yololens
    python benchmarks/scale.py --steps t2,stages          # T2 (1.8M projected) and stages at 1.8M rows
    python benchmarks/scale.py --steps real --real-out OUT   # the T1 comparison on a real extract output
    python benchmarks/scale.py --steps plot               # plot at 1.8M: HTML size, load and response times
    python benchmarks/scale.py --steps extract --extract-images 1000,10000   # extract RSS flatness hook

The table (:func:`yololens.analysis.synthetic.write_large_table`): ``--rows`` rows (default 1.8M), four
stages of 256, 64, 128 and 256 dims, 10 classes with BDD100K's imbalance, overlapping blobs; it is written
once under ``--workdir`` and reused. Every step runs in its own child process, so each peak RSS
(``VmHWM``) is that step's alone; the load average is printed before and after (the machine is shared).

  * t1: 100k x 256 (same generator): openTSNE's defaults (``openTSNE.TSNE().fit`` on the 256-D vectors)
    against ``yololens project``'s default route, one after the other in one process; time ratio and
    trustworthiness (k=10) on one 3,000-point probe. Target: ratio <= 0.5, trust no more than 0.01 lower.
  * t2: ``project`` on all rows (large-N mode: fit a stratified sample, place the rest); wall time, peak RSS,
    trustworthiness on 10k placed points and on 10k fitted points. Target: <= 15 min, <= 6 GB, within 0.02.
  * stages: ``yololens stages`` (every stage, default sample and bootstrap); wall time, peak RSS (target 4 GB).
  * plot: ``yololens plot`` on every row (``--plot-method``, default pca); plot wall time and RSS, the HTML size,
    and its load / hover / colour / filter / selection times in headless Chromium (benchmarks/html_timing.py).
  * extract: peak RSS (VmHWM) and rate of ``extract`` on ``--extract-images`` cycled real frames, one fresh
    process each (target: the largest within 10% of the smallest).
  * ray: ``--executor ray`` on a local Ray (this machine's cores) against the local executor on the same 256
    frames: rates, and whether ``objects.parquet`` is equal (both at threads=1), plus local at all threads.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from yololens.analysis import metrics as M  # noqa: E402
from yololens.analysis import table as T  # noqa: E402
from yololens.analysis.synthetic import write_large_table  # noqa: E402
from _harness import image_folder, peak_rss_kb, run_child, shared_dir  # noqa: E402

STEPS = ("t1", "t2", "stages", "plot", "extract", "real", "ray")


def _rss_mb() -> float:
    return peak_rss_kb() / 1024


def _trust(X: np.ndarray, Y: np.ndarray, normalize: bool = False) -> float:
    return M.trustworthiness(X, Y, n_neighbors=10, sample=None, normalize=normalize)


def large_table(work: Path, rows: int) -> Path:
    out = work / f"table_{rows}"
    if not (out / "objects.parquet").is_file():
        t = time.perf_counter()
        write_large_table(out, rows)
        print(f"table: {rows:,} rows written in {time.perf_counter() - t:.0f} s -> {out}", flush=True)
    return out


def compare_defaults(out: Path, column: str, probe_n: int, seed: int = 0) -> dict:
    """openTSNE's defaults against yololens's default route on the same vectors (one process, one probe)."""
    import warnings

    import openTSNE

    from yololens.analysis.projection import project

    X = T.read_embeddings(out, column)
    probe = np.sort(np.random.default_rng(seed).choice(len(X), size=min(probe_n, len(X)), replace=False))
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Yd = np.asarray(openTSNE.TSNE(random_state=seed, n_jobs=-1).fit(X))
    t_def = time.perf_counter() - t
    t = time.perf_counter()
    res = project(out, column, "tsne", seed=seed, save=False)
    t_ours = time.perf_counter() - t
    return {"n": len(X), "dims": int(X.shape[1]), "defaults_s": round(t_def, 1), "ours_s": round(t_ours, 1),
            "ratio": round(t_ours / t_def, 3), "trust_defaults": round(_trust(X[probe], Yd[probe]), 4),
            "trust_ours": round(_trust(X[probe], res.coords[probe]), 4), "fit": res.params.get("fit")}


def step_t1(args) -> dict:
    out = Path(args.workdir) / "t1_100k"
    if not (out / "objects.parquet").is_file():
        write_large_table(out, args.t1_rows, dims={"emb_L9": 256}, sep={"emb_L9": 1.5}, seed=1)
    return compare_defaults(out, "emb_L9", 3000)


def step_real(args) -> dict:
    if not args.real_out:
        raise SystemExit("--steps real needs --real-out OUT (a `yololens extract` output)")
    col = T.layer_column(args.real_layer, T.read_schema(args.real_out))
    return compare_defaults(Path(args.real_out), col, 3000)


def step_t2(args) -> dict:
    from yololens.analysis.projection import project

    out = large_table(Path(args.workdir), args.rows)
    t = time.perf_counter()
    res = project(out, 9, "tsne", seed=0)
    wall = time.perf_counter() - t
    rng = np.random.default_rng(0)
    rows_of = np.arange(len(res))  # no NaN/null rows in the synthetic table: result i is table row i
    scores = {}
    for name, pool in (("placed", np.flatnonzero(res.placed)), ("fitted", np.flatnonzero(~res.placed))):
        pick = np.sort(rng.choice(pool, size=min(args.t2_probe, len(pool)), replace=False))
        scores[f"trust_{name}"] = round(_trust(T.read_embeddings(out, "emb_L9", rows_of[pick]), res.coords[pick]), 4)
    return {"n": len(res), "wall_s": round(wall, 1), "timings": {k: round(v, 1) for k, v in res.timings.items()
                                                                  if isinstance(v, float)},
            **scores, "fit": {k: v for k, v in res.params["fit"].items() if k != "kl_checks"}, "path": str(res.path)}


def step_stages(args) -> dict:
    from yololens.jobs.stages import stages

    out = large_table(Path(args.workdir), args.rows)
    t = time.perf_counter()
    rep = stages(out, seed=0)
    return {"wall_s": round(time.perf_counter() - t, 1), "best": rep.best,
            "n_per_stage": rep.table["n"].tolist(), "knn_acc": [round(v, 3) for v in rep.table["knn_acc"]]}


def step_plot(args) -> dict:
    """``yololens plot`` on every row (the projection of ``--plot-method``: pca by default, since what the page
    costs depends on the point count, not the method; ``tsne`` reuses the t2 projection when it is saved), then
    the HTML's size, load and response times in headless Chromium (:mod:`html_timing`)."""
    from html_timing import html_timings

    from yololens.figures.scatter import FIGURES_DIR

    out = large_table(Path(args.workdir), args.rows)
    code = ("import sys; from yololens.cli.app import app\n"
            f"sys.argv = ['yololens', 'plot', {str(out)!r}, '-l', '9', '--method', {args.plot_method!r}]\n"
            "try: app()\nexcept SystemExit as e: RESULT = {'rc': e.code}\n")
    run = run_child(code)
    html = out / FIGURES_DIR / f"L9_{args.plot_method}.html"
    res = {"rows": args.rows, "method": args.plot_method, "rc": run.result.get("rc"), "wall_s": round(run.wall_s, 1),
           "plot_rss_mb": round(run.peak_rss_mb), "html": str(html) if html.exists() else None}
    if html.exists():
        res.update(html_timings(html) or {})
    return res


def _extract_code(source: Path, out: Path, model: str, executor: str = "local", threads: int = 0,
                  backend: str = "torch") -> str:
    """extract_throughput's child script at extract's defaults (batch 8, 2 decode workers, window 64); the Ray
    executor runs one thread per worker."""
    from extract_throughput import extract_code

    return extract_code(model, source, out, backend, 1 if executor == "ray" else threads, 2, 8, 64, executor)


def step_extract(args) -> dict:
    """Peak RSS (VmHWM) and rate of ``extract`` on cycled real frames, one fresh process per size."""
    res = {}
    sizes = sorted(int(s) for s in args.extract_images.split(",") if s.strip())
    for backend in [b.strip() for b in args.extract_backend.split(",") if b.strip()]:
        for n in sizes:
            folder = Path(args.workdir) / f"frames{n}"
            if not folder.exists():
                image_folder(shared_dir(), n, folder)
            run = run_child(_extract_code(folder, Path(args.workdir) / f"extract{n}", args.model, backend=backend))
            res[f"{backend}_rss_mb_{n}"] = round(run.peak_rss_mb)
            res[f"{backend}_img_per_s_{n}"] = round(n / run.wall_s, 2)
            shutil.rmtree(Path(args.workdir) / f"extract{n}", ignore_errors=True)
            print(json.dumps({backend: n, "rss_mb": res[f"{backend}_rss_mb_{n}"]}), file=sys.stderr, flush=True)
        if len(sizes) > 1:
            res[f"{backend}_rss_growth"] = round(res[f"{backend}_rss_mb_{sizes[-1]}"] / res[f"{backend}_rss_mb_{sizes[0]}"], 3)
    return res


def step_ray(args) -> dict:
    """The Ray executor (a local cluster on this machine's cores, one CPU per actor) against the local one
    at threads=1 on the same 256 cycled frames: whole-process rate and whether the tables are equal."""
    import pyarrow.parquet as pq

    folder = image_folder(shared_dir(), 256, Path(args.workdir) / "frames_ray")
    res, tables = {}, {}
    for executor in ("local", "ray"):
        out = Path(args.workdir) / f"ray_cmp_{executor}"
        run = run_child(_extract_code(folder, out, args.model, executor, threads=1))
        res[f"{executor}_img_per_s"] = round(256 / run.wall_s, 2)
        res[f"{executor}_rss_mb"] = round(run.peak_rss_mb)
        tables[executor] = pq.read_table(out / "objects.parquet")
    run = run_child(_extract_code(folder, Path(args.workdir) / "ray_cmp_local_all", args.model))  # all threads
    res["local_all_threads_img_per_s"] = round(256 / run.wall_s, 2)
    res["ray_over_local"] = round(res["ray_img_per_s"] / res["local_img_per_s"], 2)
    res["ray_over_local_all_threads"] = round(res["ray_img_per_s"] / res["local_all_threads_img_per_s"], 2)
    res["tables_equal"] = tables["local"].equals(tables["ray"])
    return res


def run_step(name: str, argv: list[str]) -> dict:
    """Run one step in a child process; its JSON line, with its peak RSS and the load average around it."""
    load0 = os.getloadavg()[0]
    cmd = [sys.executable, __file__, "--child", name, *argv]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        return {"step": name, "error": (proc.stderr or proc.stdout).strip().splitlines()[-5:]}
    res = json.loads(lines[-1])
    res.update(load_before=round(load0, 2), load_after=round(os.getloadavg()[0], 2))
    return res


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", default="t1,t2,stages", help=f"comma list of: {', '.join(STEPS)}")
    ap.add_argument("--rows", type=int, default=1_800_000, help="rows of the large table (t2, stages, plot)")
    ap.add_argument("--t1-rows", type=int, default=100_000)
    ap.add_argument("--t2-probe", type=int, default=10_000)
    ap.add_argument("--workdir", default=None, help="where the tables go (default: a temp dir)")
    ap.add_argument("--real-out", default=None, help="a `yololens extract` output for --steps real")
    ap.add_argument("--real-layer", default="9")
    ap.add_argument("--model", default=str(Path(os.environ.get("YOLOLENS_SHARED", ROOT.parent / "shared"))
                                            / "models" / "yolov8n-coco.pt"))
    ap.add_argument("--extract-images", default="1000,10000")
    ap.add_argument("--extract-backend", default="torch", help="extract step: comma list of torch, openvino")
    ap.add_argument("--plot-method", default="pca", help="projection the plot step draws (pca, tsne, umap)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        res = globals()[f"step_{args.child}"](args)
        print(json.dumps({"step": args.child, **res, "peak_rss_mb": round(_rss_mb())}, default=str), flush=True)
        return
    args.workdir = args.workdir or tempfile.mkdtemp(prefix="yololens-scale-")
    passed = [a for a in (argv if argv is not None else sys.argv[1:])]
    if "--workdir" not in passed:
        passed += ["--workdir", args.workdir]
    print(f"cores: {len(os.sched_getaffinity(0))}, workdir: {args.workdir}", flush=True)
    for name in [s.strip() for s in args.steps.split(",") if s.strip()]:
        if name not in STEPS:
            raise SystemExit(f"unknown step {name!r} (one of {', '.join(STEPS)})")
        print(json.dumps(run_step(name, passed), default=str), flush=True)


if __name__ == "__main__":
    main()
