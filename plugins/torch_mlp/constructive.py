"""Approximators built, not trained: their error is known before they see a test point.

:class:`ReLUInterpolant` is continuous piecewise-linear interpolation written as
a ReLU network — in one dimension literally one hidden layer with a unit per
knot, in more dimensions hat functions on the Kuhn (Freudenthal) triangulation
of a grid. :class:`RandomFeatures` draws the hidden layer at random and solves
for the output weights by linear least squares (Rahimi & Recht 2008).

Both need only numpy/scipy to fit and predict; ``network()`` builds the
equivalent torch module.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from lamina.errors import InputError
from lamina.learn.base import BaseLearner, RegressorMixin
from lamina.learn.validation import check_number, check_regression_target
from lamina.limits import MAX_INTERPOLANT_NODES
from lamina.plugins.torch_mlp.fitted_state import (
    check_bounded,
    check_outputs,
    check_standardisation,
)

if TYPE_CHECKING:
    from torch import nn

__all__ = ["RandomFeatures", "ReLUInterpolant", "kuhn_interpolate", "relu_layer_1d"]


# -- piecewise-linear interpolation on a Kuhn triangulation --------------------------
def _locate(axes: list[np.ndarray], X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cell index and fractional position in the cell along each axis (clamped)."""
    cells = np.zeros(X.shape, dtype=np.int64)
    fractions = np.zeros(X.shape, dtype=np.float64)
    for j, knots in enumerate(axes):
        if len(knots) == 1:
            continue
        x = np.clip(X[:, j], knots[0], knots[-1])
        cell = np.clip(np.searchsorted(knots, x, side="right") - 1, 0, len(knots) - 2)
        cells[:, j] = cell
        fractions[:, j] = (x - knots[cell]) / (knots[cell + 1] - knots[cell])
    return cells, fractions


