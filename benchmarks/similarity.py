"""Benchmark: ``yololens similarity`` on every layer of YOLOv8n (issue 20): 23 embedding columns x 100k objects.

    python benchmarks/similarity.py                     # 100k objects, batch 256 (targets: <= 5 min, <= 2 GB)
    python benchmarks/similarity.py --rows 5000         # a quick check of the script

The table (:func:`yololens.analysis.synthetic.write_large_table`) has YOLOv8n's 22 layer widths (L0-L21: 16 ...
384 channels, 3,776 in all) plus a 32-wide ``emb_coef``: 23 columns, written once under ``--workdir``. The
similarity job runs in a child process (``--origin all``: every row), so the peak RSS (``VmHWM``) is its own;
the load average is printed before and after (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import run_child  # noqa: E402

#: YOLOv8n's output channels, layers 0-21 (n scale), as recorded in a real extract manifest.
YOLOV8N_WIDTHS = (16, 32, 32, 64, 64, 128, 128, 256, 256, 256, 256, 384, 128, 192, 64, 64, 192, 128, 128, 384, 256,
                  256)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "yololens-bench-similarity")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from yololens.analysis.synthetic import write_large_table

    dims = {f"emb_L{i}": c for i, c in enumerate(YOLOV8N_WIDTHS)} | {"emb_coef": 32}
    out = args.workdir / f"rows{args.rows}"
    if not (out / "objects.parquet").is_file():
        write_large_table(out, args.rows, dims=dims, chunk=16_384)
    print(f"table: {out / 'objects.parquet'} ({args.rows} rows, {len(dims)} columns, {sum(dims.values())} dims)")
    print(f"load average before: {os.getloadavg()}")
    code = (f"import time\nfrom yololens.jobs.similarity import similarity\nt, c = time.perf_counter(), time.process_time()\n"
            f"res = similarity({str(out)!r}, origin='all', batch={args.batch})\n"
            f"RESULT = {{'seconds': round(time.perf_counter() - t, 1), 'cpu_s': round(time.process_time() - c, 1), 'n': res.n, 'batches': res.n_batches, "
            f"'stages': len(res.matrix), 'headline': res.headline}}")
    child = run_child(code)
    print(f"load average after: {os.getloadavg()}")
    r = child.result
    print(json.dumps({**r, "peak_rss_mb": round(child.peak_rss_mb), "wall_s_with_start": round(child.wall_s, 1),
                      "time_vs_target_5min": round(r["seconds"] / 300, 3),
                      "rss_vs_target_2GB": round(child.peak_rss_mb / 2048, 3)}, indent=1))


if __name__ == "__main__":
    main()
