"""Trained multilayer perceptrons: the universal approximation theorems' networks.

:class:`MLPRegressor` and :class:`MLPClassifier` share one trainer: width,
depth and activation chosen freely (``width="minimal"`` picks the narrowest
universal width), L-BFGS (full batch, optionally in float64) or Adam (full or
mini-batch), early stopping on a validation split, deterministic under
``random_state``.

torch (and the network builder on it) is imported by the methods that train or
run the network, never by importing this module: constructing the learners,
checking and describing their parameters stay free of torch's import time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from lamina.errors import InputError
from lamina.learn.base import BaseLearner, ClassifierMixin, RegressorMixin
from lamina.learn.torch import (
    ACTIVATIONS,
    EarlyStopping,
    TorchStateMixin,
    cpu_threads,
    generator,
    hold_out,
    largest_layer_work,
    resolve_device,
    resolve_dtype,
    seed_from,
    seeded,
)
from lamina.learn.validation import (
    check_classification_targets,
    check_number,
    check_regression_target,
)
from lamina.limits import MAX_LM_PARAMETERS
from lamina.plugins.torch_mlp.fitted_state import check_outputs, check_standardisation
from lamina.progress import progress_bar

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["MLPClassifier", "MLPRegressor"]

Activation = Literal[
    "relu", "leaky_relu", "tanh", "sigmoid", "gelu", "silu", "elu", "softplus", "sin"
]

#: L-BFGS iterations per block: progress, early stopping and stall checks run between blocks.
LBFGS_BLOCK = 10


class _BaseMLP(TorchStateMixin, BaseLearner):
    """Shared parameters, validation and training loop; see the subclasses."""

    _solvers: tuple[str, ...] = ("lbfgs", "adam")

    # Defined by the learners whose _solvers include "lm" (the regressor).
    _train_levenberg_marquardt: Callable[[Any, Any, Any, Any], None]
    # Set when fitting ends (_Monitor.finish).
    loss_: float
    best_validation_loss_: float

    def __init__(
        self,
        *,
        width: int | Literal["minimal"] = 100,
        depth: int = 1,
        activation: Activation = "relu",
        solver: Literal["lbfgs", "adam", "lm"] = "lbfgs",
        learning_rate: float = 1e-3,
        batch_size: int | None = None,
        max_iter: int = 200,
        tol: float = 1e-4,
        n_iter_no_change: int = 10,
        alpha: float | None = None,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        standardize: bool = True,
        dtype: Literal["float32", "float64"] = "float32",
        device: Literal["auto", "cpu", "cuda"] = "cpu",
        random_state: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.width = width
        self.depth = depth
        self.activation = activation
        self.solver = solver
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.alpha = alpha
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.standardize = standardize
        self.dtype = dtype
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # -- parameters -------------------------------------------------------------------
    def _check_params(self) -> None:
        owner = type(self).__name__
        if self.width != "minimal":
            check_number("width", self.width, integer=True, low=1, owner=owner)
        check_number("depth", self.depth, integer=True, low=1, owner=owner)
        _choice("activation", self.activation, ACTIVATIONS, owner)
        _choice("solver", self.solver, self._solvers, owner)
        _choice("dtype", self.dtype, ("float32", "float64"), owner)
        _choice("device", self.device, ("auto", "cpu", "cuda"), owner)
        check_number("learning_rate", self.learning_rate, low=0, low_inclusive=False, owner=owner)
        if self.batch_size is not None:
            check_number("batch_size", self.batch_size, integer=True, low=1, owner=owner)
            if self.solver != "adam":
                raise InputError(
                    f"parameter 'batch_size' of {owner}: solver {self.solver!r} is a full-batch "
                    "method (its line search or damping needs the exact loss); use "
                    "batch_size=None or solver='adam'"
                )
        check_number("max_iter", self.max_iter, integer=True, low=1, owner=owner)
        check_number("tol", self.tol, low=0, owner=owner)
        check_number("n_iter_no_change", self.n_iter_no_change, integer=True, low=1, owner=owner)
        if self.alpha is not None:
            check_number("alpha", self.alpha, low=0, owner=owner)
        check_number(
            "validation_fraction",
            self.validation_fraction,
            low=0,
            high=1,
            low_inclusive=False,
            high_inclusive=False,
            owner=owner,
        )
        for name in ("early_stopping", "standardize", "verbose"):
            if not isinstance(getattr(self, name), bool | np.bool_):
                raise InputError(
                    f"parameter {name!r} of {owner} must be True or False, got {getattr(self, name)!r}"
                )

    #: The L2 penalty ``alpha=None`` stands for (see the subclasses).
    _default_alpha = 0.0

    def _alpha(self) -> float:
        return self._default_alpha if self.alpha is None else float(self.alpha)

    # -- network ----------------------------------------------------------------------
    def _build_network(self) -> nn.Sequential:
        from lamina.plugins.torch_mlp.networks import build_mlp

        return build_mlp(
            self.n_features_in_,
            self._n_network_outputs(),
            width=self.width_,
            depth=int(self.depth),
            activation=self.activation,
            dtype=resolve_dtype(self.dtype),
        )

    def _n_network_outputs(self) -> int:
        raise NotImplementedError

    def _loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    # -- training -----------------------------------------------------------------------
    def _fit(self, X: np.ndarray, target: torch.Tensor, groups: np.ndarray | None) -> None:
        """Train on standardised ``X`` against ``target`` (already on the right dtype)."""
        from lamina.plugins.torch_mlp.networks import minimal_width

        device = resolve_device(self.device)
        dtype = resolve_dtype(self.dtype)
        seeds = np.random.SeedSequence(seed_from(self.random_state)).generate_state(3)
        split_seed, init_seed, shuffle_seed = (int(s) for s in seeds)
        if self.standardize:
            self.x_mean_ = X.mean(axis=0)
            scale = X.std(axis=0)
            self.x_scale_ = np.where(scale > 0, scale, 1.0)
        else:
            self.x_mean_ = np.zeros(X.shape[1])
            self.x_scale_ = np.ones(X.shape[1])
        inputs = self._to_tensor(X, device, dtype)
        target = target.to(device)
        train, valid = self._split(len(X), groups, split_seed)
        self.width_ = (
            minimal_width(self.n_features_in_, self._n_network_outputs(), self.activation)
            if self.width == "minimal"
            else int(self.width)
        )
        with seeded(init_seed, device):
            self.model_ = self._build_network().to(device)
        self.device_ = str(device)
        self.loss_curve_: list[float] = []
        self.validation_loss_curve_: list[float] = []
        data = (inputs[train], target[train])
        check = (inputs[valid], target[valid]) if valid is not None else None
        rows = len(train) if self.batch_size is None else min(int(self.batch_size), len(train))
        with (
            cpu_threads(rows * largest_layer_work(self.model_), device),
            progress_bar(enabled=None if self.verbose else False) as bar,
        ):
            task = bar.add_task(type(self).__name__, total=int(self.max_iter), status="")
            if self.solver == "lbfgs":
                self._train_lbfgs(data, check, bar, task)
            elif self.solver == "lm":
                self._train_levenberg_marquardt(data, check, bar, task)
            else:
                self._train_adam(data, check, bar, task, generator(shuffle_seed, device))
        self.model_.eval()

    def _split(
        self, n: int, groups: np.ndarray | None, seed: int
    ) -> tuple[np.ndarray, np.ndarray | None]:
        if not self.early_stopping:
            return np.arange(n), None
        return hold_out(n, fraction=self.validation_fraction, seed=seed, groups=groups)

    def _objective(self, data: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        from torch import nn

        inputs, target = data
        value = self._loss(self.model_(inputs), target)
        alpha = self._alpha()
        if alpha > 0:
            penalty = sum(m.weight.square().sum() for m in self.model_ if isinstance(m, nn.Linear))
            value = value + 0.5 * alpha * penalty / len(inputs)
        return value

    def _evaluate(self, data: tuple[torch.Tensor, torch.Tensor] | None) -> float | None:
        import torch

        if data is None:
            return None
        with torch.no_grad():
            return float(self._objective(data))

    def _train_lbfgs(self, data: Any, check: Any, bar: Any, task: Any) -> None:
        import torch

        optimizer = torch.optim.LBFGS(
            self.model_.parameters(),
            lr=1.0,
            max_iter=LBFGS_BLOCK,
            max_eval=4 * LBFGS_BLOCK + 1,
            # Stopping is _Monitor's relative-progress rule; torch's absolute
            # tolerances would stop at a loss of 1e-7, far above float64's reach.
            tolerance_grad=0.0,
            tolerance_change=0.0,
            history_size=50,
            line_search_fn="strong_wolfe",
        )

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            value = self._objective(data)
            value.backward()
            return value

        monitor = _Monitor(self)
        state = optimizer.state[optimizer.param_groups[0]["params"][0]]
        while True:
            done = state.get("n_iter", 0)
            block = min(LBFGS_BLOCK, int(self.max_iter) - done)
            if block <= 0:
                break
            optimizer.param_groups[0]["max_iter"] = block
            optimizer.step(closure)
            ran = state.get("n_iter", 0) - done
            bar.update(task, completed=state.get("n_iter", 0))
            if monitor.update(self._evaluate(data), self._evaluate(check), bar, task) or ran == 0:
                break
        self.n_iter_ = max(1, int(state.get("n_iter", 0)))
        monitor.finish()

    def _train_adam(self, data: Any, check: Any, bar: Any, task: Any, rng: torch.Generator) -> None:
        import torch

        optimizer = torch.optim.Adam(self.model_.parameters(), lr=float(self.learning_rate))
        inputs, target = data
        n = len(inputs)
        batch = n if self.batch_size is None else min(int(self.batch_size), n)
        monitor = _Monitor(self)
        epoch = 0
        for epoch in range(1, int(self.max_iter) + 1):
            order = torch.randperm(n, generator=rng, device=rng.device) if batch < n else None
            total = 0.0
            for start in range(0, n, batch):
                rows = order[start : start + batch] if order is not None else slice(None)
                optimizer.zero_grad()
                value = self._objective((inputs[rows], target[rows]))
                value.backward()
                optimizer.step()
                total += float(value.detach()) * (min(start + batch, n) - start)
            bar.update(task, completed=epoch)
            if monitor.update(total / n, self._evaluate(check), bar, task):
                break
        self.n_iter_ = max(1, epoch)
        monitor.finish()

    # -- prediction ---------------------------------------------------------------------
    def _to_tensor(self, X: np.ndarray, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        import torch

        scaled = (np.asarray(X, dtype=np.float64) - self.x_mean_) / self.x_scale_
        return torch.as_tensor(scaled, dtype=dtype, device=device)

    def _network_output(self, X: Any) -> np.ndarray:
        """The network's raw output for ``X``, as float64.

        On the CPU the forward pass runs in float64 from the trained weights:
        float32 matrix products round differently for different batch sizes,
        and a prediction should not depend on which other rows came with it.
        """
        import torch

        self._check_fitted()
        array = self._validate_x(X, reset=False)
        device = next(self.model_.parameters()).device
        dtype = torch.float64 if device.type == "cpu" else next(self.model_.parameters()).dtype
        weights = {k: v.to(dtype) for k, v in self.model_.state_dict().items()}
        work = len(array) * largest_layer_work(self.model_)
        with torch.no_grad(), cpu_threads(work, device):
            inputs = self._to_tensor(array, device, dtype)
            output = torch.func.functional_call(self.model_, weights, (inputs,))
        return output.detach().cpu().numpy().astype(np.float64)

    @property
    def n_parameters_(self) -> int:
        """Trainable weights and biases."""
        self._check_fitted()
        return int(sum(p.numel() for p in self.model_.parameters()))

    def _check_state(self) -> None:
        super()._check_state()
        check_standardisation(self, "x_mean_", "x_scale_", self.n_features_in_)


class _Monitor:
    """Track losses, report them on the progress bar, and decide when to stop:
    ``n_iter_no_change`` blocks without a relative improvement of ``tol`` in the
    training loss (or the validation loss with early stopping), whose best
    weights are restored at the end."""

    def __init__(self, learner: _BaseMLP) -> None:
        self.learner = learner
        self.stopping = EarlyStopping(tol=learner.tol, patience=learner.n_iter_no_change)

    def update(self, loss: float | None, validation: float | None, bar: Any, task: Any) -> bool:
        learner = self.learner
        assert loss is not None
        learner.loss_curve_.append(loss)
        status = f"loss {loss:.4g}"
        watched = loss
        if validation is not None:
            learner.validation_loss_curve_.append(validation)
            status += f"  val {validation:.4g}"
            watched = validation
        bar.update(task, status=status)
        if not math.isfinite(watched):
            raise InputError(
                f"{type(learner).__name__} diverged (loss {watched}); lower learning_rate "
                "or use standardize=True"
            )
        # Only a validation loss picks weights to restore; the training loss only stops.
        self.stopping.update(watched, learner.model_ if validation is not None else None)
        return self.stopping.exhausted or watched == 0.0

    def finish(self) -> None:
        learner = self.learner
        if self.stopping.restore(learner.model_):
            learner.best_validation_loss_ = self.stopping.best
        learner.loss_ = learner.loss_curve_[-1] if learner.loss_curve_ else math.nan


class MLPRegressor(RegressorMixin, _BaseMLP):
    """A fully connected network fitted by least squares.

    Parameters
    ----------
    width : int or "minimal", default=100
        Units per hidden layer. ``"minimal"`` uses the narrowest width at which
        deep networks are universal: ``max(d_in + 1, d_out)`` for ReLU-like
        activations, ``d_in + d_out + 2`` otherwise.
    depth : int, default=1
        Hidden layers. ``depth=1`` with a large width is the classical
        ("arbitrary width") theorem; a minimal width with growing depth is the
        "arbitrary depth" one.
    activation : str, default="relu"
        relu, leaky_relu, tanh, sigmoid, gelu, silu, elu, softplus or sin.
    solver : {"lbfgs", "adam"}, default="lbfgs"
        L-BFGS with a strong-Wolfe line search (full batch), or Adam.
    learning_rate : float, default=1e-3
        Adam's step size.
    batch_size : int or None, default=None
        Adam's mini-batch size; ``None`` is full batch.
    max_iter : int, default=200
        L-BFGS iterations or Adam epochs.
    tol : float, default=1e-4
        Relative improvement of the monitored loss that counts as progress.
    n_iter_no_change : int, default=10
        Stop after this many epochs (Adam) or blocks of 10 iterations (L-BFGS)
        without progress.
    alpha : float or None, default=None
        L2 penalty ``alpha / (2 n) * sum ||W||^2`` on the weights. None: 0 for
        the regressor (an approximation as exact as the optimiser gets), 2 for
        the classifier, whose unpenalised fit on separable classes drives the
        logits apart without bound (log-probabilities of -9000 on
        scikit-learn's check data; -14 with 2), so its probabilities are
        calibrated: held-out log-loss below scikit-learn's ``MLPClassifier``
        at its defaults on iris, wine, breast cancer and digits.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data, monitor its loss, and keep
        the weights that did best on it.
    validation_fraction : float, default=0.1
    standardize : bool, default=True
        Train on inputs and targets scaled to zero mean and unit variance.
    dtype : {"float32", "float64"}, default="float32"
        Precision of weights and arithmetic (float64 lets L-BFGS reach
        errors float32 rounding hides).
    device : {"auto", "cpu", "cuda"}, default="cpu"
    random_state : int or None, default=None
        Seeds the initial weights, the validation split and the batch order.
    verbose : bool, default=False
        Show a progress bar with the loss on stderr.

    Attributes
    ----------
    model_ : torch.nn.Sequential
        The trained network (in standardised units).
    width_ : int
        The hidden width used.
    n_iter_ : int
        Iterations (L-BFGS) or epochs (Adam) run.
    loss_ : float
        Final training loss (half mean squared error, standardised units).
    loss_curve_, validation_loss_curve_ : list of float

    Notes
    -----
    Universal approximation says a large enough network approximates any
    continuous function on a compact set uniformly: with one hidden layer of a
    sigmoidal (Cybenko 1989) or any bounded non-constant (Hornik 1991)
    activation; with width ``max(d_in + 1, d_out)`` and unbounded depth for
    ReLU (Lu et al. 2017; Hanin & Sellke 2017; Park et al. 2021). The theorems
    guarantee existence, not that training finds the network: compare with
    :class:`~lamina.plugins.torch_mlp.constructive.ReLUInterpolant`.

    References
    ----------
    G. Cybenko (1989), Math. Control Signals Systems 2, 303-314. K. Hornik
    (1991), Neural Networks 4(2), 251-257. Z. Lu, H. Pu, F. Wang, Z. Hu,
    L. Wang (2017), NeurIPS. B. Hanin, M. Sellke (2017), arXiv:1710.11278.
    S. Park, C. Yun, J. Lee, J. Shin (2021), ICLR. P. Kidger, T. Lyons (2020), COLT.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.linspace(-np.pi, np.pi, 200)[:, None]
    >>> net = MLPRegressor(width=20, activation="tanh", random_state=0).fit(x, np.sin(x[:, 0]))
    >>> bool(np.max(np.abs(net.predict(x) - np.sin(x[:, 0]))) < 0.05)
    True
    """

    _saved_extra = ("_y_ndim",)

    def fit(self, X: Any, y: Any) -> MLPRegressor:
        """Train the network on ``X`` (n, d) and targets ``y`` (n,) or (n, k)."""
        import torch

        self.validate_params()
        array = self._validate_x(X, reset=True)
        target = check_regression_target(y, len(array))
        self._y_ndim = target.ndim
        y2 = target.reshape(len(target), -1)
        self.n_outputs_ = y2.shape[1]
        if self.standardize:
            self.y_mean_ = y2.mean(axis=0)
            scale = y2.std(axis=0)
            self.y_scale_ = np.where(scale > 0, scale, 1.0)
        else:
            self.y_mean_ = np.zeros(y2.shape[1])
            self.y_scale_ = np.ones(y2.shape[1])
        scaled = torch.as_tensor(
            (y2 - self.y_mean_) / self.y_scale_, dtype=resolve_dtype(self.dtype)
        )
        self._fit(array, scaled, None)
        return self

    _solvers = ("lbfgs", "adam", "lm")

    def _n_network_outputs(self) -> int:
        return self.n_outputs_

    def _train_levenberg_marquardt(self, data: Any, check: Any, bar: Any, task: Any) -> None:
        """Levenberg-Marquardt with Marquardt's diagonal scaling (Moré 1978): solve
        ``(J'J + mu diag(J'J)) step = -J'r``; accept the step if the loss falls and
        relax ``mu`` by the gain ratio, else stiffen ``mu`` (by 2, 4, 8, ...) and
        retry — Nielsen's (1999) damping update, as in Madsen, Nielsen & Tingleff,
        "Methods for non-linear least squares problems" (2004)."""
        import torch

        n_parameters = self.n_parameters_
        if n_parameters > MAX_LM_PARAMETERS:
            raise InputError(
                f"solver='lm' builds a {n_parameters} x {n_parameters} normal matrix; it is "
                f"for networks of at most {MAX_LM_PARAMETERS} parameters "
                "(lamina.limits.MAX_LM_PARAMETERS; use 'lbfgs')"
            )
        inputs, target = data
        parameters = list(self.model_.parameters())
        weights = torch.cat(
            [
                torch.full((p.numel(),), float(p.dim() > 1), dtype=p.dtype, device=p.device)
                for p in parameters
            ]
        )
        # 0.5 * mean squared error + alpha / (2 n) ||W||^2, times n * k.
        ridge = self._alpha() * target.shape[1]
        scale = target.numel()
        monitor = _Monitor(self)
        damping, growth = 1e-3, 2.0
        iteration = 0
        with torch.no_grad():
            vector = torch.nn.utils.parameters_to_vector(parameters)
            for iteration in range(1, int(self.max_iter) + 1):
                normal, gradient, value = _gauss_newton(self.model_, inputs, target)
                value = 0.5 * value + 0.5 * ridge * float((weights * vector * vector).sum())
                normal += torch.diag(ridge * weights)
                gradient += ridge * weights * vector
                diagonal = torch.diagonal(normal).clamp_min(1e-12)
                accepted = False
                while damping < 1e16:
                    system = normal + torch.diag(damping * diagonal)
                    factor, info = torch.linalg.cholesky_ex(system)
                    if int(info) == 0:
                        step = torch.cholesky_solve(-gradient[:, None], factor)[:, 0]
                        torch.nn.utils.vector_to_parameters(vector + step, parameters)
                        residual = self.model_(inputs) - target
                        trial = 0.5 * float((residual * residual).sum())
                        trial += 0.5 * ridge * float((weights * (vector + step) ** 2).sum())
                        # Gain ratio: actual reduction over the quadratic model's.
                        predicted = -float(gradient @ step + 0.5 * step @ (normal @ step))
                        if trial < value:
                            ratio = (value - trial) / max(predicted, 1e-300)
                            vector = vector + step
                            value = trial
                            damping = max(damping * max(1 / 3, 1 - (2 * ratio - 1) ** 3), 1e-15)
                            growth = 2.0
                            accepted = True
                            break
                    damping *= growth
                    growth *= 2.0
                torch.nn.utils.vector_to_parameters(vector, parameters)
                bar.update(task, completed=iteration)
                if monitor.update(value / scale, self._evaluate(check), bar, task) or not accepted:
                    break
        self.n_iter_ = max(1, iteration)
        monitor.finish()

    def _loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        from torch.nn import functional

        return 0.5 * functional.mse_loss(output, target)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets, (n,) or (n, k) as ``y`` was at fit."""
        out = self._network_output(X) * self.y_scale_ + self.y_mean_
        return out[:, 0] if self._y_ndim == 1 else out

    def _check_state(self) -> None:
        super()._check_state()
        check_standardisation(self, "y_mean_", "y_scale_", check_outputs(self))


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """A fully connected network with a softmax output, fitted by cross-entropy.

    Parameters are those of :class:`MLPRegressor` (which documents them); the
    loss is the mean cross-entropy, ``standardize`` scales the inputs only, and
    ``alpha=None`` means 2 (weight decay that calibrates the probabilities).

    Attributes
    ----------
    classes_ : ndarray
        The class labels, sorted.
    model_ : torch.nn.Sequential
        Maps standardised inputs to one logit per class.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(-2, 1, (50, 2)), rng.normal(2, 1, (50, 2))])
    >>> y = np.repeat(["left", "right"], 50)
    >>> clf = MLPClassifier(width=8, random_state=0).fit(X, y)
    >>> clf.predict([[-2.0, -2.0], [2.0, 2.0]]).tolist()
    ['left', 'right']
    """

    # Weight decay keeps the logits of separable classes finite (see ``alpha``).
    _default_alpha = 2.0

    def fit(self, X: Any, y: Any) -> MLPClassifier:
        """Train on ``X`` (n, d) and class labels ``y`` (n,)."""
        import torch

        self.validate_params()
        array = self._validate_x(X, reset=True)
        self.classes_, encoded = check_classification_targets(y, len(array))
        self._fit(array, torch.as_tensor(encoded, dtype=torch.long), encoded)
        return self

    def _n_network_outputs(self) -> int:
        return len(self.classes_)

    def _loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        from torch.nn import functional

        return functional.cross_entropy(output, target)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Log class probabilities (n, n_classes), columns in ``classes_`` order."""
        logits = self._network_output(X)
        shifted = logits - logits.max(axis=1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (n, n_classes); rows sum to 1."""
        return np.exp(self.predict_log_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row."""
        logits = self._network_output(X)
        return self.classes_[np.argmax(logits, axis=1)]


def _gauss_newton(
    model: nn.Sequential,
    inputs: torch.Tensor,
    target: torch.Tensor,
    *,
    max_elements: int = 4_000_000,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """``J'J``, ``J'r`` and ``||r||^2`` of the residuals ``r = model(inputs) - target``.

    The Jacobian of an MLP is assembled by hand, rows in chunks: per sample, the
    derivative with respect to layer l's weights is ``outer(delta_l, a_{l-1})``,
    with ``delta`` back-propagated from each output unit in turn — far cheaper
    than generic per-sample autograd.
    """
    import torch
    from torch import nn

    with torch.no_grad():
        linears = [m for m in model if isinstance(m, nn.Linear)]
        activations = [m for m in model if not isinstance(m, nn.Linear)]
        n_parameters = sum(p.numel() for p in model.parameters())
        outputs = target.shape[1]
        normal = inputs.new_zeros((n_parameters, n_parameters))
        gradient = inputs.new_zeros(n_parameters)
        total = 0.0
        rows = max(1, max_elements // (n_parameters * outputs))
        for start in range(0, len(inputs), rows):
            hidden = inputs[start : start + rows]
            layer_inputs, slopes = [hidden], []
            for linear, activation in zip(linears[:-1], activations, strict=True):
                with torch.enable_grad():
                    pre = linear(hidden).detach().requires_grad_(True)
                    post = activation(pre)
                    (slope,) = torch.autograd.grad(post.sum(), pre)
                hidden = post.detach()
                layer_inputs.append(hidden)
                slopes.append(slope)
            residual = linears[-1](hidden) - target[start : start + rows]
            total += float((residual * residual).sum())
            m = len(residual)
            jacobian = residual.new_empty((m, outputs, n_parameters))
            for j in range(outputs):
                delta = residual.new_zeros((m, outputs))
                delta[:, j] = 1.0
                blocks: list[torch.Tensor] = []
                for layer in range(len(linears) - 1, -1, -1):
                    weight_block = (delta[:, :, None] * layer_inputs[layer][:, None, :]).reshape(
                        m, -1
                    )
                    blocks[:0] = [weight_block, delta]
                    if layer > 0:
                        delta = (delta @ linears[layer].weight) * slopes[layer - 1]
                jacobian[:, j, :] = torch.cat(blocks, dim=1)
            flat = jacobian.reshape(m * outputs, n_parameters)
            normal += flat.T @ flat
            gradient += flat.T @ residual.reshape(-1)
        return normal, gradient, total


def _choice(name: str, value: Any, allowed: tuple[str, ...], owner: str) -> None:
    if value not in allowed:
        raise InputError(
            f"parameter {name!r} of {owner} must be one of {', '.join(map(repr, allowed))}, "
            f"got {value!r}"
        )
