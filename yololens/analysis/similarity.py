"""How alike are the stages? Linear CKA (:mod:`yololens.analysis.cka`) between embedding columns, on the same
objects: every pair of columns of one run, or the columns of two runs (two models on the same labelled source)
with the objects aligned by their ground-truth label.

Within one run the objects are the rows of ``origin`` (``auto``: the gt rows when the table has any, else all)
whose every compared column is present and finite; a column absent on all of them (``emb_coef`` on gt rows) is
left out with a note. Across two runs only gt rows can be aligned: an object is ``(image, gt_id)``, and the runs
must have been extracted from the same source with the same labels (read from both manifests; refused with one
line naming what differs).

Memory: run A is streamed row group by row group into batches of ``batch`` objects; across runs, run B's compared
columns are held for the shared objects (``n x sum(C_B)`` float32).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from yololens import reprs
from yololens.analysis import table as T
from yololens.analysis.arrays import embeddings_to_numpy
from yololens.analysis.cka import MIN_BATCH, MinibatchCKA
from yololens.analysis.grouping import resolve_origin
from yololens.analysis.run import Run, open_run
from yololens.analysis.verdict import role_columns, stage_roles, stage_title
from yololens.errors import InputError

#: Manifest parameters two runs must share before their objects are compared.
SAME_INPUT = ("source", "labels")
#: Objects per minibatch: time grows with batch x objects, memory with stages x batch^2; every batch is unbiased.
DEFAULT_BATCH = 256


@dataclass
class SimilarityResult:
    """Linear CKA between the stages of ``run_a`` and those of ``run_b`` (``run_b`` is ``run_a`` within one run).

    matrix: ``(stages of A, stages of B)`` DataFrame of CKA, indexed by stage label (``L15``); lo/hi: the 95%
    bootstrap interval of each cell (None without ``n_boot`` or with one batch); table: the long form written
    to ``similarity.csv`` (``run_a, layer_a, run_b, layer_b, cka, n`` [+ ``cka_lo, cka_hi``]); n: objects
    compared; roles: ``{stage: role}`` of each run; insufficient: the one line said instead when there are too
    few objects or stages; notes: columns left out and why; paths: files written.
    """

    run_a: Path
    run_b: Path
    matrix: pd.DataFrame
    n: int
    n_batches: int = 0
    lo: pd.DataFrame | None = None
    hi: pd.DataFrame | None = None
    roles_a: dict = field(default_factory=dict)
    roles_b: dict = field(default_factory=dict)
    origin: str = "gt"
    insufficient: str | None = None
    notes: list[str] = field(default_factory=list)
    paths: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)

    @property
    def across(self) -> bool:
        return self.run_a != self.run_b

    @property
    def table(self) -> pd.DataFrame:
        rows = []
        for la in self.matrix.index:
            for lb in self.matrix.columns:
                rec = {"run_a": str(self.run_a), "layer_a": la, "run_b": str(self.run_b), "layer_b": lb,
                       "cka": self.matrix.loc[la, lb], "n": self.n}
                if self.lo is not None and self.hi is not None:
                    rec.update(cka_lo=self.lo.loc[la, lb], cka_hi=self.hi.loc[la, lb])
                rows.append(rec)
        return pd.DataFrame(rows)

    @property
    def headline(self) -> str:
        """The answer in one line: the least and most alike pair (within a run) or the same-role diagonal."""
        if self.insufficient:
            return self.insufficient
        m = self.matrix
        origin = "" if self.origin == "all" else f"{self.origin} "  # "10 gt objects"; never "17 all objects"
        what = f"linear CKA on {self.n} {origin}objects"
        if self.across:
            pairs = [(a, b) for a, b in self.params.get("diagonal", [])]
            if pairs:
                return f"{what}, same-role layers: " + ", ".join(
                    f"{a}~{b} {self._cell(a, b)}" for a, b in pairs)
            return f"{what} ({len(m.index)} x {len(m.columns)} stages)"
        iu = np.triu_indices(len(m), k=1)
        vals = m.to_numpy()[iu]
        if not np.isfinite(vals).any():
            return f"{what}: no pair could be scored"
        lo_i, hi_i = int(np.nanargmin(vals)), int(np.nanargmax(vals))
        least = (m.index[iu[0][lo_i]], m.columns[iu[1][lo_i]])
        most = (m.index[iu[0][hi_i]], m.columns[iu[1][hi_i]])
        return (f"most alike: {most[0]} and {most[1]} ({self._cell(*most)}); least alike: {least[0]} and "
                f"{least[1]} ({self._cell(*least)}); {what}")

    def _cell(self, a: str, b: str) -> str:
        v = self.matrix.loc[a, b]
        if self.lo is None or self.hi is None:
            return f"CKA {v:.2f}"
        return f"CKA {v:.2f} [{self.lo.loc[a, b]:.2f}, {self.hi.loc[a, b]:.2f}]"

    def __str__(self) -> str:
        return self.headline

    def __repr__(self) -> str:
        return reprs.text("SimilarityResult", self.headline,
                          {"runs": f"{self.run_a}" + (f" x {self.run_b}" if self.across else ""),
                           "batches": str(self.n_batches), **{k: str(v) for k, v in self.paths.items()},
                           **({"notes": "; ".join(self.notes)} if self.notes else {})})

    def _repr_html_(self) -> str:
        rows = [{"stage": stage_title(i, self.roles_a.get(i)),
                 **{c: f"{self.matrix.loc[i, c]:.3f}" for c in self.matrix.columns}} for i in self.matrix.index]
        return reprs.block(self.headline, reprs.img_tag(self.paths.get("heatmap")),
                           reprs.table_html(rows, ["stage", *self.matrix.columns]), "; ".join(self.notes))

    def _repr_png_(self) -> bytes | None:
        return reprs.png_bytes(self.paths.get("heatmap"))


def _columns(run: Run, layers) -> list[str]:
    cols = run.columns(layers) if layers not in (None, "", []) else run.embedding_columns
    if not cols:
        raise InputError(f"{run.objects_path}: the objects table has no embedding (emb_*) columns")
    return cols


def _usable(run: Run, cols: list[str], base: np.ndarray, notes: list[str]) -> tuple[list[str], np.ndarray]:
    """The columns present on some ``base`` rows, and the rows where every one of them is present and finite."""
    keep, rows = [], base.copy()
    for col in cols:
        ok = T.valid_embedding_mask(run.path, col) & T.finite_mask(run.path, col)
        if not (ok & base).any():
            notes.append(f"{run.path.name}: {T.stage_label(col)} left out (no value on these objects)")
            continue
        dropped = int((base & ~ok).sum())
        if dropped:
            notes.append(f"{run.path.name}: {dropped} objects without a finite {T.stage_label(col)} left out")
        keep.append(col)
        rows &= ok
    return keep, rows


def _origin_mask(run: Run, origin: str) -> tuple[str, np.ndarray]:
    org = pq.read_table(run.objects_path, columns=["origin"])["origin"] if "origin" in run.schema.names else None
    resolved, _, _ = resolve_origin(origin, None if org is None else org.to_pandas())
    if resolved == "all" or org is None:
        return resolved, np.ones(run.num_rows, dtype=bool)
    return resolved, np.asarray(pc.fill_null(pc.equal(org, resolved), False))


def stream_batches(run: Run, cols: list[str], rows: np.ndarray, batch: int) -> Iterator[list[np.ndarray]]:
    """``(b, C)`` float32 arrays of ``cols`` at table rows ``rows`` (sorted), ``batch`` objects at a time (the
    last batch takes the remainder; one of fewer than 4 objects is merged into the one before). Streams the
    table one row group (at most a few thousand rows) at a time, so memory is one chunk plus one batch."""
    pf = pq.ParquetFile(run.objects_path)
    n_sel = len(rows)
    bounds = list(range(0, n_sel, batch)) + [n_sel]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] < MIN_BATCH:
        bounds.pop(-2)
    pending: list[np.ndarray] | None = None  # the rows read and not yet yielded, one array per column
    nxt, start = 1, 0
    for chunk in _chunks(pf, cols, max(batch, 2048)):
        lo, hi = np.searchsorted(rows, [start, start + chunk.num_rows])
        start += chunk.num_rows
        if hi <= lo:
            continue
        picked = rows[lo:hi] - (start - chunk.num_rows)
        if len(picked) < chunk.num_rows:  # a full chunk is used as read (no copy)
            chunk = chunk.take(pa.array(picked))
        new = [embeddings_to_numpy(chunk.column(i)) for i in range(len(cols))]
        pending = new if pending is None else [np.concatenate([p, x]) for p, x in zip(pending, new)]
        used = 0
        while nxt < len(bounds) and len(pending[0]) - used >= bounds[nxt] - bounds[nxt - 1]:
            size = bounds[nxt] - bounds[nxt - 1]
            yield [a[used:used + size] for a in pending]
            used += size
            nxt += 1
        pending = [a[used:] for a in pending]


def _chunks(pf: pq.ParquetFile, cols: list[str], rows: int) -> Iterator[pa.RecordBatch]:
    # one row group at a time (iter_batches over the whole file reads ahead; see table.iter_column)
    for rg in range(pf.metadata.num_row_groups):
        yield from pf.iter_batches(batch_size=rows, row_groups=[rg], columns=cols)


def check_same_input(a: Run, b: Run) -> None:
    for run in (a, b):
        if not run.manifest:
            raise InputError(f"{run.path}: no manifest.json, so it cannot be checked that both runs used the same "
                             "source and labels")
    pa_, pb_ = a.manifest.get("params") or {}, b.manifest.get("params") or {}
    for key in SAME_INPUT:
        va, vb = pa_.get(key), pb_.get(key)
        norm = [os.path.realpath(v) if isinstance(v, str) else v for v in (va, vb)]
        if norm[0] != norm[1]:
            raise InputError(f"{b.path / 'manifest.json'}: not the same {key} as {a.path} ({vb!r} vs {va!r}); "
                             "objects can only be compared on the same labelled source")


def gt_keys(run: Run) -> pd.Series:
    """``(image, gt_id)`` of every gt row as one string key, indexed by table row (gt rows only)."""
    need = [c for c in ("image", "gt_id", "origin") if c not in run.schema.names]
    if need:
        raise InputError(f"{run.objects_path}: no {need[0]!r} column, so objects cannot be aligned by label")
    df = pq.read_table(run.objects_path, columns=["image", "gt_id", "origin"]).to_pandas()
    df = df[(df["origin"] == "gt") & df["gt_id"].notna()]
    return df["image"].astype(str) + "\x00" + df["gt_id"].astype(str)


def align(a: Run, b: Run, rows_a: np.ndarray, rows_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Table rows ``(of A, of B)`` of the gt objects both runs hold (same image and label id), among the masked
    rows, in A's order."""
    ka, kb = gt_keys(a), gt_keys(b)
    ka, kb = ka[rows_a[ka.index]], kb[rows_b[kb.index]]
    ka, kb = ka[~ka.duplicated(keep=False)], kb[~kb.duplicated(keep=False)]
    pos_b = pd.Series(kb.index.to_numpy(), index=kb.to_numpy())
    matched = pos_b.reindex(ka.to_numpy())
    ok = matched.notna().to_numpy()
    return ka.index.to_numpy()[ok].astype(np.int64), matched.to_numpy()[ok].astype(np.int64)