def _kuhn_vertices(axes: list[np.ndarray], X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat node indices (P, d+1) and barycentric weights (P, d+1) of each point.

    The cell is split into the d! Kuhn simplices by sorting the fractional
    coordinates: walking from the cell's lower corner along the axes in order
    of decreasing fraction visits the vertices of the simplex holding the
    point, and consecutive fraction differences are its barycentric weights.
    """
    shape = tuple(len(k) for k in axes)
    d = len(axes)
    cells, fractions = _locate(axes, X)
    order = np.argsort(-fractions, axis=1, kind="stable")
    ordered = np.take_along_axis(fractions, order, axis=1)
    weights = np.empty((len(X), d + 1))
    weights[:, 0] = 1.0 - ordered[:, 0]
    weights[:, 1:d] = ordered[:, :-1] - ordered[:, 1:]
    weights[:, d] = ordered[:, -1]
    strides = np.array([math.prod(shape[j + 1 :]) for j in range(d)], dtype=np.int64)
    # An axis with a single knot has zero fraction, so its step carries weight 0.
    steps = np.where(np.array(shape)[order] > 1, strides[order], 0)
    start = cells @ strides
    indices = start[:, None] + np.concatenate(
        [np.zeros((len(X), 1), dtype=np.int64), np.cumsum(steps, axis=1)], axis=1
    )
    return indices, weights


def kuhn_interpolate(axes: list[np.ndarray], values: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Piecewise-linear interpolation of ``values`` (N, k) given on the grid ``axes``
    at the rows of ``X``, on the Kuhn triangulation; constant beyond the grid."""
    indices, weights = _kuhn_vertices(axes, X)
    return np.einsum("pv,pvk->pk", weights, values[indices])


def relu_layer_1d(
    knots: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One hidden ReLU layer that interpolates ``values`` (n, k) at sorted ``knots``.

    ``f(x) = values[0] + sum_i c_i relu(x - knots[i])`` where ``c_i`` is the change
    of slope at knot i; the last unit cancels the final slope so ``f`` is
    constant beyond the knots, exactly as :func:`numpy.interp`.

    Returns
    -------
    hidden_bias : (n,) array
        ``-knots`` (all hidden weights are 1).
    output_weights : (k, n) array
    output_bias : (k,) array
    """
    n = len(knots)
    if n == 1:
        return -knots.copy(), np.zeros((values.shape[1], 1)), values[0].copy()
    slopes = np.diff(values, axis=0) / np.diff(knots)[:, None]  # (n-1, k)
    padded = np.vstack([np.zeros((1, values.shape[1])), slopes, np.zeros((1, values.shape[1]))])
    changes = np.diff(padded, axis=0)  # (n, k)
    return -knots.copy(), changes.T.copy(), values[0].copy()


def _unique_rows_mean(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows, inverse, counts = np.unique(X, axis=0, return_inverse=True, return_counts=True)
    sums = np.zeros((len(rows), y.shape[1]))
    np.add.at(sums, inverse.reshape(-1), y)
    return rows, sums / counts[:, None]


def _check_regression_input(learner: BaseLearner, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    array = learner._validate_x(X, reset=True, dtype=np.float64)
    target = check_regression_target(y, len(array))
    return array, target


class ReLUInterpolant(RegressorMixin, BaseLearner):
    """Continuous piecewise-linear interpolation, built directly as a ReLU network.

    In one dimension the network has one hidden layer with one ReLU unit per
    knot, ``f(x) = v_0 + sum_i c_i relu(x - t_i)``, and reproduces
    :func:`numpy.interp` exactly. In ``d`` dimensions the nodes form a tensor
    grid, each cell is split into ``d!`` Kuhn simplices and ``f`` is linear on
    each; as a network it is a sum of hat functions
    ``relu(1 - max(0, z) + min(0, z))`` (a ReLU network of depth O(d)).

    Parameters
    ----------
    n_knots : int or None, default=None
        Knots per axis. ``None`` interpolates the training data itself: the
        sorted distinct inputs in 1-D, or the grid they form in d-D (scattered
        d-D data then get ``ceil(n_samples ** (1/d))`` knots per axis). With an
        int the knots are uniform over the data's bounding box and the node
        values are fitted by least squares.
    alpha : float, default=1e-8
        Weight of the first-difference penalty in the least-squares fit; it
        fills nodes that no sample touches and is irrelevant when interpolating.

    Attributes
    ----------
    axes_ : list of ndarray
        The knots along each input axis.
    values_ : ndarray of shape (n_nodes, n_outputs)
        Node values, grid nodes in C order.
    n_hidden_ : int
        Hidden units of the equivalent network (1-D: the number of knots).
    exact_ : bool
        Whether the node values are the data (interpolation) rather than fitted.

    Notes
    -----
    For ``f`` twice differentiable with ``|d^2 f / du^2| <= M`` along every unit
    direction, linear interpolation on a simplex of smallest enclosing ball
    radius R errs by at most ``M R^2 / 2`` (Waldron 1998). A Kuhn simplex lies
    in its grid cell and contains the cell's main diagonal, so
    ``R^2 = sum_j h_j^2 / 4`` and the error is at most ``M sum_j h_j^2 / 8``
    (``M h^2 / 8`` in 1-D); :meth:`error_bound` returns it.

    That a shallow ReLU network represents every continuous piecewise-linear
    function of one variable is the constructive core of the universal
    approximation theorem for ReLU (Cybenko 1989 and Hornik 1991 prove
    existence for general activations; Arora et al. 2018 give depth
    ``ceil(log2(d + 1)) + 1`` for d inputs).

    References
    ----------
    S. Waldron (1998), "The error in linear interpolation at the vertices of a
    simplex", SIAM J. Numer. Anal. 35(3). R. Arora, A. Basu, P. Mianjy,
    A. Mukherjee (2018), "Understanding deep neural networks with rectified
    linear units", ICLR.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.linspace(-np.pi, np.pi, 9)[:, None]
    >>> model = ReLUInterpolant().fit(x, np.sin(x[:, 0]))
    >>> t = np.array([[0.3], [2.0]])
    >>> bool(np.allclose(model.predict(t), np.interp(t[:, 0], x[:, 0], np.sin(x[:, 0]))))
    True
    """

    _saved_extra = ("_y_ndim",)

    def __init__(self, *, n_knots: int | None = None, alpha: float = 1e-8) -> None:
        self.n_knots = n_knots
        self.alpha = alpha

    def _check_params(self) -> None:
        owner = type(self).__name__
        if self.n_knots is not None:
            check_number("n_knots", self.n_knots, integer=True, low=2, owner=owner)
        check_number("alpha", self.alpha, low=0, owner=owner)

    def fit(self, X: Any, y: Any) -> ReLUInterpolant:
        """Build the network interpolating (or least-squares fitting) ``(X, y)``."""
        self.validate_params()
        X, target = _check_regression_input(self, X, y)
        y2 = target.reshape(len(target), -1)
        d = X.shape[1]
        self._y_ndim = target.ndim
        if self.n_knots is None:
            axes = [np.unique(X[:, j]) for j in range(d)]
            rows, means = _unique_rows_mean(X, y2)
            if math.prod(len(a) for a in axes) == len(rows):
                self._set_grid(axes)
                # np.unique on rows sorts lexicographically = C order of the grid.
                self.values_ = means
                self.exact_ = True
                return self._finish(target)
            knots = max(2, math.ceil(len(rows) ** (1.0 / d)))
        else:
            knots = int(self.n_knots)
        if knots**d > MAX_INTERPOLANT_NODES:
            raise InputError(
                f"n_knots={knots} in {d} dimensions makes {knots**d:,} grid nodes; at most "
                f"{MAX_INTERPOLANT_NODES:,} (lamina.limits.MAX_INTERPOLANT_NODES): use fewer "
                "knots, or RandomFeatures for many inputs"
            )
        low, high = X.min(axis=0), X.max(axis=0)
        axes = [
            np.linspace(lo, hi, knots) if hi > lo else np.array([lo])
            for lo, hi in zip(low, high, strict=True)
        ]
        self._set_grid(axes)
        self.values_ = self._least_squares(X, y2)
        self.exact_ = False
        return self._finish(target)

    def _set_grid(self, axes: list[np.ndarray]) -> None:
        self.axes_ = axes
        shape = tuple(len(a) for a in axes)
        if len(axes) == 1:
            self.n_hidden_ = shape[0]
        else:
            self.n_hidden_ = math.prod(shape)

    def _finish(self, target: np.ndarray) -> ReLUInterpolant:
        self.n_outputs_ = 1 if target.ndim == 1 else target.shape[1]
        return self

    def _least_squares(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        import scipy.sparse as sparse
        from scipy.sparse.linalg import splu

        shape = tuple(len(a) for a in self.axes_)
        n_nodes = math.prod(shape)
        indices, weights = _kuhn_vertices(self.axes_, X)
        rows = np.repeat(np.arange(len(X)), indices.shape[1])
        B = sparse.csr_matrix((weights.ravel(), (rows, indices.ravel())), shape=(len(X), n_nodes))
        differences = []
        for j in range(len(shape)):
            if shape[j] < 2:
                continue
            eye = [sparse.identity(s, format="csr") for s in shape]
            step = sparse.diags([-1.0, 1.0], [0, 1], shape=(shape[j] - 1, shape[j]), format="csr")
            eye[j] = step
            term = eye[0]
            for factor in eye[1:]:
                term = sparse.kron(term, factor, format="csr")
            differences.append(term)
        normal = (B.T @ B).tocsc()
        if differences:
            D = sparse.vstack(differences, format="csr")
            normal = normal + float(self.alpha) * (D.T @ D).tocsc()
        # Nodes that no sample and no neighbour pins (alpha=0) would be singular.
        normal = normal + 1e-14 * sparse.identity(n_nodes, format="csc")
        return splu(normal.tocsc()).solve(np.asarray(B.T @ y))

    def predict(self, X: Any) -> np.ndarray:
        """Evaluate the piecewise-linear function (the network's output) at ``X``."""
        self._check_fitted()
        X = self._validate_x(X, reset=False, dtype=np.float64)
        out = kuhn_interpolate(self.axes_, self.values_, X)
        return out[:, 0] if self._y_ndim == 1 else out

    def error_bound(self, second_derivative_bound: float) -> float:
        """Sup-norm error bound ``M * sum_j h_j^2 / 8`` inside the grid for a target
        whose second directional derivatives are at most ``M`` in absolute value."""
        self._check_fitted()
        h2 = sum(float(np.max(np.diff(a))) ** 2 for a in self.axes_ if len(a) > 1)
        return float(second_derivative_bound) * h2 / 8.0

    def network(self, dtype: str = "float64") -> nn.Module:
        """The torch ReLU network computing :meth:`predict` (needs torch)."""
        self._check_fitted()
        from lamina.plugins.torch_mlp.relu_networks import interpolant_network

        return interpolant_network(self.axes_, self.values_, dtype=dtype)

    @property
    def n_parameters_(self) -> int:
        """Weights and biases of the equivalent network (1-D: 3n + k)."""
        self._check_fitted()
        if len(self.axes_) == 1:
            n = len(self.axes_[0])
            return 2 * n + self.values_.shape[1] * (n + 1)
        return int(self.values_.size)

    def _check_state(self) -> None:
        super()._check_state()
        n_outputs = check_outputs(self)
        axes = getattr(self, "axes_", None)
        if not isinstance(axes, list) or len(axes) != self.n_features_in_:
            raise InputError(f"fitted axes_ must be a list of {self.n_features_in_} knot arrays")
        for j, axis in enumerate(axes):
            check_bounded(self, f"axes_[{j}]", (-1,), axis)
            if not axis.size or np.any(np.diff(axis) <= 0):
                raise InputError(f"fitted axes_[{j}] must hold increasing knots")
        check_bounded(self, "values_", (math.prod(len(axis) for axis in axes), n_outputs))


class RandomFeatures(RegressorMixin, BaseLearner):
    """One hidden layer drawn at random, output weights by linear least squares.

    ``f(x) = c_0 + sum_k c_k phi(w_k . s(x) + b_k)`` where ``s`` maps the
    training data's bounding box onto [-1, 1]^d. Only ``c`` is fitted, by
    :func:`numpy.linalg.lstsq` (minimum-norm) or ridge regression, so the fit is
    a convex problem solved exactly — the "random kitchen sinks" of Rahimi &
    Recht, whose error decays like ``O(1/sqrt(n_features))`` for targets in the
    span of the feature distribution.

    Parameters
    ----------
    n_features : int, default=200
        Hidden units.
    activation : {"relu", "tanh", "sigmoid", "cos"}, default="relu"
        ``relu``: directions uniform on the sphere and offsets uniform in
        [-sqrt(d), sqrt(d)], so the kinks cover the box. ``tanh``/``sigmoid``:
        weights N(0, scale^2), offsets uniform in [-scale sqrt(d), scale sqrt(d)].
        ``cos``: random Fourier features of the Gaussian kernel with bandwidth
        1/scale (weights N(0, scale^2), offsets uniform in [0, 2 pi)).
    scale : float, default=1.0
        Weight scale (ignored by ``relu``, which is positively homogeneous).
    alpha : float, default=0.0
        Ridge penalty on the output weights; 0 is plain least squares.
    random_state : int, numpy Generator or None, default=None
        Seed for the hidden layer.

    Attributes
    ----------
    weights_ : ndarray of shape (n_features, n_features_in)
    biases_ : ndarray of shape (n_features,)
    coef_ : ndarray of shape (n_features, n_outputs)
    intercept_ : ndarray of shape (n_outputs,)
    rank_ : int
        Numerical rank of the least-squares design matrix.
    residual_ : float
        Root-mean-square training residual.

    References
    ----------
    A. Rahimi, B. Recht (2008), "Weighted sums of random kitchen sinks:
    replacing minimization with randomization in learning", NeurIPS 21; and
    "Uniform approximation of functions with random bases", Allerton 2008.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.linspace(-np.pi, np.pi, 400)[:, None]
    >>> model = RandomFeatures(n_features=100, random_state=0).fit(x, np.sin(x[:, 0]))
    >>> bool(np.max(np.abs(model.predict(x) - np.sin(x[:, 0]))) < 1e-2)
    True
    """

    _saved_extra = ("_y_ndim",)

    def __init__(
        self,
        *,
        n_features: int = 200,
        activation: Literal["relu", "tanh", "sigmoid", "cos"] = "relu",
        scale: float = 1.0,
        alpha: float = 0.0,
        random_state: int | None = None,
    ) -> None:
        self.n_features = n_features
        self.activation = activation
        self.scale = scale
        self.alpha = alpha
        self.random_state = random_state

    def _check_params(self) -> None:
        owner = type(self).__name__
        check_number("n_features", self.n_features, integer=True, low=1, owner=owner)
        if self.activation not in ("relu", "tanh", "sigmoid", "cos"):
            raise InputError(
                f"parameter 'activation' of {owner} must be 'relu', 'tanh', 'sigmoid' or "
                f"'cos', got {self.activation!r}"
            )
        check_number("scale", self.scale, low=0, low_inclusive=False, owner=owner)
        check_number("alpha", self.alpha, low=0, owner=owner)

    def fit(self, X: Any, y: Any) -> RandomFeatures:
        """Draw the hidden layer and solve for the output weights."""
        self.validate_params()
        X, target = _check_regression_input(self, X, y)
        self._y_ndim = target.ndim
        y2 = target.reshape(len(target), -1)
        low, high = X.min(axis=0), X.max(axis=0)
        self.center_ = (low + high) / 2
        self.half_range_ = np.where(high > low, (high - low) / 2, 1.0)
        rng = np.random.default_rng(_seed(self.random_state))
        d, k = X.shape[1], int(self.n_features)
        if self.activation == "relu":
            directions = rng.normal(size=(k, d))
            self.weights_ = directions / np.linalg.norm(directions, axis=1, keepdims=True)
            self.biases_ = rng.uniform(-math.sqrt(d), math.sqrt(d), k)
        elif self.activation == "cos":
            self.weights_ = rng.normal(scale=self.scale, size=(k, d))
            self.biases_ = rng.uniform(0, 2 * np.pi, k)
        else:
            self.weights_ = rng.normal(scale=self.scale, size=(k, d))
            bound = self.scale * math.sqrt(d)
            self.biases_ = rng.uniform(-bound, bound, k)
        design = np.hstack([self._features(X), np.ones((len(X), 1))])
        if self.alpha > 0:
            penalty = math.sqrt(self.alpha) * np.eye(k + 1)[:k]  # the intercept is not penalised
            design_aug = np.vstack([design, penalty])
            target_aug = np.vstack([y2, np.zeros((k, y2.shape[1]))])
            solution, _, rank, _ = np.linalg.lstsq(design_aug, target_aug, rcond=None)
        else:
            solution, _, rank, _ = np.linalg.lstsq(design, y2, rcond=None)
        self.coef_ = solution[:k]
        self.intercept_ = solution[k]
        self.rank_ = int(rank)
        self.residual_ = float(np.sqrt(np.mean((design @ solution - y2) ** 2)))
        self.n_outputs_ = y2.shape[1]
        return self

    def _features(self, X: np.ndarray) -> np.ndarray:
        pre = ((X - self.center_) / self.half_range_) @ self.weights_.T + self.biases_
        if self.activation == "relu":
            return np.maximum(pre, 0.0)
        if self.activation == "tanh":
            return np.tanh(pre)
        if self.activation == "sigmoid":
            return 0.5 * (1.0 + np.tanh(0.5 * pre))  # overflow-free logistic
        return np.cos(pre)

    def features(self, X: Any) -> np.ndarray:
        """The hidden-layer activations (n_samples, n_features)."""
        self._check_fitted()
        return self._features(self._validate_x(X, reset=False, dtype=np.float64))

    @property
    def n_parameters_(self) -> int:
        """Weights and biases of the network (hidden ones random, output ones fitted)."""
        self._check_fitted()
        return int(self.weights_.size + self.biases_.size + self.coef_.size + self.intercept_.size)

    def predict(self, X: Any) -> np.ndarray:
        """Evaluate the network at ``X``."""
        self._check_fitted()
        out = self.features(X) @ self.coef_ + self.intercept_
        return out[:, 0] if self._y_ndim == 1 else out

    def _check_state(self) -> None:
        super()._check_state()
        n_outputs = check_outputs(self)
        check_standardisation(self, "center_", "half_range_", self.n_features_in_)
        k = len(check_bounded(self, "weights_", (-1, self.n_features_in_)))
        check_bounded(self, "biases_", (k,))
        check_bounded(self, "coef_", (k, n_outputs))
        check_bounded(self, "intercept_", (n_outputs,))


def _seed(random_state: Any) -> Any:
    if isinstance(random_state, np.random.RandomState):
        return random_state.randint(0, 2**31 - 1)
    return random_state
