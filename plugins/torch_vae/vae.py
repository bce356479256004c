"""The variational autoencoder learner (Kingma & Welling 2014) with scikit-learn's API.

torch (with the networks and losses built on it) is imported by the methods that
train or run the network, never by importing this module: constructing the learner,
checking and describing its parameters (``lamina describe vae``, validating a
pipeline) stay free of torch's import time.
"""

from __future__ import annotations

import copy
import math
import os
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from lamina import store
from lamina.errors import InputError
from lamina.learn.base import BaseLearner
from lamina.learn.torch import (
    EarlyStopping,
    TorchStateMixin,
    build_for_state,
    cpu_threads,
    generator,
    hold_out,
    load_checkpoint,
    load_state,
    resolve_device,
    save_checkpoint,
    seed_from,
    seeded,
)
from lamina.learn.validation import check_array, check_number
from lamina.plugins.torch_vae.noise import row_keyed_normals
from lamina.progress import progress_bar

if TYPE_CHECKING:
    import torch

    from lamina.plugins.torch_vae.networks import VAENetwork

__all__ = ["CHECKPOINT_FORMAT", "VariationalAutoencoder"]

CHECKPOINT_FORMAT = "lamina-vae-checkpoint"
CHECKPOINT_VERSION = 1

#: Parameters that fix the network's shape: a checkpoint resumes only if they agree.
ARCHITECTURE = (
    "latent_dim",
    "hidden",
    "architecture",
    "channels",
    "image_shape",
    "activation",
    "decoder",
    "decoder_std",
)

_ACTIVATIONS = ("relu", "leaky_relu", "tanh", "elu", "gelu", "silu", "softplus")
#: The ``optimizer`` parameter's values and their ``torch.optim`` classes.
_OPTIMIZERS = {"adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop", "sgd": "SGD"}
#: Elements (samples x draws x features) per chunk when scoring.
_CHUNK_ELEMENTS = 4_000_000


