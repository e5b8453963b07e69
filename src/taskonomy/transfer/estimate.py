"""Cheap transferability estimators: affinity estimates without training transfers.

Every estimator scores one source set's frozen representation for one target from the
encode jobs' caches (:mod:`taskonomy.transfer.encode`) in seconds, where a trained transfer
takes minutes. One interface, sklearn style::

    est = get_estimator("cka")().fit(reps, labels)
    est.score_   # higher = better source for this target (every estimator)
    est.flops_   # floating-point operations it counted analytically

``reps`` and ``labels`` map split names (``"small"``, ``"test"``) to 2-D float arrays
``(n, p)`` (one row per sample; see :func:`flatten_reps` and :func:`label_matrix`).

Task-agnostic estimators (``rsa``, ``dds``, ``cka``) never see labels: their ``labels``
are the *target task network's own* frozen representation of the same test images, and
they score how similar the source's representation is to it. Target-aware estimators
(``logme``, ``ridge``) read the target's labels of the small split (the transfers' training
data), ``ridge`` scoring its predictions on the test split. A source set of order k is
the channel concatenation of its sources' representations, as a transfer of order k sees.

Scores are on each estimator's own scale (CKA in [0, 1], RSA/DDS correlations in [-1, 1],
LogME a log evidence per sample, ridge a test R²); :mod:`taskonomy.pipeline.estimate` maps
them per target onto the affinity table's scale.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, TypeVar

import numpy as np
import torch
from scipy.linalg import cho_factor, cho_solve
from scipy.spatial.distance import pdist
from scipy.stats import pearsonr, spearmanr
from torch import Tensor
from torch.nn import functional as F

from taskonomy.errors import input_error
from taskonomy.registry import Registry
from taskonomy.seeds import derived_seed

Splits = Mapping[str, np.ndarray]

#: Label maps of dense targets are averaged down to GRID×GRID cells before the probes.
GRID = 4


class Estimator:
    """Base class: params in ``__init__``, :meth:`fit` sets ``score_`` and ``flops_``.

    ``target_aware``: whether ``labels`` are the target's labels (True) or the target task
    network's representation (False).
    """

    name: ClassVar[str] = ""
    target_aware: ClassVar[bool] = False
    score_: float
    flops_: int
    #: per-test-image losses (lower = better), for estimators that predict the target
    losses_: np.ndarray | None = None

    def basis_kind(self) -> str:
        """What a :meth:`basis` is made for: estimators whose kinds match share bases."""
        return self.name

    def basis(self, reps: Splits) -> Basis | None:
        """The target-independent part of :meth:`fit` on ``reps`` (a factorization of the
        representation), which a caller scoring one representation for many targets
        computes once and passes to every ``fit``; ``None`` when there is none."""
        return None

    def fit(self, reps: Splits, labels: Splits, basis: Basis | None = None) -> Estimator:
        raise NotImplementedError

    def combines(self, n: int, p: int) -> bool:
        """Whether the basis of a source set (``n`` small-split rows, ``p`` concatenated
        features) is built by :meth:`combine` from each source's :meth:`part`: then a
        caller keeps the parts, which every set containing the source shares."""
        return False

    def part(self, reps: Splits) -> Basis | None:
        """One source's share of a concatenation's basis (see :meth:`combines`)."""
        return None

    def combine(self, parts: Sequence[Basis]) -> Basis:
        """The basis of the sources' concatenated features from their parts (:meth:`part`)."""
        raise NotImplementedError

    def _prepared(self, reps: Splits, basis: Basis | None) -> tuple[Basis, int]:
        """``basis`` checked against ``reps`` (made now when None) and the FLOPs ``fit``
        counts for it: the making's, only when made here."""
        b = basis if basis is not None else self.basis(reps)
        assert b is not None  # only estimators that have a basis call this
        if b.kind != self.basis_kind():
            raise input_error("estimator basis", b.kind, f"a basis made for {self.basis_kind()}")
        for split, x in reps.items():
            if split in b.shapes and b.shapes[split] != x.shape:
                raise input_error(f"estimator basis of split {split!r}", b.shapes[split],
                                  f"the representation's shape {x.shape}")  # fmt: skip
        return b, (b.flops if basis is None else 0)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.endswith("_"))
        return f"{type(self).__name__}({params})"