def compute_similarity(run, other=None, *, layers=None, layers_b=None, origin: str = "auto", batch: int = DEFAULT_BATCH,
                       n_boot: int = 0, seed: int = 0) -> SimilarityResult:
    """Linear CKA between every pair of embedding columns of ``run`` (or ``layers``), or between the columns of
    ``run`` and of ``other`` (``layers_b``; default: every column) on the objects both share. Writes nothing.

    ``batch``: objects per minibatch (memory ~ ``V * batch^2`` float64); ``n_boot``: bootstrap resamples of the
    batches for a 95% interval per cell (0: none).
    """
    if batch < MIN_BATCH:
        raise InputError(f"--batch must be at least {MIN_BATCH}, not {batch}")
    a = open_run(run)
    b = open_run(other) if other is not None else a
    notes: list[str] = []
    if b.path == a.path:
        origin, base = _origin_mask(a, origin)
        cols_a, rows = _usable(a, _columns(a, layers), base, notes)
        rows_a = np.flatnonzero(rows)
        cols_b, rows_b, pre_b = cols_a, rows_a, None
        short = len(cols_a) < 2 and f"fewer than 2 stages to compare ({', '.join(map(T.stage_label, cols_a))})"
    else:
        check_same_input(a, b)
        origin, base_a = _origin_mask(a, origin)
        if origin != "gt":
            raise InputError(f"--origin {origin}: across two runs only gt objects can be aligned (by their label id)")
        base_b = _origin_mask(b, "gt")[1]
        cols_a, ok_a = _usable(a, _columns(a, layers), base_a, notes)
        cols_b, ok_b = _usable(b, _columns(b, layers_b), base_b, notes)
        rows_a, rows_b = align(a, b, ok_a, ok_b)
        short = not (cols_a and cols_b) and "no stage to compare in one of the runs"
    sa, sb = [T.stage_label(c) for c in cols_a], [T.stage_label(c) for c in cols_b]
    ra, rb = stage_roles(a), stage_roles(b)
    res = SimilarityResult(a.path, b.path, pd.DataFrame(np.nan, index=sa, columns=sb), int(len(rows_a)),
                           roles_a={T.stage_label(c): ra.get(c, "") for c in cols_a},
                           roles_b={T.stage_label(c): rb.get(c, "") for c in cols_b}, origin=origin, notes=notes,
                           params={"batch": batch, "n_boot": n_boot, "seed": seed, "origin": origin})
    if short or len(rows_a) < MIN_BATCH:
        res.insufficient = "not enough to compare stages: " + (
            short or f"{len(rows_a)} shared {origin} objects with every stage (need >= {MIN_BATCH})")
        return res
    acc = MinibatchCKA()
    if b.path == a.path:
        for views in stream_batches(a, cols_a, rows_a, batch):
            acc.add(views)
        block = (slice(None), slice(None))
    else:
        order = np.argsort(rows_a, kind="stable")
        rows_a, rows_b = rows_a[order], rows_b[order]
        pre_b = [T.read_embeddings(b.path, c, rows_b) for c in cols_b]
        done = 0
        for views in stream_batches(a, cols_a, rows_a, batch):
            size = len(views[0])
            acc.add([*views, *(x[done:done + size] for x in pre_b)])
            done += size
        block = (slice(0, len(cols_a)), slice(len(cols_a), None))
    if b.path != a.path:
        ca, cb = role_columns(a), role_columns(b)
        res.params["diagonal"] = [(T.stage_label(ca[r]), T.stage_label(cb[r])) for r in ca
                                  if r in cb and ca[r] in cols_a and cb[r] in cols_b]
    res.n_batches = acc.n_batches
    res.matrix.loc[:, :] = acc.value()[block]
    ci = acc.interval(n_boot, seed) if n_boot else None
    if ci is not None:
        res.lo = pd.DataFrame(ci[0][block], index=sa, columns=sb)
        res.hi = pd.DataFrame(ci[1][block], index=sa, columns=sb)
    elif n_boot:
        notes.append("one batch only, so no bootstrap interval (use a smaller --batch)")
    return res
