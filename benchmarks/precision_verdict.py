"""Does int8 (or bf16) change the answer? The stage verdict, the per-stage k-NN accuracy and the layer similarity of
an f32 run against the same run at another precision, on video frames built from the real frames of ../shared
(issue 24: "the stage verdict unchanged on the BDD frames").

The fixture is the one `benchmarks/suspects_fixture.py` builds: the BDD100K frame and the COCO-sample images with
their labels, plus the seed COCO images and Ultralytics' assets labelled by the model (pseudo-labels), each turned
into a video of ``--copies`` augmented frames. Both runs use the ground-truth boxes (``--boxes gt``, default
layers), so the objects are the same and only the features differ; int8 is calibrated on the fixture itself (the
run's own source, as `extract --precision int8` does). Printed per layer: the k-NN accuracy with its interval at
each precision, the cross-run CKA of the same layer (1 = the same geometry) and the cosine of each object's
embedding to its f32 one (median, 1st percentile); then both verdicts and whether they agree.

    python benchmarks/precision_verdict.py --copies 12 --precision int8 --out /tmp/precision_verdict
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))


def embedding_cosines(run_a: Path, run_b: Path) -> dict[str, tuple[float, float]]:
    """Per embedding column: (median, 1st percentile) of the cosine between each object's vectors in the two runs,
    objects aligned by (image, object)."""
    import numpy as np
    import pyarrow.parquet as pq

    from yololens.analysis import table as T

    a, b = (pq.read_table(T.objects_path(r)).to_pandas() for r in (run_a, run_b))
    key = ["image", "object"]
    m = a.merge(b, on=key, suffixes=("_a", "_b"))
    out = {}
    for col in [c for c in a.columns if c.startswith("emb_")]:
        x = np.stack(m[f"{col}_a"].to_numpy())
        y = np.stack(m[f"{col}_b"].to_numpy())
        cos = (x * y).sum(1) / np.maximum(np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1), 1e-12)
        out[col] = (float(np.median(cos)), float(np.percentile(cos, 1)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=12)
    ap.add_argument("--precision", default="int8", choices=["int8", "bf16"])
    ap.add_argument("--calibration", type=int, default=300)
    ap.add_argument("--out", type=Path, default=Path("/tmp/precision_verdict"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import yololens
    from precision_tolerance import cpu_name
    from suspects_fixture import build_fixture

    model, sources, images, labels = build_fixture(args.out, args.copies, args.seed)
    runs = {}
    for precision, backend in (("f32", "torch"), (args.precision, "auto")):
        t = time.perf_counter()
        runs[precision] = yololens.extract(str(model), str(images), str(labels), out=args.out / precision,
                                           boxes="gt", backend=backend, precision=precision,
                                           calibration=args.calibration, progress=False, overwrite=True).out
        print(f"extract {precision} ({backend}): {time.perf_counter() - t:.0f} s", flush=True)
    reports = {p: yololens.stages(r, save=False) for p, r in runs.items()}
    sim = yololens.similarity(runs["f32"], runs[args.precision], save=False)
    cos = embedding_cosines(runs["f32"], runs[args.precision])
    f32, other = reports["f32"], reports[args.precision]
    print(f"CPU: {cpu_name()}; {len(sources)} sources x {args.copies} frames; {sim.n} gt objects compared")
    print(f"{'layer':<6} {'k-NN f32':>22} {'k-NN ' + args.precision:>22} {'CKA':>6} {'cos med':>8} {'cos p1':>7}")
    ta, tb = (r.table.set_index("stage") for r in (f32, other))
    for stage in ta.index:
        col = f"emb_{stage}"

        def knn(t):
            row = t.loc[stage]
            return f"{row['knn_acc']:.3f} [{row['knn_acc_lo']:.3f}, {row['knn_acc_hi']:.3f}]"

        cka = sim.matrix.loc[stage, stage] if stage in sim.matrix.index and stage in sim.matrix.columns else float("nan")
        med, p1 = cos.get(col, (float("nan"),) * 2)
        print(f"{stage:<6} {knn(ta):>22} {knn(tb) if stage in tb.index else '-':>22} {cka:6.3f} {med:8.4f} {p1:7.4f}")
    same = (f32.verdict.best, f32.verdict.clear, f32.verdict.tied) == (other.verdict.best, other.verdict.clear,
                                                                       other.verdict.tied)
    print(f"f32:  {f32.verdict.text}\n{args.precision}: {other.verdict.text}")
    print(f"verdict unchanged: {'YES' if same else 'NO'}")


if __name__ == "__main__":
    main()