ESTIMATORS: Registry[type[Estimator]] = Registry("estimator")


_E = TypeVar("_E", bound=type[Estimator])


def register(cls: _E) -> _E:
    ESTIMATORS.register(cls.name, cls)
    return cls


def get_estimator(name: str) -> type[Estimator]:
    """The estimator class of ``name``; an unknown name fails listing the valid ones."""
    return ESTIMATORS.get(name)


def estimator_names() -> list[str]:
    return list(ESTIMATORS.names())


@dataclass(frozen=True)
class Basis:
    """One representation's eigenbasis, shared by the probes of every target.

    ``kind`` names the estimator family and parameters it was made for (a ``fit`` refuses
    another's, and one made from other shapes); ``arrays`` hold the eigenvalues and
    eigenvectors (and standardization), a few p×p matrices, so that a cache holds many;
    ``flops`` is the work of making it, which ``fit`` does not count again when given one.
    """

    kind: str
    arrays: Mapping[str, np.ndarray]
    flops: int
    shapes: Mapping[str, tuple[int, ...]]  # each split's representation it was made from

    @property
    def nbytes(self) -> int:
        return sum(int(a.nbytes) for a in self.arrays.values())


def _eigenbasis(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """(eigenvalues clipped at 0, eigenvectors) of ``xᵀx``, and the FLOPs: Gram + eigh."""
    s, v = np.linalg.eigh(x.T @ x)
    n, p = x.shape
    return np.clip(s, 0.0, None), v, 2 * n * p * p + 9 * p**3


# ------------------------------------------------------------------------- helpers
def flatten_reps(rep: Tensor | np.ndarray) -> np.ndarray:
    """(N, C, h, w) representations → (N, C·h·w) float64 rows."""
    arr = rep.numpy() if isinstance(rep, Tensor) else np.asarray(rep)
    return arr.reshape(arr.shape[0], -1).astype(np.float64)


def label_matrix(
    label: Tensor, n_classes: int | None = None, mask: Tensor | None = None, grid: int = GRID
) -> np.ndarray:
    """A target's labels as an (N, k) float64 matrix for the target-aware probes.

    Integer labels are one-hot (``n_classes`` columns; per pixel for maps); maps (N, H, W)
    or (N, C, H, W) are averaged down to ``grid``×``grid`` cells (masked pixels left out of
    each cell's mean); anything else is flattened per sample.
    """
    y = label
    if not torch.is_floating_point(y):
        k = int(n_classes if n_classes is not None else int(y.max()) + 1)
        y = F.one_hot(y.long().clamp(min=0), k).float()  # (..., k)
        if y.dim() == 4:  # (N, H, W, k) class maps → channels first
            y = y.permute(0, 3, 1, 2)
    y = y.float()
    if y.dim() == 3:  # (N, H, W) float map
        y = y.unsqueeze(1)
    if y.dim() == 4 and y.shape[-1] > grid:
        if mask is not None:
            m = mask.float().reshape(y.shape[0], 1, *y.shape[-2:])
            num = F.adaptive_avg_pool2d(y * m, grid)
            den = F.adaptive_avg_pool2d(m, grid)
            y = num / den.clamp(min=1e-6)
        else:
            y = F.adaptive_avg_pool2d(y, grid)
    return y.reshape(y.shape[0], -1).double().numpy()


def segment_pair_matrix(label: Tensor, grid: int = GRID) -> np.ndarray:
    """Segment-id maps (N, H, W) as (N, g²(g²−1)/2) float64 rows: per pair of grid cells,
    whether their majority segments are the same.

    Unsupervised segment ids are arbitrary per image (id 3 in one image has nothing to do
    with id 3 in another), so one-hot columns would be noise; which cells share a segment
    is what an embedding head learns (the pairwise metric loss), and it does not depend on
    the numbering.
    """
    y = label.long()
    n, h, w = y.shape
    if h % grid or w % grid:
        raise input_error("segment map size", (h, w), f"multiples of the estimate grid {grid}")
    cells = y.reshape(n, grid, h // grid, grid, w // grid).permute(0, 1, 3, 2, 4)
    modes = cells.reshape(n, grid * grid, -1).mode(dim=-1).values  # (N, g²)
    same = (modes[:, :, None] == modes[:, None, :]).double().numpy()  # (N, g², g²)
    i, j = np.triu_indices(grid * grid, k=1)
    return same[:, i, j]


def _centered(x: np.ndarray) -> np.ndarray:
    return x - x.mean(0, keepdims=True)


def _subsample(n: int, max_n: int, seed: int) -> np.ndarray:
    if n <= max_n:
        return np.arange(n)
    rng = np.random.default_rng(derived_seed(seed, "estimate-subsample"))
    return np.sort(rng.choice(n, max_n, replace=False))


def _upper(m: np.ndarray) -> np.ndarray:
    return m[np.triu_indices(m.shape[0], 1)]


# ------------------------------------------------------------- task-agnostic estimators
@register
class CKA(Estimator):
    """Linear centered kernel alignment (Kornblith et al. 2019) on the test images:
    ``‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F)`` of the centered representations, in [0, 1]."""

    name = "cka"

    def fit(self, reps: Splits, labels: Splits, basis: Basis | None = None) -> CKA:
        x, y = _centered(reps["test"]), _centered(labels["test"])
        n, p, q = x.shape[0], x.shape[1], y.shape[1]
        hsic = np.linalg.norm(y.T @ x) ** 2
        den = np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)
        self.score_ = float(hsic / den) if den > 0 else 0.0
        self.flops_ = 2 * n * (p * q + p * p + q * q)
        return self


@register
class RSA(Estimator):
    """Representational similarity analysis (Dwivedi & Roig 2019): Spearman correlation
    of the two representations' dissimilarity matrices (1 − Pearson r between images)."""

    name = "rsa"

    def __init__(self, max_images: int = 1000, seed: int = 0) -> None:
        self.max_images = max_images
        self.seed = seed

    def fit(self, reps: Splits, labels: Splits, basis: Basis | None = None) -> RSA:
        idx = _subsample(reps["test"].shape[0], self.max_images, self.seed)
        x, y = reps["test"][idx], labels["test"][idx]
        rx, ry = pdist(x, "correlation"), pdist(y, "correlation")
        rho = spearmanr(rx, ry).statistic
        self.score_ = float(rho) if math.isfinite(rho) else 0.0
        n, m = x.shape[0], rx.shape[0]
        # pairwise correlations (3 flops per pair·feature) + ranking both vectors
        self.flops_ = int(3 * n * n * (x.shape[1] + y.shape[1]) / 2 + 2 * m * math.log2(max(m, 2)))
        return self


@register
class DDS(Estimator):
    """Duality diagram similarity (Dwivedi et al. 2020), its best variant: z-scored
    features, a Laplacian kernel between images, Pearson correlation of the two kernels."""

    name = "dds"

    def __init__(self, max_images: int = 1000, seed: int = 0) -> None:
        self.max_images = max_images
        self.seed = seed

    @staticmethod
    def _kernel(x: np.ndarray) -> np.ndarray:
        mu, sd = _standardizer(x)
        z = (x - mu) / sd
        return np.exp(-pdist(z, "cityblock") / x.shape[1])  # gamma = 1/p (sklearn's default)

    def fit(self, reps: Splits, labels: Splits, basis: Basis | None = None) -> DDS:
        idx = _subsample(reps["test"].shape[0], self.max_images, self.seed)
        x, y = reps["test"][idx], labels["test"][idx]
        kx, ky = self._kernel(x), self._kernel(y)
        r = pearsonr(kx, ky).statistic if kx.std() > 0 and ky.std() > 0 else 0.0
        self.score_ = float(r) if math.isfinite(r) else 0.0
        n = x.shape[0]
        self.flops_ = int(3 * n * n * (x.shape[1] + y.shape[1]) / 2 + 6 * kx.shape[0])
        return self


# ------------------------------------------------------------- target-aware estimators
@register
class Ridge(Estimator):
    """Closed-form ridge probe: fit on the small split, test R² (pooled over the label's
    columns) on the test split. Features are standardized with the small split's
    statistics; the penalty is ``alpha · trace(XᵀX)/p`` so it does not depend on scale.
    ``alpha`` is picked from ``alphas`` by the squared error on the last ``val_fraction``
    of the small split's rows (its last scenes: rows follow the bank's view order), as the
    transfers pick their best step on held-out scenes of it; then refit on the whole split.
    ``losses_``: each test image's squared error, which lets the run rank a target's
    source sets with the same AHP tournament as the measured affinities.

    Two exact forms of one solution, by shape. With more rows than features (*primal*),
    the standardization and eigenbases of the fitting rows and of the whole split are
    target-independent (:meth:`basis`): per target only the labels are projected
    (O(n·p·k + p²·k)). With no more rows than features (*dual*, ``n ≤ p``), the solution
    is ``Zᵀ(ZZᵀ + λI)⁻¹y``: the basis holds the rows' linear kernels of the standardized
    features, a fit factorizes ``n × n`` systems (one Cholesky per penalty). A source set's
    kernel is the sum of its sources' (each column is standardized on its own), so
    :meth:`combine` builds a concatenation's basis from its sources' parts (:meth:`part`) in
    O(n²) instead of O(n²·p), and the higher-order sets of a run share first-order work."""

    name = "ridge"
    target_aware = True
    coef_: np.ndarray | None  # (p, k) on standardized features; None in the dual form

    SOLVERS: ClassVar[tuple[str, ...]] = ("auto", "primal", "dual")

    def __init__(
        self,
        alphas: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0),
        val_fraction: float = 0.15,
        solver: str = "auto",
    ) -> None:
        self.alphas = alphas
        self.val_fraction = val_fraction
        self.solver = solver  # auto: dual when n ≤ p

    def _n_val(self, n: int) -> int:
        return round(self.val_fraction * n) if len(self.alphas) > 1 else 0

    def _phases(self, xs: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """(tag, rows) whose statistics standardize: the fitting rows, then the whole split."""
        n_val = self._n_val(xs.shape[0])
        return ([("fit", xs[: xs.shape[0] - n_val])] if n_val else []) + [("all", xs)]

    def dual(self, n: int, p: int) -> bool:
        """Whether ``n`` small-split rows of ``p`` features are solved in the dual form."""
        if self.solver not in self.SOLVERS:
            raise input_error("ridge solver", self.solver, " | ".join(self.SOLVERS))
        return self.solver == "dual" or (self.solver == "auto" and n <= p)

    def basis(self, reps: Splits) -> Basis:
        xs, xt = reps["small"], reps["test"]
        if self.dual(*xs.shape):
            return self.part(reps)
        p = xs.shape[1]
        out: dict[str, np.ndarray] = {}
        flops = 0
        for tag, rows in self._phases(xs):
            mu, sd = _standardizer(rows)
            s_, v, f = _eigenbasis((rows - mu) / sd)
            out.update({f"{tag}_mu": mu, f"{tag}_sd": sd, f"{tag}_s": s_, f"{tag}_v": v})
            flops += f + 4 * rows.shape[0] * p
        return Basis(self.basis_kind(), out, flops, {"small": xs.shape, "test": xt.shape})

    def part(self, reps: Splits) -> Basis:
        """The dual basis of ``reps`` (any shape): per phase, the linear kernel of the
        standardized fitting rows and its rows against the rows it predicts (held-out rows
        for ``fit``, the test split for ``all``), and the feature count."""
        xs, xt = reps["small"], reps["test"]
        n, p = xs.shape
        n_fit = n - self._n_val(n)
        out: dict[str, np.ndarray] = {"p": np.array([float(p)])}
        flops = 0
        for tag, rows in self._phases(xs):
            mu, sd = _standardizer(rows)
            z = (rows - mu) / sd
            other = (xs[n_fit:] if tag == "fit" else xt) - mu
            zo = other / sd
            out[f"{tag}_k"], out[f"{tag}_ko"] = z @ z.T, zo @ z.T
            m = rows.shape[0]
            flops += 2 * m * m * p + 2 * zo.shape[0] * m * p + 4 * (m + zo.shape[0]) * p
        return Basis(self.basis_kind(), out, flops, {"small": xs.shape, "test": xt.shape})

    def combines(self, n: int, p: int) -> bool:
        return self.dual(n, p)

    def combine(self, parts: Sequence[Basis]) -> Basis:
        """The dual basis of the parts' concatenated features: the kernels' sum."""
        arrays, shapes = _summed_parts(parts, "ridge parts", self.basis_kind(), "p")
        flops = (len(parts) - 1) * sum(int(a.size) for a in arrays.values())
        return Basis(self.basis_kind(), arrays, flops, shapes)

    def basis_kind(self) -> str:
        return (
            f"ridge(val_fraction={self.val_fraction!r}, n_alphas={len(self.alphas)}, "
            f"solver={self.solver!r})"
        )

    def fit(self, reps: Splits, labels: Splits, basis: Basis | None = None) -> Ridge:
        b, flops = self._prepared(reps, basis)
        xs, ys, yt = reps["small"], labels["small"], labels["test"]
        n_val = self._n_val(xs.shape[0])
        if "p" in b.arrays:
            self._fit_dual(b, ys, yt, n_val)
        else:
            self._fit_primal(b, reps, ys, yt, n_val)
        sst = float(((yt - yt.mean(0)) ** 2).sum())
        assert self.losses_ is not None
        self.score_ = 1.0 - float(self.losses_.sum()) / sst if sst > 0 else 0.0
        self.flops_ = int(flops + self.flops_ + 3 * yt.size)
        return self

    def _pick(self, errs: list[float]) -> float:
        return self.alphas[int(np.argmin(errs))] if errs else self.alphas[0]

    def _fit_primal(
        self, b: Basis, reps: Splits, ys: np.ndarray, yt: np.ndarray, n_val: int
    ) -> None:
        a = b.arrays
        xs = reps["small"]
        n, p = xs.shape
        k = ys.shape[1]
        flops = 0

        def solver(tag: str, x: np.ndarray, y: np.ndarray) -> Callable[[float], np.ndarray]:
            """Ridge coefficients on standardized features by penalty, from the eigenbasis
            of ``tag``: the labels are projected once."""
            z = (x - a[f"{tag}_mu"]) / a[f"{tag}_sd"]
            s_, v = a[f"{tag}_s"], a[f"{tag}_v"]
            proj = v.T @ (z.T @ (y - y.mean(0)))  # (p, k)
            scale = float(s_.sum()) / p  # trace(XᵀX)/p
            return lambda alpha: v @ (proj / _floor(s_ + alpha * scale)[:, None])

        errs = []
        if n_val > 0:
            xf, yf, xv, yv = xs[: n - n_val], ys[: n - n_val], xs[n - n_val :], ys[n - n_val :]
            zv = (xv - a["fit_mu"]) / a["fit_sd"]
            fit = solver("fit", xf, yf)
            errs = [float(((yv - zv @ fit(al) - yf.mean(0)) ** 2).sum()) for al in self.alphas]
            flops += 2 * (n - n_val) * p * k + 2 * p * p * k
            flops += len(self.alphas) * (2 * p * p * k + 2 * n_val * p * k)
        self.alpha_ = self._pick(errs)
        coef = solver("all", xs, ys)(self.alpha_)
        self.coef_, self.intercept_ = coef, ys.mean(0)  # on standardized features
        pred = ((reps["test"] - a["all_mu"]) / a["all_sd"]) @ coef + self.intercept_
        self.losses_ = ((yt - pred) ** 2).sum(1)  # per test image: AHP can rank sets by it
        nt = yt.shape[0]
        self.flops_ = flops + 2 * n * p * k + 4 * p * p * k + 2 * nt * p * k + 3 * (n + nt) * p

    def _fit_dual(self, b: Basis, ys: np.ndarray, yt: np.ndarray, n_val: int) -> None:
        a = b.arrays
        p = float(a["p"][0])
        n = ys.shape[0]
        flops = 0

        def predict(tag: str, y: np.ndarray, alpha: float) -> np.ndarray:
            """Predictions for ``tag``'s other rows: ``K_o (K + λI)⁻¹ (y − ȳ) + ȳ``."""
            nonlocal flops
            kk, ko = a[f"{tag}_k"], a[f"{tag}_ko"]
            m, k = y.shape
            trace = float(np.trace(kk))  # 0 only when no feature varies (a PSD kernel)
            lam = alpha * trace / p
            if not trace > 0:  # the mean alone
                c = np.zeros_like(y)
            elif lam > 0:
                system = kk.copy()
                system.flat[:: m + 1] += lam
                c = _spd_solve(system, y - y.mean(0))
            else:  # no penalty: the minimum-norm least-squares solution
                c = np.linalg.lstsq(kk, y - y.mean(0), rcond=None)[0]
            flops += m**3 // 3 + 2 * m * m * k + 2 * ko.shape[0] * m * k
            return ko @ c + y.mean(0)

        errs = []
        if n_val > 0:
            yf, yv = ys[: n - n_val], ys[n - n_val :]
            errs = [float(((yv - predict("fit", yf, al)) ** 2).sum()) for al in self.alphas]
        self.alpha_ = self._pick(errs)
        self.coef_, self.intercept_ = None, ys.mean(0)  # dual form: no weights formed
        self.losses_ = ((yt - predict("all", ys, self.alpha_)) ** 2).sum(1)
        self.flops_ = flops


def _summed_parts(
    parts: Sequence[Basis], what: str, kind: str, key: str
) -> tuple[dict[str, np.ndarray], dict[str, tuple[int, ...]]]:
    """The parts' arrays added key by key (kernels of concatenated features add, and so do
    feature counts), after checking that they are ``kind`` parts holding ``key``, made from
    the same rows; and the concatenation's shapes. One part is returned as it is."""
    kinds = sorted({b.kind for b in parts})
    rows = {(b.shapes["small"][0], b.shapes["test"][0]) for b in parts}
    if kinds != [kind] or len(rows) != 1 or not all(key in b.arrays for b in parts):
        raise input_error(what, kinds or "none", f"{kind} parts made from the same rows")
    arrays = {k: functools.reduce(operator.add, (b.arrays[k] for b in parts))
              for k in parts[0].arrays}  # fmt: skip
    (n, nt), p = rows.pop(), sum(b.shapes["small"][1] for b in parts)
    return arrays, {"small": (n, p), "test": (nt, p)}


def _standardizer(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations (1 where a column is constant)."""
    mu, sd = rows.mean(0), rows.std(0)
    return mu, np.where(sd > 0, sd, 1.0)


def _floor(d: np.ndarray) -> np.ndarray:
    """Eigenvalues + penalty as divisors: 0 (no penalty, a direction without variance,
    where the projection is 0 too) becomes 1 so that the direction's weight is 0."""
    return np.where(d > 0, d, 1.0)


def _spd_solve(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``a⁻¹ y`` for a symmetric positive definite ``a`` (a kernel plus a penalty):
    Cholesky, least squares if rounding made it indefinite."""
    try:
        return cho_solve(cho_factor(a, lower=True, check_finite=False), y, check_finite=False)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(a, y, rcond=None)[0]


@register
class LogME(Estimator):
    """LogME (You et al. 2021): the log marginal likelihood (evidence) per sample of a
    Bayesian linear model from the representation to each label column, its prior and noise
    precisions (``alpha_``, ``beta_``) set by the evidence's fixed point; mean over columns.
    Computed on the small split (the transfers' training data), as the method prescribes.
    The eigenbasis of ``FᵀF`` is target-independent (:meth:`basis`, shared with
    ``logme_probe``)."""

    name = "logme"
    target_aware = True
    coef_: np.ndarray | None  # (d, k) posterior means; None in the dual form
    dual_coef_: np.ndarray | None  # (n, k) weights on the small split's rows (dual form)

    def __init__(self, max_iter: int = 50, tol: float = 1e-3) -> None:
        self.max_iter = max_iter
        self.tol = tol

    def basis(self, reps: Splits) -> Basis:
        f, ft = reps["small"], reps["test"]
        if self.combines(*f.shape):
            return self.combine([self.part(reps)])
        s, v, flops = _eigenbasis(f)
        return Basis(self.basis_kind(), {"s": s, "v": v}, flops,
                     {"small": f.shape, "test": ft.shape})  # fmt: skip

    def combines(self, n: int, p: int) -> bool:
        # n ≤ d: the dual form, FFᵀ = UΣUᵀ has the nonzero eigenvalues of FᵀF; the
        # concatenation's FFᵀ is the sum of its sources'
        return n <= p

    def part(self, reps: Splits) -> Basis:
        """The linear kernels of the small split's rows, with themselves and with the test
        split's (for the probe's predictions), and the feature count."""
        f, ft = reps["small"], reps["test"]
        n, d = f.shape
        arrays = {"k": f @ f.T, "kt": ft @ f.T, "d": np.array([float(d)])}
        flops = 2 * n * n * d + 2 * ft.shape[0] * n * d
        return Basis("logme-part", arrays, flops, {"small": f.shape, "test": ft.shape})

    def combine(self, parts: Sequence[Basis]) -> Basis:
        """The dual eigenbasis of the parts' concatenated features: eigh of the summed kernel."""
        summed, shapes = _summed_parts(parts, "logme parts", "logme-part", "k")
        (n, _), (nt, _) = shapes["small"], shapes["test"]
        s, u = np.linalg.eigh(summed["k"])
        arrays = {"s": np.clip(s, 0.0, None), "u": u, "kt": summed["kt"], "d": summed["d"]}
        flops = (len(parts) - 1) * (n * n + nt * n) + 9 * n**3
        return Basis(self.basis_kind(), arrays, flops, shapes)

    def basis_kind(self) -> str:
        return "logme"  # logme_probe fits the same model: it shares the basis

    def fit(self, reps: Splits, labels: Splits, basis: Basis | None = None) -> LogME:
        b, basis_flops = self._prepared(reps, basis)
        f, y = reps["small"], labels["small"]
        n, d = f.shape
        k = y.shape[1]
        dual = "u" in b.arrays
        if dual:
            # in FᵀF's eigenbasis the directions of FFᵀ's eigenvectors u carry Vᵀ Fᵀ y =
            # √s · uᵀ y; the other d − n have eigenvalue 0 and no projection
            s_n, u = b.arrays["s"], b.arrays["u"]
            uy = u.T @ y  # (n, k)
            s = np.concatenate([s_n, np.zeros(max(d - s_n.shape[0], 0))])
            proj = np.zeros((s.shape[0], k))
            proj[: s_n.shape[0]] = np.sqrt(s_n)[:, None] * uy
            head_flops = 2 * n * n * k
        else:
            s, v = b.arrays["s"], b.arrays["v"]
            proj = v.T @ (f.T @ y)  # (d, k): Vᵀ Fᵀ y
            head_flops = 2 * n * d * k + 2 * d * d * k
        yy = (y * y).sum(0)

        def residual(c: np.ndarray) -> np.ndarray:
            # ‖y − Z c‖² with ZᵀZ = diag(s): O(d·k) per iteration instead of O(n·d·k)
            return np.maximum(yy - 2 * (c * proj).sum(0) + (s[:, None] * c * c).sum(0), 0.0)

        alpha, beta = np.ones(k), np.ones(k)
        it = 0
        while it < self.max_iter:
            it += 1
            den = alpha[None, :] + beta[None, :] * s[:, None]  # (d, k)
            gamma = (beta[None, :] * s[:, None] / den).sum(0)
            c = proj * beta[None, :] / den  # posterior means in the eigenbasis (d, k)
            alpha_de = (c * c).sum(0)  # ‖m‖², V orthonormal
            beta_de = residual(c)
            new_alpha = gamma / np.maximum(alpha_de, 1e-12)
            new_beta = (n - gamma) / np.maximum(beta_de, 1e-12)
            done = np.all(np.abs(new_alpha / new_beta - alpha / beta) <= self.tol * alpha / beta)
            alpha, beta = new_alpha, new_beta
            if done:
                break
        den = alpha[None, :] + beta[None, :] * s[:, None]
        c = proj * beta[None, :] / den
        alpha_de = (c * c).sum(0)
        beta_de = residual(c)
        evidence = (
            d / 2 * np.log(alpha) + n / 2 * np.log(beta) - 0.5 * np.log(den).sum(0)
            - beta / 2 * beta_de - alpha / 2 * alpha_de - n / 2 * np.log(2 * np.pi)
        )  # fmt: skip
        self.alpha_, self.beta_, self.n_iter_ = alpha, beta, it
        if dual:  # posterior means as weights on the small split's rows: w = Fᵀ U (c / √s)
            rows_w = uy * (beta[None, :] / den[: s_n.shape[0]])  # c / √s, also where s = 0
            self.coef_, self.dual_coef_ = None, u @ rows_w  # (n, k)
            head_flops += 2 * n * n * k
        else:
            self.coef_, self.dual_coef_ = v @ c, None  # (d, k) posterior means
            head_flops += 2 * d * d * k
        self.evidence_ = evidence / n  # per sample, per column
        self.score_ = float(self.evidence_.mean())
        self.flops_ = int(basis_flops + head_flops + 2 * n * k + (it + 1) * 14 * d * k)
        self.basis_ = b
        return self

    def _predict_test(self, reps: Splits) -> tuple[np.ndarray, int]:
        """The posterior mean's predictions of the test split, and their FLOPs."""
        nt, d = reps["test"].shape
        if self.dual_coef_ is not None:  # F_t w = (F_t Fᵀ) U (c / √s)
            n, k = self.dual_coef_.shape
            return self.basis_.arrays["kt"] @ self.dual_coef_, 2 * nt * n * k
        assert self.coef_ is not None
        return reps["test"] @ self.coef_, 2 * nt * d * self.coef_.shape[1]


@register
class LogMEProbe(LogME):
    """LogME's Bayesian linear model used as a probe: its posterior-mean weights (the
    ridge solution at the evidence-optimal penalty ``alpha_/beta_`` per label column, from
    the small split alone) predict the test split; ``losses_`` are each test image's squared
    error (ranked with AHP by the run), ``score_`` the test R² pooled over columns. Like
    ``ridge`` with the penalty set by the evidence instead of held-out rows."""

    name = "logme_probe"

    def fit(self, reps: Splits, labels: Splits, basis: Basis | None = None) -> LogMEProbe:
        super().fit(reps, labels, basis)
        yt = labels["test"]
        pred, flops = self._predict_test(reps)
        self.losses_ = ((yt - pred) ** 2).sum(1)
        sst = float(((yt - yt.mean(0)) ** 2).sum())
        self.score_ = 1.0 - float(self.losses_.sum()) / sst if sst > 0 else 0.0
        self.flops_ += flops + 3 * yt.size
        return self
