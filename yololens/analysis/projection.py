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
from yololens.analysis.perplexity import effective_perplexity, perplexity_note  # noqa: F401  (re-exported)
from yololens.analysis.projection_io import (  # noqa: F401  (re-exported: the projection API lives here)
    METHODS,
    PROJECTIONS_DIR,
    find_projections,
    projection_path,
    save_projection,
    select_rows,
    table_fingerprint,
)
from yololens.analysis.run import run_folder
from yololens.errors import InputError
from yololens.options import check_options
from yololens.types import Method

UMAP_HINT = 'UMAP needs the optional extra: pip install "yololens[umap]"'
#: The default t-SNE route (measured by benchmarks/scale.py, T1): PCA-50, 100 early-exaggeration iterations,
#: then at most ``n_iter`` normal ones, stopped once KL falls by less than 0.5% per 25 iterations.
EXAGGERATION_ITER = 100
KL_TOL = 5e-3


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
    n_iter: t-SNE iterations after early exaggeration (at most, with ``kl_tol``); exaggeration_iter: before.
    kl_tol: stop once KL falls by less than this fraction per check (``large_n.KLConvergence``; None: off).
    large_n, fit_sample, place_chunk: above ``large_n`` points fit a stratified sample of ``fit_sample``
        (None: ``large_n``) and place the rest, ``place_chunk`` at a time (:mod:`~yololens.analysis.large_n`).
    progress: show a tqdm bar (t-SNE: every iteration of both phases; UMAP: its verbose epochs bar).
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
    exaggeration_iter: int = EXAGGERATION_ITER
    kl_tol: float | None = KL_TOL
    large_n: int = 200_000
    fit_sample: int | None = None
    place_chunk: int = 50_000
    progress: bool = False
    timings_: dict = field(default_factory=dict, init=False, repr=False)
    # fitted state (for placing new points): the PCA pre-reduction and the 2-D model
    pca_: object = field(default=None, init=False, repr=False)
    model_: object = field(default=None, init=False, repr=False)
    fit_info_: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        check_options(seed=self.seed, pca_dims=self.pca_dims, perplexity=self.perplexity, n_iter=self.n_iter,
                      n_neighbors=self.n_neighbors, min_dist=self.min_dist, large_n=self.large_n,
                      fit_sample=self.fit_sample)
        if self.method not in METHODS:
            raise InputError(f"--method must be one of {', '.join(METHODS)}, not {self.method!r}")
        self.method = Method(self.method)
        if self.gradient not in ("auto", "fft", "bh"):
            raise InputError(f"gradient must be auto, fft or bh, not {self.gradient!r}")

    def params(self) -> dict:
        """The parameters that determine the coordinates (JSON-serialisable; ``progress`` is left out: a bar
        never changes the coordinates, so saved projections are reused either way)."""
        return {k: v for k, v in asdict(self).items() if not k.endswith("_") and k != "progress"}

    def fit_size(self) -> int:
        return int(self.fit_sample or self.large_n)

    def is_large(self, n: int) -> bool:
        """Whether ``n`` points go the large-N way (fit a sample, place the rest)."""
        return bool(self.large_n) and n > self.large_n and n > self.fit_size()

    def preprocess(self, X: np.ndarray) -> np.ndarray:
        """``(N, C)`` -> ``(N, C')`` float32: optional L2 normalisation, then optional PCA pre-reduction."""
        X = self._checked(X)
        self.pca_ = None
        if self.method is not Method.PCA and self.pca_dims and X.shape[1] > self.pca_dims and X.shape[0] > self.pca_dims:
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
        """``X``: ``(N, C)`` embeddings -> ``(N, 2)`` float32 coordinates (above ``large_n`` points: fit a
        ``labels``-stratified sample, place the rest; ``fit_info_`` records what the fit did)."""
        n = len(X)
        if n < 3:
            raise InputError(f"need at least 3 objects to project, got {n}")
        self.fit_info_ = {}
        if self.is_large(n):
            from yololens.analysis.large_n import fit_place

            return fit_place(self, np.asarray(X), labels)
        t0 = time.perf_counter()
        Xp = self.preprocess(X)
        t1 = time.perf_counter()
        if self.method is Method.PCA:
            from sklearn.decomposition import PCA

            if Xp.shape[1] < 2:
                raise InputError("PCA to 2-D needs embeddings with at least 2 dimensions")
            self.model_ = PCA(n_components=2, random_state=self.seed)
            Y = self.model_.fit_transform(Xp)
        elif self.method is Method.TSNE:
            Y = self._tsne(Xp)
        else:
            Y = self._umap(Xp)
        self.timings_ = {"preprocess_s": t1 - t0, "fit_s": time.perf_counter() - t1}
        return np.ascontiguousarray(Y, dtype=np.float32)

    def tsne_kwargs(self, n: int) -> dict:
        """The exact keyword arguments given to ``openTSNE.TSNE`` for ``n`` points."""
        return dict(
            n_components=2,
            perplexity=effective_perplexity(self.perplexity, n),
            n_iter=int(self.n_iter),
            early_exaggeration_iter=int(self.exaggeration_iter),
            negative_gradient_method=self.gradient,
            n_jobs=int(self.n_jobs) if self.n_jobs and self.n_jobs >= 1 else (os.cpu_count() or 1),
            random_state=int(self.seed),
            verbose=False,
        )

    def tsne_callbacks(self) -> list:
        """The openTSNE callbacks of a fit, made in this one place: the KL-convergence stop (``kl_tol``)."""
        from yololens.analysis.large_n import KLConvergence

        return [KLConvergence(float(self.kl_tol))] if self.kl_tol else []

    def _tsne(self, X: np.ndarray) -> np.ndarray:
        import openTSNE

        from yololens.analysis.large_n import KL_EVERY, TSNEProgress, tsne_fit_info

        kwargs = self.tsne_kwargs(len(X))
        callbacks = self.tsne_callbacks()
        bar = (TSNEProgress(kwargs["early_exaggeration_iter"] + kwargs["n_iter"], len(X), getattr(self, "stage_", ""))
               if self.progress else None)
        run = callbacks + ([bar] if bar else [])
        extra = dict(callbacks=run, callbacks_every_iters=KL_EVERY) if run else {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model_ = openTSNE.TSNE(**kwargs, **extra).fit(X)
        self.fit_info_ = tsne_fit_info(callbacks, self.model_, self.n_iter)
        if bar is not None:
            bar.close(kwargs["early_exaggeration_iter"] + self.fit_info_["n_iter_run"])
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
                verbose=bool(self.progress),  # umap-learn shows its epochs as a tqdm bar only when verbose
                tqdm_kwds={"desc": f"UMAP {len(X):,} points", "disable": not self.progress},
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

    def __repr__(self) -> str:
        from yololens import reprs

        return reprs.text("ProjectionResult", f"{self.stage} {self.method}, {len(self):,} objects -> {self.path}",
                          {"coords": f"({len(self)}, 2) float32", "seed": self.params.get("seed"),
                           "origin": self.params.get("origin"), "sample": self.params.get("sample")})

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame({"object_id": self.object_ids, "x": self.coords[:, 0], "y": self.coords[:, 1]})


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
    exaggeration_iter: int = EXAGGERATION_ITER,
    kl_tol: float | None = KL_TOL,
    large_n: int = 200_000,
    fit_sample: int | None = None,
    require: list[str] | None = None,
    save: bool = True,
    reuse: bool = False,
    strict: bool = False,
    progress: bool = True,
) -> ProjectionResult:
    """Project embedding column ``layer`` (``9`` -> ``emb_L9``, ``"coef"`` -> ``emb_coef``) of ``OUT`` to 2-D.

    ``sample``: class-stratified (by ``label``) subsample size; ``origin``: ``all``/``gt``/``pred``;
    ``require``: other embedding columns that must be present too (used to give small multiples the same
    objects). Rows whose embedding holds NaN/inf are left out, named in ``result.skips`` (``strict``: refused
    with a :class:`~yololens.errors.StrictModeError`). Above ``large_n`` objects a ``label``-stratified sample
    of ``fit_sample`` (default ``large_n``) is fitted and the rest placed (:mod:`yololens.analysis.large_n`;
    ``params["large_n_mode"]`` and ``result.placed`` say which). With ``save`` the coordinates go to :func:`projection_path` (+ ``.json`` sidecar). With ``reuse``
    a saved projection made with identical parameters from the same (unchanged) table is loaded instead.
    ``progress``: a tqdm bar while t-SNE/UMAP runs (it never changes the coordinates).
    Returns a :class:`ProjectionResult` with ``coords`` ``(N, 2)``.
    """
    out = run_folder(out)
    t0 = time.perf_counter()
    schema = T.read_schema(out)
    column = T.layer_column(layer, schema, T.layer_aliases(out))
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
        progress=progress,
        kl_tol=kl_tol,
        large_n=large_n,
        fit_sample=fit_sample,
    )
    projector.stage_ = T.stage_label(column)  # names the progress bar, not a parameter
    wanted = {
        **projector.params(),
        "column": column,
        "origin": origin,
        "sample": sample,
        "label": label,
        "require": sorted(require or []),
        "table": table_fingerprint(out),
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
    dims_in, placed = T.embedding_width(schema, column), None
    t1 = time.perf_counter()
    if projector.is_large(len(rows)):
        from yololens.analysis.large_n import project_large

        coords, placed = project_large(projector, out, column, rows, label)
    else:
        X = T.read_embeddings(out, column, rows)
        t1 = time.perf_counter()
        coords = projector.fit_transform(X)
    t2 = time.perf_counter()
    params = {**wanted, "n": int(len(ids)), "dims_in": dims_in, "skipped": skips, "fit": projector.fit_info_}
    if placed is not None:
        params["large_n_mode"] = projector.fit_info_["note"]
    result = ProjectionResult(object_ids=ids, coords=coords, column=column, method=method, params=params,
                              skips=skips, placed=placed)
    if save:
        result.path = save_projection(result, path)
    result.timings = {"read_s": t1 - t0, **projector.timings_, "write_s": time.perf_counter() - t2}
    return result


def load_projection(path_or_out: str | os.PathLike, layer: int | str | None = None, method: str = "tsne",
                    origin: str = "all") -> ProjectionResult:
    """Read a saved projection: a ``.parquet`` path, or ``OUT`` + ``layer`` + ``method`` (+ ``origin``)."""
    p = Path(path_or_out) if isinstance(path_or_out, (str, os.PathLike)) else run_folder(path_or_out)
    if p.suffix != ".parquet":
        if layer is None:
            raise InputError("load_projection needs a .parquet path or OUT plus layer")
        p = projection_path(p, T.layer_column(layer, None, T.layer_aliases(p)), method, origin)
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
