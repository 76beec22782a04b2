"""2-D projections of object embeddings: t-SNE (openTSNE), UMAP (umap-learn, optional) and PCA (scikit-learn).

``Projector`` works on arrays; ``project`` reads one embedding column of ``OUT/objects.parquet`` and writes
``OUT/projections/<stage>_<method>[_<origin>].parquet`` (columns ``object_id, x, y``; the parameters in the
Parquet key-value metadata under ``yololens``) plus a JSON sidecar with the same parameters.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from yololens.analysis import table as T
from yololens.errors import InputError
from yololens.store.atomic import atomic_path, write_json

METHODS = ("tsne", "umap", "pca")
UMAP_HINT = 'UMAP needs the optional extra: pip install "yololens[umap]"'
PROJECTIONS_DIR = "projections"


def _n_jobs(n_jobs: int) -> int:
    if n_jobs is None or n_jobs < 1:
        return os.cpu_count() or 1
    return int(n_jobs)


@dataclass
class Projector:
    """Project ``(N, C)`` embeddings to ``(N, 2)``.

    Parameters
    ----------
    method: ``"tsne"`` (openTSNE), ``"umap"`` (umap-learn) or ``"pca"``.
    seed: random seed; the same seed and input give identical coordinates.
    pca_dims: PCA pre-reduction to this many dimensions before t-SNE/UMAP (``None``/0: off; skipped when
        ``C <= pca_dims``; never used for ``method="pca"``).
    normalize: L2-normalise each row first (Euclidean distances then rank like cosine distances).
    perplexity: t-SNE perplexity (clamped to ``(N - 1) / 3`` for tiny inputs).
    n_neighbors, min_dist: UMAP parameters.
    n_jobs: threads for openTSNE/UMAP (``-1``: all cores). UMAP with a seed runs single-threaded.
    gradient: openTSNE negative-gradient method: ``"fft"`` (FFT-accelerated interpolation), ``"bh"``
        (Barnes-Hut) or ``"auto"`` (openTSNE's rule: bh below 10 000 points, where FFT has a large fixed
        cost, else fft).
    n_iter: t-SNE iterations after early exaggeration (openTSNE default 500); with ``kl_tol`` the most.
    exaggeration_iter: t-SNE early-exaggeration iterations (openTSNE default 250).
    kl_tol: stop the normal phase once KL falls by less than this fraction between checks 25 iterations apart
        (:class:`~yololens.analysis.large_n.KLConvergence`; ``None``: run all ``n_iter``).
    large_n: above this many points fit on a class-stratified sample and place the rest with the model's
        ``transform`` (:mod:`yololens.analysis.large_n`; 0: always fit every point).
    fit_sample: size of that sample (``None``: ``large_n``); place_chunk: points placed per ``transform`` call.
    """

    method: str = "tsne"
    seed: int = 0
    pca_dims: int | None = 50
    normalize: bool = False
    perplexity: float = 30.0
    n_neighbors: int = 15
    min_dist: float = 0.1
    n_jobs: int = -1
    gradient: str = "auto"
    n_iter: int = 500
    exaggeration_iter: int = 250
    kl_tol: float | None = None
    large_n: int = 200_000
    fit_sample: int | None = None
    place_chunk: int = 50_000
    timings_: dict = field(default_factory=dict, init=False, repr=False)
    # fitted state (for placing new points): the PCA pre-reduction and the 2-D model
    pca_: object = field(default=None, init=False, repr=False)
    model_: object = field(default=None, init=False, repr=False)
    fit_info_: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InputError(f"--method must be one of {', '.join(METHODS)}, not {self.method!r}")
        if self.gradient not in ("auto", "fft", "bh"):
            raise InputError(f"gradient must be auto, fft or bh, not {self.gradient!r}")

    def params(self) -> dict:
        """The parameters that determine the coordinates (JSON-serialisable)."""
        d = {k: v for k, v in asdict(self).items() if not k.endswith("_")}
        return d

    def fit_size(self) -> int:
        """Points fitted in large-N mode (the rest are placed)."""
        return int(self.fit_sample or self.large_n)

    def is_large(self, n: int) -> bool:
        """Whether ``n`` points go the large-N way (fit a sample, place the rest)."""
        return bool(self.large_n) and n > self.large_n and n > self.fit_size()

    def preprocess(self, X: np.ndarray) -> np.ndarray:
        """``(N, C)`` -> ``(N, C')`` float32: optional L2 normalisation, then optional PCA pre-reduction."""
        X = self._checked(X)
        self.pca_ = None
        if self.method != "pca" and self.pca_dims and X.shape[1] > self.pca_dims and X.shape[0] > self.pca_dims:
            from sklearn.decomposition import PCA

            self.pca_ = PCA(n_components=int(self.pca_dims), random_state=self.seed)
            X = self.pca_.fit_transform(X).astype(np.float32)
        return X

    def reduce(self, X: np.ndarray) -> np.ndarray:
        """``(M, C)`` new vectors -> ``(M, C')``: the same L2 normalisation and the PCA fitted by :meth:`preprocess`."""
        X = self._checked(X)
        return X if self.pca_ is None else self.pca_.transform(X).astype(np.float32)

    def _checked(self, X: np.ndarray) -> np.ndarray:
        X = np.ascontiguousarray(X, dtype=np.float32)
        if X.ndim != 2:
            raise InputError(f"embeddings must be 2-D (N, C), got shape {X.shape}")
        if not np.isfinite(X).all():
            raise InputError("embeddings contain NaN or inf values")
        if self.normalize:
            norms = np.linalg.norm(X, axis=1, keepdims=True)
            X = X / np.maximum(norms, 1e-12)
        return X

    def fit_transform(self, X: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        """``X``: ``(N, C)`` embeddings -> ``(N, 2)`` float32 coordinates.

        Above :attr:`large_n` points: fit a ``labels``-stratified sample, place the rest (``fit_info_`` says
        how many of each; ``placed_`` marks them)."""
        n = len(X)
        if n < 3:
            raise InputError(f"need at least 3 objects to project, got {n}")
        self.fit_info_ = {}
        if self.is_large(n):
            from yololens.analysis.large_n import place, split_fit

            fit, rest = split_fit(labels, n, self.fit_size(), self.seed)
            Y = np.empty((n, 2), dtype=np.float32)
            Y[fit] = self.fit_transform(np.asarray(X)[fit])
            Y[rest] = place(self, self.reduce(np.asarray(X)[rest]))
            self.fit_info_ = {**self.fit_info_, "mode": "large-n", "fitted": int(len(fit)), "placed": int(len(rest))}
            return Y
        t0 = time.perf_counter()
        Xp = self.preprocess(X)
        t1 = time.perf_counter()
        if self.method == "pca":
            from sklearn.decomposition import PCA

            if Xp.shape[1] < 2:
                raise InputError("PCA to 2-D needs embeddings with at least 2 dimensions")
            self.model_ = PCA(n_components=2, random_state=self.seed)
            Y = self.model_.fit_transform(Xp)
        elif self.method == "tsne":
            Y = self._tsne(Xp)
        else:
            Y = self._umap(Xp)
        self.timings_ = {"preprocess_s": t1 - t0, "fit_s": time.perf_counter() - t1}
        return np.ascontiguousarray(Y, dtype=np.float32)

    def tsne_kwargs(self, n: int) -> dict:
        """The exact keyword arguments given to ``openTSNE.TSNE`` for ``n`` points."""
        perplexity = float(min(self.perplexity, max((n - 1) / 3.0, 1.0)))
        return dict(
            n_components=2,
            perplexity=perplexity,
            n_iter=int(self.n_iter),
            early_exaggeration_iter=int(self.exaggeration_iter),
            negative_gradient_method=self.gradient,
            n_jobs=_n_jobs(self.n_jobs),
            random_state=int(self.seed),
            verbose=False,
        )

    def tsne_callbacks(self) -> list:
        """The openTSNE callbacks of a fit (the one place they are made): the KL-convergence stop when
        ``kl_tol`` is set."""
        from yololens.analysis.large_n import KLConvergence

        return [KLConvergence(float(self.kl_tol))] if self.kl_tol else []

    def _tsne(self, X: np.ndarray) -> np.ndarray:
        import openTSNE

        from yololens.analysis.large_n import KL_EVERY, KLConvergence

        callbacks = self.tsne_callbacks()
        extra = dict(callbacks=callbacks, callbacks_every_iters=KL_EVERY) if callbacks else {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model_ = openTSNE.TSNE(**self.tsne_kwargs(len(X)), **extra).fit(X)
        stop = next((c for c in callbacks if isinstance(c, KLConvergence)), None)
        self.fit_info_ = {"n_iter_run": int(stop.stopped_at or self.n_iter) if stop else int(self.n_iter),
                          "kl": round(float(stop.log[-1][2] if stop and stop.log else self.model_.kl_divergence), 4),
                          "kl_checks": [[it, round(kl, 4)] for ph, it, kl in stop.log if ph == 2] if stop else []}
        return np.asarray(self.model_)

    def _umap(self, X: np.ndarray) -> np.ndarray:
        try:
            import umap
        except ImportError:
            raise InputError(UMAP_HINT) from None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reducer = umap.UMAP(
                n_components=2,
                n_neighbors=int(min(self.n_neighbors, len(X) - 1)),
                min_dist=float(self.min_dist),
                random_state=int(self.seed),
                n_jobs=1,
            )
            self.model_ = reducer
            return reducer.fit_transform(X)


@dataclass
class ProjectionResult:
    """A 2-D projection of one embedding column.

    object_ids: ``(N,)`` object keys (``"<image>#<object>"``); coords: ``(N, 2)`` float32;
    column: the embedding column (``emb_L9``); method; params: every parameter (projector, sample, origin,
    label, row counts); path: the written Parquet file (None when not saved); skips: one line per embedding
    column whose NaN/inf rows were left out; placed: ``(N,)`` bool in large-N mode (True: placed with the
    fitted model's ``transform``, not fitted), else None.
    """

    object_ids: np.ndarray
    coords: np.ndarray
    column: str
    method: str
    params: dict
    path: Path | None = None
    timings: dict = field(default_factory=dict)
    skips: list[str] = field(default_factory=list)
    placed: np.ndarray | None = None

    @property
    def stage(self) -> str:
        return T.stage_label(self.column)

    def __len__(self) -> int:
        return len(self.object_ids)

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame({"object_id": self.object_ids, "x": self.coords[:, 0], "y": self.coords[:, 1]})


def projection_path(out: str | os.PathLike, column: str, method: str, origin: str = "all") -> Path:
    """``OUT/projections/L9_tsne.parquet`` (``..._gt.parquet`` / ``..._pred.parquet`` with an origin filter)."""
    suffix = "" if origin == "all" else f"_{origin}"
    return T.out_dir(out) / PROJECTIONS_DIR / f"{T.stage_label(column)}_{method}{suffix}.parquet"


def _table_fingerprint(out) -> dict:
    st = T.objects_path(out).stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def select_rows(
    out,
    column: str,
    *,
    origin: str = "all",
    sample: int | None = None,
    seed: int = 0,
    label: str = "class_name",
    require: list[str] | None = None,
    skips: list[str] | None = None,
    strict: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Table row indices (sorted, int64) and their object ids for one projection.

    Rows: ``origin`` filter, non-null and finite ``column`` (and every column in ``require``), then a
    ``label``-stratified sample of ``sample`` rows (deterministic with ``seed``). Rows with NaN/inf are left
    out with a line in ``skips`` (``strict``: refused).
    """
    schema = T.read_schema(out)
    cols = ["object_id", "origin"] + ([label] if label in schema.names else [])
    meta = pq.read_table(T.objects_path(out), columns=list(dict.fromkeys(cols)))
    mask = T.row_mask(meta, origin=origin)
    for c in [column, *(require or [])]:
        mask &= T.valid_embedding_mask(out, c)
    mask = T.drop_nonfinite(out, [column, *(require or [])], mask, skips if skips is not None else [], strict)
    rows = np.flatnonzero(mask)
    if len(rows) == 0:
        raise InputError(f"no objects with {column} (origin={origin}) in the table")
    if sample is not None and sample < len(rows):
        labels = (
            np.asarray(meta[label].take(pa.array(rows)).to_pandas(), dtype=object)
            if label in schema.names
            else np.zeros(len(rows), dtype=object)
        )
        rows = rows[T.stratified_sample(labels, sample, seed=seed)]
    ids = np.asarray(meta["object_id"].take(pa.array(rows)).to_pandas(), dtype=object)
    return rows, ids


def project(
    out: str | os.PathLike,
    layer: int | str = 9,
    method: str = "tsne",
    *,
    seed: int = 0,
    sample: int | None = None,
    origin: str = "all",
    label: str = "class_name",
    pca_dims: int | None = 50,
    normalize: bool = False,
    perplexity: float = 30.0,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    n_jobs: int = -1,
    gradient: str = "auto",
    n_iter: int = 500,
    exaggeration_iter: int = 250,
    kl_tol: float | None = None,
    large_n: int = 200_000,
    fit_sample: int | None = None,
    require: list[str] | None = None,
    save: bool = True,
    reuse: bool = False,
    strict: bool = False,
) -> ProjectionResult:
    """Project embedding column ``layer`` (``9`` -> ``emb_L9``, ``"coef"`` -> ``emb_coef``) of ``OUT`` to 2-D.

    ``sample``: class-stratified (by ``label``) subsample size; ``origin``: ``all``/``gt``/``pred``;
    ``require``: other embedding columns that must be present too (used to give small multiples the same
    objects). Rows whose embedding holds NaN/inf are left out, named in ``result.skips`` (``strict``: refused
    with a :class:`~yololens.errors.StrictModeError`). Above ``large_n`` objects a ``label``-stratified sample
    of ``fit_sample`` (default ``large_n``) is fitted and the rest placed (:mod:`yololens.analysis.large_n`;
    ``params["large_n_mode"]`` and ``result.placed`` say which). With ``save`` the coordinates go to :func:`projection_path` (+ ``.json`` sidecar). With ``reuse``
    a saved projection made with identical parameters from the same (unchanged) table is loaded instead.
    Returns a :class:`ProjectionResult` with ``coords`` ``(N, 2)``.
    """
    t0 = time.perf_counter()
    schema = T.read_schema(out)
    column = T.layer_column(layer, schema)
    projector = Projector(
        method=method,
        seed=seed,
        pca_dims=pca_dims,
        normalize=normalize,
        perplexity=perplexity,
        n_neighbors=n_neighbors,
        min_dist=min_dist,
        n_jobs=n_jobs,
        gradient=gradient,
        n_iter=n_iter,
        exaggeration_iter=exaggeration_iter,
        kl_tol=kl_tol,
        large_n=large_n,
        fit_sample=fit_sample,
    )
    wanted = {
        **projector.params(),
        "column": column,
        "origin": origin,
        "sample": sample,
        "label": label,
        "require": sorted(require or []),
        "table": _table_fingerprint(out),
    }
    path = projection_path(out, column, method, origin)
    if reuse and path.is_file():
        try:
            old = load_projection(path)
        except (InputError, OSError, ValueError, pa.ArrowException):
            old = None
        if old is not None and {k: old.params.get(k) for k in wanted} == json.loads(json.dumps(wanted)):
            old.skips = list(old.params.get("skipped", []))
            if strict and old.skips:
                from yololens.errors import StrictModeError

                raise StrictModeError(f"--strict: {old.skips[0]}")
            old.timings = {"read_s": time.perf_counter() - t0, "reused": True}
            return old
    skips: list[str] = []
    rows, ids = select_rows(out, column, origin=origin, sample=sample, seed=seed, label=label, require=require,
                            skips=skips, strict=strict)
    dims_in = T.embedding_width(schema, column)
    placed = None
    if projector.is_large(len(rows)):
        from yololens.analysis.large_n import project_large

        labels = (np.asarray(pq.read_table(T.objects_path(out), columns=[label])[label].take(pa.array(rows))
                             .to_pandas(), dtype=object) if label in schema.names else None)
        t1 = time.perf_counter()
        large = project_large(projector, out, column, rows, labels)
        coords, placed = large.coords, large.placed
        projector.fit_info_ = {**projector.fit_info_, **large.info}
    else:
        X = T.read_embeddings(out, column, rows)
        dims_in = int(X.shape[1])
        t1 = time.perf_counter()
        coords = projector.fit_transform(X)
        del X
    t2 = time.perf_counter()
    params = {**wanted, "n": int(len(ids)), "dims_in": dims_in, "skipped": skips, "fit": projector.fit_info_}
    if placed is not None:
        params["large_n_mode"] = (f"fitted on a class-stratified sample of {int((~placed).sum()):,} objects; "
                                  f"the other {int(placed.sum()):,} were placed with the fitted model's transform")
    result = ProjectionResult(object_ids=ids, coords=coords, column=column, method=method, params=params,
                              skips=skips, placed=placed)
    if save:
        result.path = save_projection(result, path)
    result.timings = {"read_s": t1 - t0, **projector.timings_, "write_s": time.perf_counter() - t2}
    return result


def save_projection(result: ProjectionResult, path: str | os.PathLike) -> Path:
    """Write ``object_id, x, y`` with the parameters in the Parquet metadata, and a JSON sidecar (atomically)."""
    path = Path(path)
    tbl = pa.table(
        {
            "object_id": pa.array(result.object_ids, type=pa.string()),
            "x": pa.array(result.coords[:, 0], type=pa.float32()),
            "y": pa.array(result.coords[:, 1], type=pa.float32()),
            **({} if result.placed is None else {"placed": pa.array(np.asarray(result.placed, dtype=bool))}),
        }
    )
    meta = {"column": result.column, "method": result.method, "params": result.params}
    tbl = tbl.replace_schema_metadata({"yololens": json.dumps(meta, default=str)})
    with atomic_path(path) as tmp:
        pq.write_table(tbl, tmp)
    write_json(path.with_suffix(".json"), meta)
    return path


def load_projection(path_or_out: str | os.PathLike, layer: int | str | None = None, method: str = "tsne",
                    origin: str = "all") -> ProjectionResult:
    """Read a saved projection: a ``.parquet`` path, or ``OUT`` + ``layer`` + ``method`` (+ ``origin``)."""
    p = Path(path_or_out)
    if p.suffix != ".parquet":
        if layer is None:
            raise InputError("load_projection needs a .parquet path or OUT plus layer")
        p = projection_path(p, T.layer_column(layer), method, origin)
    if not p.is_file():
        raise InputError(f"no projection at {p} (run `yololens project` first)")
    tbl = pq.read_table(p)
    raw = (tbl.schema.metadata or {}).get(b"yololens", b"{}")
    meta = json.loads(raw)
    coords = np.stack([tbl["x"].to_numpy(), tbl["y"].to_numpy()], axis=1).astype(np.float32)
    return ProjectionResult(
        object_ids=np.asarray(tbl["object_id"].to_pandas(), dtype=object),
        coords=coords,
        column=meta.get("column", ""),
        method=meta.get("method", method),
        params=meta.get("params", {}),
        path=p,
        placed=tbl["placed"].to_numpy(zero_copy_only=False) if "placed" in tbl.column_names else None,
    )


def find_projections(out: str | os.PathLike, column: str) -> list[Path]:
    """Saved projection files of ``column`` (any method/origin)."""
    d = T.out_dir(out) / PROJECTIONS_DIR
    stage = T.stage_label(column)
    return sorted(
        p for p in d.glob(f"{stage}_*.parquet") if not p.name.startswith(".") and p.stem.split("_")[1] in METHODS
    ) if d.is_dir() else []
