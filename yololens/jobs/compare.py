"""The compare job (``yololens compare RUN_A RUN_B``): what changed between two checkpoints on one labelled source.

Writes into ``--out`` (default ``RUN_A/compare_vs_<run B>_<hash>``): ``transitions.csv`` (gt status moves per label
class, false positives per run and class), ``compare_stages.csv`` (same-role stages of both models on the same
objects, paired differences, CKA), ``compare.md`` (the answer line and the tables) and ``compare.html`` (the two
models' maps of the same objects, linked; :mod:`yololens.figures.compare_html`).
"""

from __future__ import annotations

import os

import numpy as np

from yololens.analysis import table as T
from yololens.analysis.compare import ABSENT, CompareResult, compare_runs
from yololens.analysis.run import open_run
from yololens.errors import InputError
from yololens.store.atomic import atomic_path, write_text
from yololens.store.naming import key_hash, safe_component

__all__ = ["CompareResult", "compare"]

#: The role whose embeddings place the objects in compare.html (the first of these both runs have).
MAP_ROLES = ("p3", "p4", "p5", "backbone")


def compare(run_a, run_b, *, out: str | os.PathLike | None = None, bootstrap: int = 1000, seed: int = 0,
            folds: int = 5, k: int = 10, sample: int | None = 5000, map_role: str | None = None,
            save: bool = True) -> CompareResult:
    """Compare two runs (paths, ``Run`` s or results with ``.out``) of two models on the same labelled source,
    extracted with ``--boxes both`` (see :mod:`yololens.analysis.compare`). ``map_role``: the stage that places the
    objects in ``compare.html`` (``p3``, ``p4``, ``p5``, ``backbone``; default the first both runs have)."""
    res = compare_runs(run_a, run_b, n_boot=bootstrap, seed=seed, n_folds=folds, k=k, sample=sample)
    if save:
        write_compare(res, out, map_role=map_role, seed=seed)
    return res


def default_out(res: CompareResult):
    return res.run_a / f"compare_vs_{safe_component(res.run_b.name)}_{key_hash(str(res.run_b.resolve()))}"


def write_compare(res: CompareResult, out=None, *, map_role: str | None = None, seed: int = 0) -> dict:
    from pathlib import Path

    d = Path(out) if out is not None else default_out(res)
    d.mkdir(parents=True, exist_ok=True)
    paths = {"transitions": d / "transitions.csv", "stages": d / "compare_stages.csv", "md": d / "compare.md",
             "html": d / "compare.html"}
    with atomic_path(paths["transitions"]) as tmp:
        res.transitions.to_csv(tmp, index=False)
    with atomic_path(paths["stages"]) as tmp:
        res.stages.to_csv(tmp, index=False, float_format="%.6g")
    write_text(paths["md"], _markdown(res))
    write_text(paths["html"], _page(res, map_role, seed))
    res.paths = paths
    return paths


def _markdown(res: CompareResult) -> str:
    lines = [f"# {res.name_a} vs {res.name_b}", "", res.headline, "", "## Status moves of the gt objects", "",
             "| class | from | to | objects |", "|---|---|---|---|"]
    gt = res.transitions[res.transitions["kind"] == "gt"]
    lines += [f"| {r['class_name']} | {r['from']} | {r['to']} | {r['count']} |" for _, r in gt.iterrows()]
    lines += ["", f"All rows add up to {int(gt['count'].sum())} gt objects.", "", "## False positives", "",
              "| run | class | count |", "|---|---|---|"]
    fp = res.transitions[res.transitions["kind"] == "fp"]
    lines += [f"| {r['run']} | {r['class_name']} | {r['count']} |" for _, r in fp.iterrows()]
    lines += ["", "## Same-role stages on the same objects (B - A with a paired 95% bootstrap interval)", ""]
    if len(res.stages):
        lines += ["| role | A | B | n | k-NN A | k-NN B | k-NN B - A | probe B - A | CKA |", "|---|---|---|---|---|---|---|---|---|"]
        for _, r in res.stages.iterrows():
            lines.append(f"| {r['role']} | {r['stage_a']} | {r['stage_b']} | {r['n']} | {r['knn_acc_a']:.3f} | "
                         f"{r['knn_acc_b']:.3f} | {_diff(r, 'knn_acc')} | {_diff(r, 'probe_acc')} | "
                         f"{r.get('cka', float('nan')):.3f} |")
    else:
        lines.append(res.metrics_note or "no same-role stages to compare")
    lines += ["", *(f"Note: {n}" for n in res.notes), ""]
    return "\n".join(lines)


def _diff(r, m: str) -> str:
    return f"{r[f'{m}_diff']:+.3f} [{r[f'{m}_diff_lo']:+.3f}, {r[f'{m}_diff_hi']:+.3f}]"


def _page(res: CompareResult, map_role: str | None, seed: int) -> str:
    from yololens.analysis.projection import Projector
    from yololens.analysis.verdict import role_columns
    from yololens.figures.compare_html import compare_page

    a, b = open_run(res.run_a), open_run(res.run_b)
    ra, rb = role_columns(a), role_columns(b)
    roles = [map_role] if map_role else [r for r in MAP_ROLES if r in ra and r in rb]
    if not roles or roles[0] not in ra or roles[0] not in rb:
        raise InputError(f"{b.path}: no stage {map_role or 'p3/p4/p5/sppf'} in both runs to draw the maps with")
    role = roles[0]
    ca, cb = ra[role], rb[role]
    obj = res.objects[(res.objects["row_a"] >= 0) & (res.objects["row_b"] >= 0)]
    ok = (T.valid_embedding_mask(a.path, ca)[obj["row_a"]] & T.valid_embedding_mask(b.path, cb)[obj["row_b"]])
    obj = obj[ok]
    xy = []
    for run, col, rows in ((a, ca, obj["row_a"].to_numpy()), (b, cb, obj["row_b"].to_numpy())):
        X = T.read_embeddings(run.path, col, rows)
        xy.append(Projector(method="pca", seed=seed).fit_transform(X) if len(X) >= 3 else np.zeros((len(X), 2)))
    objects = [{"image": r.image, "id": r.gt_id, "cls": r.class_name, "a": r.status_a, "b": r.status_b}
               for r in obj.itertuples()]
    moved = obj[obj["status_a"] != obj["status_b"]]
    absent = int((res.objects[["status_a", "status_b"]] == ABSENT).any(axis=1).sum())
    summary = [("gt objects", str(len(res.objects))), ("status changed", str(len(moved))),
               ("in both maps", str(len(obj))), *([("absent from one run", str(absent))] if absent else [])]
    summary += [(f"{r['role']}: k-NN B - A", f"{_diff(r, 'knn_acc')}, CKA {r.get('cka', float('nan')):.2f}")
                for _, r in res.stages.iterrows()]
    titles = (f"{res.name_a}: PCA of {T.stage_label(ca)} ({role})", f"{res.name_b}: PCA of {T.stage_label(cb)} ({role})")
    return compare_page(xy[0], xy[1], objects, (res.name_a, res.name_b), titles, res.headline, summary)
