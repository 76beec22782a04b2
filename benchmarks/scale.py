"""Benchmark: analysis at BDD100K scale (issue 15): a synthetic 1.8M-row objects table in the real schema.

    python benchmarks/scale.py --steps t1                 # T1: 100k x 256, openTSNE defaults vs yololens
    python benchmarks/scale.py --steps t2,stages          # T2 (1.8M projected) and stages at 1.8M rows
    python benchmarks/scale.py --steps real --real-out OUT   # the T1 comparison on a real extract output
    python benchmarks/scale.py --steps plot               # plot hook: HTML size (+ load time with playwright)
    python benchmarks/scale.py --steps extract --extract-images 1000,10000   # extract RSS flatness hook

The table (:func:`yololens.analysis.synthetic.write_large_table`): ``--rows`` rows (default 1.8M), four
stages of 256, 64, 128 and 256 dims, 10 classes with BDD100K's imbalance, overlapping blobs; it is written
once under ``--workdir`` and reused. Every step runs in its own child process, so each peak RSS
(``ru_maxrss``) is that step's alone; the load average is printed before and after (the machine is shared).

  * t1: 100k x 256 (same generator): openTSNE's defaults (``openTSNE.TSNE().fit`` on the 256-D vectors)
    against ``yololens project``'s default route, one after the other in one process; time ratio and
    trustworthiness (k=10) on one 3,000-point probe. Target: ratio <= 0.5, trust no more than 0.01 lower.
  * t2: ``project`` on all rows (large-N mode: fit a stratified sample, place the rest); wall time, peak RSS,
    trustworthiness on 10k placed points and on 10k fitted points. Target: <= 15 min, <= 6 GB, within 0.02.
  * stages: ``yololens stages`` (every stage, default sample and bootstrap); wall time, peak RSS (target 4 GB).
  * plot: ``yololens plot`` on the saved t2 projection; HTML size, and load time in headless Chromium when
    playwright and a chromium are installed.
  * extract: peak RSS of ``yololens extract`` on cycled real frames (benchmarks/extract_throughput.py).
  * ray: the Ray executor against the local one (issue 15 section 1; not in this version).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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

STEPS = ("t1", "t2", "stages", "plot", "extract", "real", "ray")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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
    out = large_table(Path(args.workdir), args.rows)
    exe = shutil.which("yololens") or str(Path(sys.executable).with_name("yololens"))
    t = time.perf_counter()
    code = ("import resource,sys; from yololens.cli.app import app; sys.argv=['yololens','plot',%r,'-l','9'];\n"
            "try: app()\nexcept SystemExit: pass\nprint('RSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
            % str(out))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    wall = time.perf_counter() - t
    rss = [ln for ln in proc.stdout.splitlines() if ln.startswith("RSS")]
    from yololens.figures.scatter import FIGURES_DIR

    html = next(iter(sorted((out / FIGURES_DIR).glob("L9_*.html"))), None)
    res = {"cli": exe, "rc": proc.returncode, "wall_s": round(wall, 1),
           "plot_rss_mb": round(int(rss[-1].split()[1]) / 1024) if rss else None,
           "html": str(html) if html else None, "html_mb": round(html.stat().st_size / 1e6, 1) if html else None}
    if html is not None:
        res["load_s"] = html_load_seconds(html)
    return res


def html_load_seconds(html: Path) -> float | None:
    """Seconds until the Bokeh document has rendered its roots in headless Chromium (None: no browser)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if chromium is None:
        return None
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--use-gl=swiftshader",
                                                                     "--enable-unsafe-swiftshader"])
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        t = time.perf_counter()
        page.goto(html.as_uri())
        page.wait_for_function("() => window.Bokeh && Bokeh.documents.length && Bokeh.documents[0].roots().length",
                               timeout=300_000)
        secs = time.perf_counter() - t
        browser.close()
    return round(secs, 2)


def step_extract(args) -> dict:
    from extract_throughput import peak_rss_mb

    model = args.model
    return {f"rss_mb_{n}": round(peak_rss_mb(model, n, "cpu", 8)) for n in
            (int(s) for s in args.extract_images.split(",") if s.strip())}


def step_ray(args) -> dict:
    return {"note": "the Ray executor (issue 15 section 1) is not in this version"}


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