class VariationalAutoencoder(TorchStateMixin, BaseLearner):
    """Variational autoencoder: a Gaussian encoder q(z|x), a standard normal prior and a
    Bernoulli or Gaussian decoder p(x|z), trained by maximising the ELBO.

    The loss per sample is ``-E_q[log p(x|z)] + beta * KL(q(z|x) || p(z))`` with
    the KL in closed form and the expectation estimated with one
    reparameterised draw ``z = mean + exp(log_var / 2) * eps``; ``mmd_weight``
    adds ``lambda * MMD(q(z), p(z))`` between the batch's codes and prior draws,
    the statistical-distance regulariser of InfoVAE / MMD-VAE.

    Parameters
    ----------
    latent_dim : int, default=10
        Dimension of z.
    hidden : tuple of int, default=(400,)
        Widths of the encoder's fully connected hidden layers; the decoder mirrors them.
    architecture : {"mlp", "conv"}, default="mlp"
        ``conv`` puts stride-2 3x3 convolutions (``channels``) before the fully
        connected layers and transposed convolutions after them.
    channels : tuple of int, default=(32, 64)
        Convolution channels (``conv`` only).
    image_shape : tuple of int or None, default=None
        ``(H, W)`` or ``(C, H, W)`` of the rows for ``conv``; ``None`` means a
        square single-channel image.
    activation : str, default="relu"
        relu, leaky_relu, tanh, elu, gelu, silu or softplus.
    decoder : {"auto", "bernoulli", "gaussian"}, default="auto"
        Bernoulli needs data in {0, 1}; Gaussian takes any real data. ``auto``
        picks Bernoulli when every training value is 0 or 1 and Gaussian
        otherwise (``decoder_`` says which), so ``fit`` takes any real data as
        a scikit-learn user expects; the likelihood follows the data.
    decoder_std : float or None, default=None
        Gaussian decoder's standard deviation: fixed at this value, or learned
        (one per feature) when ``None``.
    beta : float, default=1.0
        Weight of the KL term (beta-VAE: Higgins et al. 2017).
    mmd_weight : float, default=0.0
        Weight lambda of the MMD between aggregate posterior and prior.
        ``beta=0, mmd_weight>0`` is the MMD-VAE; ``beta = 1 - a`` and
        ``mmd_weight = a + lambda - 1`` is InfoVAE (Zhao et al. 2019).
    mmd_kernel : {"imq", "rbf"}, default="imq"
    warmup_epochs : int, default=0
        Raise the KL weight linearly from 0 to ``beta`` over this many epochs
        (deterministic annealing, Bowman et al. 2016; Sønderby et al. 2016),
        which keeps more latent coordinates in use.
    optimizer : {"adam", "adamw", "rmsprop", "sgd"}, default="adam"
    learning_rate : float, default=1e-3
    weight_decay : float, default=0.0
    batch_size : int, default=128
    max_epochs : int, default=100
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data, stop once its loss has not
        improved by ``tol`` (relative) for ``n_iter_no_change`` epochs, and keep
        the best weights.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=10
    tol : float, default=1e-4
    checkpoint : str or None, default=None
        Path of a training checkpoint written every ``checkpoint_every`` epochs
        and at the end (weights, optimiser and random-generator states, in a
        :mod:`lamina.store` file). ``fit(X, resume_from=path)`` continues it.
    checkpoint_every : int, default=10
    device : {"auto", "cpu", "cuda"}, default="auto"
    random_state : int or None, default=None
        Seeds initial weights, validation split, batch order and noise.
    verbose : bool, default=False
        Show a progress bar with the losses on stderr.

    Attributes
    ----------
    model_ : VAENetwork
    n_epochs_ : int
        Epochs trained (over all resumed runs).
    history_ : dict of list of float
        Per epoch: ``loss``, ``reconstruction`` (negative log-likelihood),
        ``kl``, ``mmd`` and, with early stopping, ``validation_loss``.
    best_epoch_ : int
        Epoch whose weights were kept (the last one without early stopping).
    image_shape_ : (C, H, W) or None

    Notes
    -----
    :meth:`score_samples` is the ELBO (beta = 1, no MMD) whatever the training
    objective, a lower bound on ``log p(x)`` in nats; :meth:`log_likelihood`
    is the importance-weighted bound of Burda et al. (2016), which tightens
    towards ``log p(x)`` as ``k`` grows.

    References
    ----------
    D. P. Kingma, M. Welling (2014), "Auto-encoding variational Bayes", ICLR.
    Y. Burda, R. Grosse, R. Salakhutdinov (2016), "Importance weighted
    autoencoders", ICLR. S. Zhao, J. Song, S. Ermon (2019), "InfoVAE:
    balancing learning and inference in variational autoencoders", AAAI.
    I. Higgins et al. (2017), "beta-VAE", ICLR. A. Gretton et al. (2012),
    "A kernel two-sample test", JMLR 13. I. Tolstikhin et al. (2018),
    "Wasserstein auto-encoders", ICLR. S. R. Bowman et al. (2016), CoNLL, and
    C. K. Sønderby et al. (2016), NeurIPS, for KL warm-up.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = (rng.random((200, 16)) < np.linspace(0.1, 0.9, 16)).astype(float)
    >>> vae = VariationalAutoencoder(latent_dim=2, hidden=(32,), max_epochs=5, random_state=0)
    >>> vae.fit(X).transform(X[:3]).shape
    (3, 2)
    >>> bool(np.all(vae.score_samples(X[:3]) < 0))
    True
    """

    _saved_extra = ("_eval_seed",)
    image_shape_: tuple[int, int, int] | None  # fitted: (channels, height, width) for "conv"

    def __init__(
        self,
        *,
        latent_dim: int = 10,
        hidden: tuple[int, ...] = (400,),
        architecture: Literal["mlp", "conv"] = "mlp",
        channels: tuple[int, ...] = (32, 64),
        image_shape: tuple[int, ...] | None = None,
        activation: Literal[
            "relu", "leaky_relu", "tanh", "elu", "gelu", "silu", "softplus"
        ] = "relu",
        decoder: Literal["auto", "bernoulli", "gaussian"] = "auto",
        decoder_std: float | None = None,
        beta: float = 1.0,
        mmd_weight: float = 0.0,
        mmd_kernel: Literal["imq", "rbf"] = "imq",
        warmup_epochs: int = 0,
        optimizer: Literal["adam", "adamw", "rmsprop", "sgd"] = "adam",
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        batch_size: int = 128,
        max_epochs: int = 100,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
        tol: float = 1e-4,
        checkpoint: str | None = None,
        checkpoint_every: int = 10,
        device: Literal["auto", "cpu", "cuda"] = "auto",
        random_state: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.architecture = architecture
        self.channels = channels
        self.image_shape = image_shape
        self.activation = activation
        self.decoder = decoder
        self.decoder_std = decoder_std
        self.beta = beta
        self.mmd_weight = mmd_weight
        self.mmd_kernel = mmd_kernel
        self.warmup_epochs = warmup_epochs
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # -- parameters ---------------------------------------------------------------------
    def _check_params(self) -> None:
        owner = type(self).__name__
        check_number("latent_dim", self.latent_dim, integer=True, low=1, owner=owner)
        for name in ("hidden", "channels"):
            value = getattr(self, name)
            if not isinstance(value, tuple | list) or not all(
                isinstance(v, int | np.integer) and not isinstance(v, bool) and v >= 1
                for v in value
            ):
                raise InputError(
                    f"parameter {name!r} of {owner} must be a tuple of positive integers, got {value!r}"
                )
        if self.architecture == "conv" and not self.channels:
            raise InputError(
                f"parameter 'channels' of {owner} must not be empty for architecture='conv'"
            )
        if self.architecture == "mlp" and not self.hidden:
            raise InputError(
                f"parameter 'hidden' of {owner} must not be empty for architecture='mlp'"
            )
        for name, allowed in (
            ("architecture", ("mlp", "conv")),
            ("activation", _ACTIVATIONS),
            ("decoder", ("auto", "bernoulli", "gaussian")),
            ("mmd_kernel", ("imq", "rbf")),
            ("optimizer", tuple(_OPTIMIZERS)),
            ("device", ("auto", "cpu", "cuda")),
        ):
            if getattr(self, name) not in allowed:
                raise InputError(
                    f"parameter {name!r} of {owner} must be one of "
                    f"{', '.join(map(repr, allowed))}, got {getattr(self, name)!r}"
                )
        if self.decoder_std is not None:
            check_number("decoder_std", self.decoder_std, low=0, low_inclusive=False, owner=owner)
        check_number("beta", self.beta, low=0, owner=owner)
        check_number("mmd_weight", self.mmd_weight, low=0, owner=owner)
        check_number("warmup_epochs", self.warmup_epochs, integer=True, low=0, owner=owner)
        check_number("learning_rate", self.learning_rate, low=0, low_inclusive=False, owner=owner)
        check_number("weight_decay", self.weight_decay, low=0, owner=owner)
        check_number("batch_size", self.batch_size, integer=True, low=1, owner=owner)
        check_number("max_epochs", self.max_epochs, integer=True, low=1, owner=owner)
        check_number(
            "validation_fraction",
            self.validation_fraction,
            low=0,
            high=1,
            low_inclusive=False,
            high_inclusive=False,
            owner=owner,
        )
        check_number("n_iter_no_change", self.n_iter_no_change, integer=True, low=1, owner=owner)
        check_number("tol", self.tol, low=0, owner=owner)
        check_number("checkpoint_every", self.checkpoint_every, integer=True, low=1, owner=owner)
        if self.checkpoint is not None and not isinstance(self.checkpoint, str | os.PathLike):
            raise InputError(f"parameter 'checkpoint' of {owner} must be a path or None")
        for name in ("early_stopping", "verbose"):
            if not isinstance(getattr(self, name), bool | np.bool_):
                raise InputError(f"parameter {name!r} of {owner} must be True or False")

    # -- data -------------------------------------------------------------------------------
    def _check_data(self, X: Any, *, reset: bool, name: str = "X") -> np.ndarray:
        array = self._validate_x(X, reset=reset) if name == "X" else check_array(X, name=name)
        if reset:
            self.decoder_ = (
                ("bernoulli" if np.isin(array, (0.0, 1.0)).all() else "gaussian")
                if self.decoder == "auto"
                else str(self.decoder)
            )
        if self.decoder_ == "bernoulli":
            binary = (array == 0) | (array == 1)
            if not binary.all():
                row, column = np.argwhere(~binary)[0]
                raise InputError(
                    f"{name} has value {array[row, column]!r} at ({row}, {column}); the Bernoulli "
                    "decoder needs binary data in {0, 1} (binarise it, e.g. X > 0.5, or use "
                    "decoder='gaussian')"
                )
        return array

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        import torch

        return torch.as_tensor(np.ascontiguousarray(array, dtype=np.float32), device=self._device())

    def _device(self) -> torch.device:
        return next(self.model_.parameters()).device

    # -- network --------------------------------------------------------------------------
    def _build_network(self) -> VAENetwork:
        from lamina.plugins.torch_vae.networks import VAENetwork

        return VAENetwork(
            self.n_features_in_,
            int(self.latent_dim),
            tuple(int(h) for h in self.hidden),
            self.activation,
            image_shape=self.image_shape_,
            channels=tuple(int(c) for c in self.channels),
            learn_scale=self.decoder_ == "gaussian" and self.decoder_std is None,
        )

    def _log_scale(self, network: VAENetwork) -> torch.Tensor:
        import torch

        if network.log_scale is not None:
            # A floor of 1e-3 keeps the likelihood bounded when a pixel is constant.
            return network.log_scale.clamp_min(math.log(1e-3))
        parameter = next(network.parameters())
        return torch.tensor(
            math.log(float(self.decoder_std or 1.0)), device=parameter.device, dtype=parameter.dtype
        )

    def _log_likelihood(
        self, x: torch.Tensor, output: torch.Tensor, network: VAENetwork
    ) -> torch.Tensor:
        from lamina.plugins.torch_vae.losses import bernoulli_log_prob, gaussian_log_prob

        if self.decoder_ == "bernoulli":
            return bernoulli_log_prob(x, output)
        return gaussian_log_prob(x, output, self._log_scale(network))

    def _objective(
        self, x: torch.Tensor, noise: torch.Generator, kl_weight: float | None = None
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The batch loss (mean over rows) and its parts, from one reparameterised draw.

        Written with batch means throughout (one fused binary cross-entropy for the
        Bernoulli decoder): the training loop's cost is the networks', not the loss's.
        """
        import torch
        from torch.nn import functional

        from lamina.plugins.torch_vae.losses import gaussian_kl, gaussian_log_prob, mmd

        mean, log_var = self.model_.encode(x)
        eps = torch.randn(mean.shape, generator=noise, device=mean.device, dtype=mean.dtype)
        z = mean + torch.exp(0.5 * log_var) * eps
        output = self.model_.decode(z)
        if self.decoder_ == "bernoulli":
            reconstruction = functional.binary_cross_entropy_with_logits(output, x, reduction="sum")
            reconstruction = reconstruction / len(x)
        else:
            reconstruction = -gaussian_log_prob(x, output, self._log_scale(self.model_)).mean()
        kl = gaussian_kl(mean, log_var).mean()
        weight = self.beta if kl_weight is None else kl_weight
        loss = reconstruction + weight * kl
        parts = {
            "reconstruction": float(reconstruction.detach()),
            "kl": float(kl.detach()),
            "mmd": 0.0,
        }
        if self.mmd_weight > 0 and len(x) > 1:
            prior = torch.randn(z.shape, generator=noise, device=z.device, dtype=z.dtype)
            discrepancy = mmd(z, prior, self.mmd_kernel)
            loss = loss + self.mmd_weight * discrepancy
            parts["mmd"] = float(discrepancy.detach())
        return loss, parts

    # -- training ----------------------------------------------------------------------------
    def fit(
        self, X: Any, y: Any = None, *, resume_from: str | os.PathLike[str] | None = None
    ) -> VariationalAutoencoder:
        """Train on the rows of ``X``; ``y`` is ignored.

        Parameters
        ----------
        resume_from : path, optional
            A checkpoint written by this learner (``checkpoint=`` or
            :meth:`save_checkpoint`): training continues from its epoch, weights,
            optimiser state and random generators up to ``max_epochs`` — with
            the same data the result equals an uninterrupted run.
        """
        self.validate_params()
        array = self._check_data(X, reset=True)
        if self.architecture == "conv":
            from lamina.plugins.torch_vae.networks import parse_image_shape

            try:
                self.image_shape_ = parse_image_shape(self.image_shape, array.shape[1])
            except ValueError as error:
                raise InputError(
                    f"parameter 'image_shape' of {type(self).__name__}: {error}"
                ) from None
        else:
            self.image_shape_ = None
        device = resolve_device(self.device)
        seeds = np.random.SeedSequence(seed_from(self.random_state)).generate_state(5)
        split_seed, init_seed, shuffle_seed, noise_seed, self._eval_seed = (int(s) for s in seeds)
        train, valid = self._split(len(array), split_seed)
        with seeded(init_seed, device):
            self.model_ = self._build_network().to(device)
        self.device_ = str(device)
        optimizer = self._make_optimizer()
        shuffle = generator(shuffle_seed, device)
        noise = generator(noise_seed, device)
        self.history_: dict[str, list[float]] = {
            "loss": [],
            "reconstruction": [],
            "kl": [],
            "mmd": [],
        }
        if valid is not None:
            self.history_["validation_loss"] = []
        self.n_epochs_ = 0
        self.best_epoch_ = 0
        monitor = EarlyStopping(tol=self.tol, patience=self.n_iter_no_change)
        if resume_from is not None:
            monitor = self._resume(resume_from, optimizer, shuffle, noise)
        data = self._tensor(array)
        batch = min(int(self.batch_size), len(train))
        work = batch * self.model_.largest_layer_work
        with (
            cpu_threads(work, device),
            progress_bar(enabled=None if self.verbose else False) as bar,
        ):
            task = bar.add_task(
                "VAE", total=int(self.max_epochs), completed=self.n_epochs_, status=""
            )
            while self.n_epochs_ < int(self.max_epochs) and not monitor.exhausted:
                self._train_epoch(data[train], batch, optimizer, shuffle, noise)
                status = f"loss {self.history_['loss'][-1]:.3f}"
                if valid is not None:
                    status += f"  val {self._track_validation(data[valid], monitor):.3f}"
                else:
                    self.best_epoch_ = self.n_epochs_
                bar.update(task, completed=self.n_epochs_, status=status)
                if self.checkpoint is not None and self.n_epochs_ % int(self.checkpoint_every) == 0:
                    self._write_checkpoint(self.checkpoint, optimizer, (shuffle, noise), monitor)
        if self.checkpoint is not None:
            self._write_checkpoint(self.checkpoint, optimizer, (shuffle, noise), monitor)
        monitor.restore(self.model_)
        self.model_.eval()
        return self

    def _split(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
        if not self.early_stopping:
            return np.arange(n), None
        return hold_out(n, fraction=self.validation_fraction, seed=seed)

    def _make_optimizer(self) -> torch.optim.Optimizer:
        options: dict[str, Any] = {
            "lr": float(self.learning_rate),
            "weight_decay": float(self.weight_decay),
        }
        import torch

        optimizer = getattr(torch.optim, _OPTIMIZERS[self.optimizer])
        return optimizer(self.model_.parameters(), **options)

    def _train_epoch(
        self,
        data: torch.Tensor,
        batch: int,
        optimizer: torch.optim.Optimizer,
        shuffle: torch.Generator,
        noise: torch.Generator,
    ) -> None:
        import torch

        self.model_.train()
        n = len(data)
        order = torch.randperm(n, generator=shuffle, device=shuffle.device)
        sums = {"loss": 0.0, "reconstruction": 0.0, "kl": 0.0, "mmd": 0.0}
        for start in range(0, n, batch):
            rows = data[order[start : start + batch]]
            optimizer.zero_grad(set_to_none=True)
            kl_weight = None
            if self.warmup_epochs > 0:
                progress = (self.n_epochs_ + start / n) / int(self.warmup_epochs)
                kl_weight = float(self.beta) * min(1.0, progress)
            loss, parts = self._objective(rows, noise, kl_weight)
            loss.backward()
            optimizer.step()
            weight = len(rows) / n
            sums["loss"] += float(loss.detach()) * weight
            for key, value in parts.items():
                sums[key] += value * weight
        if not math.isfinite(sums["loss"]):
            raise InputError(
                f"VAE training diverged at epoch {self.n_epochs_ + 1} (loss {sums['loss']}); "
                "lower learning_rate or check the data scale"
            )
        for key, value in sums.items():
            self.history_[key].append(value)
        self.n_epochs_ += 1

    def _track_validation(self, data: torch.Tensor, monitor: EarlyStopping) -> float:
        import torch

        self.model_.eval()
        with torch.no_grad():
            # The same noise every epoch, so epochs are compared on equal terms.
            loss, _ = self._objective(data, generator(self._eval_seed, data.device))
        value = float(loss)
        self.history_["validation_loss"].append(value)
        if monitor.update(value, self.model_):
            self.best_epoch_ = self.n_epochs_
        return value

    # -- checkpoints ----------------------------------------------------------------------
    def save_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Write the fitted model as a weights-only checkpoint at ``path``.

        The file holds tensors, numbers, strings and lists only (a
        :mod:`lamina.store` file, no pickle), so :meth:`load_checkpoint` and
        ``fit(resume_from=...)`` read it without running anything. Checkpoints written during
        training (``checkpoint=``) also hold the optimiser and random-generator
        states, so that resuming reproduces an uninterrupted run; resuming from
        this one restarts those.
        """
        self._check_fitted()
        self._write_checkpoint(path, None, None, None)

    def _write_checkpoint(
        self,
        path: str | os.PathLike[str],
        optimizer: torch.optim.Optimizer | None,
        rngs: tuple[torch.Generator, ...] | None,
        monitor: EarlyStopping | None,
    ) -> None:
        params = self.get_params(deep=False)
        if not isinstance(params["random_state"], int | type(None)):
            params["random_state"] = None
        params["checkpoint"] = None if params["checkpoint"] is None else str(params["checkpoint"])
        payload = {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "params": params,
            "fitted": {
                "n_features_in": int(self.n_features_in_),
                "decoder": self.decoder_,
                "image_shape": None if self.image_shape_ is None else list(self.image_shape_),
                "n_epochs": int(self.n_epochs_),
                "best_epoch": int(self.best_epoch_),
                "history": {k: [float(v) for v in vs] for k, vs in self.history_.items()},
                "eval_seed": int(self._eval_seed),
            },
            "model": {k: v.detach().cpu() for k, v in self.model_.state_dict().items()},
            "optimizer": optimizer.state_dict() if optimizer is not None else None,
            "rng": [r.get_state() for r in rngs] if rngs is not None else None,
            "monitor": {
                "best": math.inf if monitor is None else float(monitor.best),
                "stale": 0 if monitor is None else int(monitor.stale),
                "best_state": (
                    {k: v.detach().cpu() for k, v in monitor.best_state.items()}
                    if monitor is not None and monitor.best_state is not None
                    else None
                ),
            },
        }
        save_checkpoint(path, payload)

    @classmethod
    def load_checkpoint(
        cls, path: str | os.PathLike[str], *, device: Literal["auto", "cpu", "cuda"] | None = None
    ) -> VariationalAutoencoder:
        """A fitted learner from a checkpoint (a :mod:`lamina.store` file: nothing in it
        can run; a ``torch.save`` pickle is refused unread). ``device`` overrides the saved
        device setting, e.g. to load a CUDA-trained model on a CPU-only machine."""
        payload = load_checkpoint(path, format=CHECKPOINT_FORMAT)
        with store.errors_naming(store.describe_file("checkpoint", path)):
            params = dict(payload["params"])
            if device is not None:
                params["device"] = device
            for name in ("hidden", "channels", "image_shape"):
                if isinstance(params.get(name), list):
                    params[name] = tuple(params[name])
            learner = cls(**params)
            learner.validate_params()
            learner._restore_fitted(payload["fitted"])
            # With early stopping the fitted model is the best epoch's, kept beside the
            # last epoch's weights (which resuming continues from).
            best = (payload.get("monitor") or {}).get("best_state")
            state = best if best is not None else payload.get("model")
        target = resolve_device(learner.device)
        learner.model_ = build_for_state(learner._build_network, state, source=str(path))
        learner.model_.to(target).eval()
        learner.device_ = str(target)
        return learner

    def _restore_fitted(self, fitted: dict[str, Any]) -> None:
        self.n_features_in_ = _count(fitted["n_features_in"], "n_features_in", low=1)
        # Checkpoints from before decoder="auto" name the decoder in the parameters only.
        self.decoder_ = fitted.get("decoder", self.decoder)
        if self.decoder_ not in ("bernoulli", "gaussian"):
            raise InputError(f"decoder must be 'bernoulli' or 'gaussian', got {self.decoder_!r}")
        shape = fitted["image_shape"]
        if shape is None:
            self.image_shape_ = None
        else:  # three sizes, or the ValueError of a malformed checkpoint
            channels, height, width = (_count(s, "image_shape", low=1) for s in shape)
            self.image_shape_ = (channels, height, width)
        self.n_epochs_ = _count(fitted["n_epochs"], "n_epochs")
        self.best_epoch_ = _count(fitted["best_epoch"], "best_epoch")
        self.history_ = {str(k): [float(v) for v in vs] for k, vs in fitted["history"].items()}
        self._eval_seed = _count(fitted["eval_seed"], "eval_seed")

    def _resume(
        self,
        path: str | os.PathLike[str],
        optimizer: torch.optim.Optimizer,
        shuffle: torch.Generator,
        noise: torch.Generator,
    ) -> EarlyStopping:
        payload = load_checkpoint(path, format=CHECKPOINT_FORMAT)
        # What a damaged or edited checkpoint makes this raise is one InputError
        # naming the file, so the messages here leave the name out.
        where = store.describe_file("checkpoint", path)
        with store.errors_naming(where):
            saved = payload.get("params", {})
            for name in ARCHITECTURE:
                mine, theirs = getattr(self, name), saved.get(name)
                if isinstance(theirs, list):
                    theirs = tuple(theirs)
                if isinstance(mine, list):
                    mine = tuple(mine)
                if mine != theirs:
                    raise InputError(
                        f"cannot resume from it: it was trained with {name}={theirs!r}, "
                        f"this learner has {name}={mine!r}"
                    )
            fitted = payload.get("fitted") or {}
            if fitted.get("n_features_in") != self.n_features_in_:
                raise InputError(
                    "cannot resume from it: it was trained on "
                    f"{fitted.get('n_features_in')} features, X has {self.n_features_in_}"
                )
        load_state(self.model_, payload.get("model"), source=str(path))
        with store.errors_naming(where):
            self._restore_fitted(fitted)
            if payload.get("optimizer") is not None:
                try:
                    optimizer.load_state_dict(payload["optimizer"])
                except (ValueError, KeyError, RuntimeError) as error:
                    raise InputError(f"optimiser state does not fit: {error}") from None
                for group in optimizer.param_groups:  # this learner's settings win
                    group["lr"] = float(self.learning_rate)
                    group["weight_decay"] = float(self.weight_decay)
            if payload.get("rng") is not None:
                for rng, state in zip((shuffle, noise), payload["rng"], strict=True):
                    rng.set_state(state)
            saved_monitor = payload.get("monitor") or {}
            best_state = saved_monitor.get("best_state")
            if best_state is not None:
                best_state = {k: v.to(self._device()) for k, v in best_state.items()}
            if self.early_stopping != ("validation_loss" in self.history_):
                raise InputError(
                    "cannot resume from it: early_stopping differs from the run that wrote it"
                )
            return EarlyStopping(
                tol=self.tol,
                patience=self.n_iter_no_change,
                best=float(saved_monitor.get("best", math.inf)),
                stale=int(saved_monitor.get("stale", 0)),
                best_state=best_state,
            )

    # -- inference -------------------------------------------------------------------------
    def _inference_network(self) -> VAENetwork:
        """The network used by the inference methods: on the CPU a float64 copy, so that
        a row's result does not depend on the rows batched with it (float32 matrix
        products round differently for different batch sizes)."""
        self._check_fitted()
        if self._device().type != "cpu":
            return self.model_
        return copy.deepcopy(self.model_).double().eval()

    def _as_tensor(self, array: np.ndarray, network: VAENetwork) -> torch.Tensor:
        import torch

        parameter = next(network.parameters())
        return torch.as_tensor(
            np.ascontiguousarray(array), dtype=parameter.dtype, device=parameter.device
        )

    def _row_noise(
        self, rows: np.ndarray, draws: int, random_state: Any, like: torch.Tensor
    ) -> torch.Tensor:
        """Standard normal draws (draws, n, latent_dim) that are a fixed function of each
        row's values and the seed: a row's estimate is then the same whatever else is
        scored with it, while different rows still get independent noise."""
        import torch

        seed = self._eval_seed if random_state is None else seed_from(random_state)
        noise = row_keyed_normals(rows, draws, int(self.latent_dim), seed)
        return torch.from_numpy(noise).to(like.device, like.dtype)

    def encode(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Mean and log-variance of q(z|x), each (n_samples, latent_dim)."""
        import torch

        network = self._inference_network()
        data = self._as_tensor(self._validate_x(X, reset=False), network)
        with torch.no_grad():
            mean, log_var = network.encode(data)
        return mean.cpu().numpy().astype(np.float64), log_var.cpu().numpy().astype(np.float64)

    def transform(self, X: Any) -> np.ndarray:
        """Latent means E[z|x] (n_samples, latent_dim)."""
        return self.encode(X)[0]

    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
        """``fit(X).transform(X)``."""
        return self.fit(X).transform(X)

    def inverse_transform(self, Z: Any) -> np.ndarray:
        """Decoder means for codes ``Z`` (n, latent_dim): pixel probabilities for
        Bernoulli, means for Gaussian; float32."""
        import torch

        network = self._inference_network()
        codes = check_array(Z, name="Z", owner=type(self).__name__)
        if codes.shape[1] != self.latent_dim:
            raise InputError(
                f"Z has {codes.shape[1]} columns, but the latent space has {self.latent_dim} dimensions"
            )
        with torch.no_grad():
            output = network.decode(self._as_tensor(codes, network))
            if self.decoder_ == "bernoulli":
                output = torch.sigmoid(output)
        return output.cpu().numpy().astype(np.float32)

    def reconstruct(self, X: Any) -> np.ndarray:
        """``inverse_transform(transform(X))``: the decoder mean at the posterior mean."""
        return self.inverse_transform(self.transform(X))

    def sample(
        self, n_samples: int = 1, *, random_state: Any = None, mean: bool = True
    ) -> np.ndarray:
        """Draw ``z ~ N(0, I)`` and decode: the decoder means (``mean=True``) or draws
        from p(x|z) (binary for Bernoulli). float32, (n_samples, n_features)."""
        import torch

        network = self._inference_network()
        check_number("n_samples", n_samples, integer=True, low=1, owner="sample")
        rng = generator(seed_from(random_state), torch.device("cpu"))
        with torch.no_grad():
            z = torch.randn(
                (int(n_samples), int(self.latent_dim)), generator=rng, dtype=torch.float64
            )
            output = network.decode(z.to(next(network.parameters())))
            if self.decoder_ == "bernoulli":
                output = torch.sigmoid(output).double().cpu()
                if not mean:
                    output = torch.bernoulli(output, generator=rng)
            else:
                output = output.double().cpu()
                if not mean:
                    eps = torch.randn(output.shape, generator=rng, dtype=torch.float64)
                    output = output + torch.exp(self._log_scale(network).double().cpu()) * eps
        return output.numpy().astype(np.float32)

    def score_samples(self, X: Any, *, n_samples: int = 1, random_state: Any = None) -> np.ndarray:
        """ELBO of each row in nats: ``E_q[log p(x|z)] - KL(q(z|x) || p(z))`` with the KL
        exact and the expectation averaged over ``n_samples`` reparameterised draws.

        The draws are seeded (``random_state``, by default fixed at fit) and keyed
        by each row's values, so a row's score does not depend on the other rows.
        """
        import torch

        from lamina.plugins.torch_vae.losses import gaussian_kl

        network = self._inference_network()
        check_number("n_samples", n_samples, integer=True, low=1, owner="score_samples")
        array = self._check_data(X, reset=False)
        data = self._as_tensor(array, network)
        rows = max(1, _CHUNK_ELEMENTS // (int(n_samples) * data.shape[1]))
        scores = []
        with torch.no_grad():
            for start in range(0, len(data), rows):
                x = data[start : start + rows]
                eps = self._row_noise(array[start : start + rows], int(n_samples), random_state, x)
                mean, log_var = network.encode(x)
                z = mean + torch.exp(0.5 * log_var) * eps  # (S, m, d)
                output = network.decode(z.reshape(-1, z.shape[-1])).reshape(*z.shape[:2], -1)
                log_likelihood = self._log_likelihood(
                    x.expand(int(n_samples), -1, -1), output, network
                )
                scores.append(log_likelihood.mean(dim=0) - gaussian_kl(mean, log_var))
        return torch.cat(scores).double().cpu().numpy()

    def score(self, X: Any, y: Any = None) -> float:
        """Mean ELBO per sample (nats; higher is better)."""
        return float(np.mean(self.score_samples(X)))

    def log_likelihood(self, X: Any, k: int = 1000, *, random_state: Any = None) -> np.ndarray:
        """Importance-weighted estimate of ``log p(x)`` per row (Burda et al. 2016):
        ``log (1/k) sum_i p(x, z_i) / q(z_i|x)`` with ``z_i ~ q(z|x)``.

        Its expectation is a lower bound on ``log p(x)`` that rises with ``k``
        (k=1 is the ELBO) and reaches it as ``k -> inf``. The draws are seeded and
        keyed by each row, as in :meth:`score_samples`.
        """
        import torch

        from lamina.plugins.torch_vae.losses import standard_normal_log_prob

        network = self._inference_network()
        check_number("k", k, integer=True, low=1, owner="log_likelihood")
        array = self._check_data(X, reset=False)
        data = self._as_tensor(array, network)
        rows = max(1, _CHUNK_ELEMENTS // (int(k) * data.shape[1]))
        estimates = []
        with torch.no_grad():
            for start in range(0, len(data), rows):
                x = data[start : start + rows]
                eps = self._row_noise(array[start : start + rows], int(k), random_state, x)
                mean, log_var = network.encode(x)
                z = mean + torch.exp(0.5 * log_var) * eps  # (k, m, d)
                output = network.decode(z.reshape(-1, z.shape[-1])).reshape(int(k), len(x), -1)
                log_p_x_given_z = self._log_likelihood(x.expand(int(k), -1, -1), output, network)
                # log q(z|x) at z = mean + std * eps.
                log_q = standard_normal_log_prob(eps) - 0.5 * log_var.sum(dim=-1)
                log_w = log_p_x_given_z + standard_normal_log_prob(z) - log_q
                estimates.append(torch.logsumexp(log_w.double(), dim=0) - math.log(int(k)))
        return torch.cat(estimates).cpu().numpy()

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import TransformerTags

        tags = super().__sklearn_tags__()
        tags.transformer_tags = TransformerTags()
        tags.non_deterministic = self.random_state is None
        return tags

    @property
    def n_parameters_(self) -> int:
        self._check_fitted()
        return int(self.model_.n_parameters)

    def _check_state(self) -> None:
        """The fitted values a model file holds beside the weights, as a checkpoint's."""
        super()._check_state()
        if getattr(self, "decoder_", None) not in ("bernoulli", "gaussian"):
            raise InputError(
                f"fitted decoder_ must be 'bernoulli' or 'gaussian', got {getattr(self, 'decoder_', None)!r}"
            )
        self._eval_seed = _count(getattr(self, "_eval_seed", None), "fitted _eval_seed")


def _count(value: Any, name: str, *, low: int = 0) -> int:
    """A saved whole number, refused when it is not one (a float, text, a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise InputError(f"{name} must be a whole number >= {low}, got {value!r}")
    return int(value)
