"""Torch plumbing shared by torch learner plugins: devices, dtypes, seeds, activations,
checkpoints (through :mod:`lamina.store`, no pickle).

torch is imported by the functions that need it, never by importing this module,
so ``import lamina`` and ``lamina --help`` stay light.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from lamina import store
from lamina.errors import InputError

if TYPE_CHECKING:
    import torch

#: A torch module's type, kept through build_for_state.
M = TypeVar("M", bound="torch.nn.Module")

__all__ = [
    "ACTIVATIONS",
    "DTYPES",
    "WEIGHT_BOUND",
    "EarlyStopping",
    "TorchStateMixin",
    "activation_module",
    "build_for_state",
    "cpu_threads",
    "generator",
    "hold_out",
    "largest_layer_work",
    "load_checkpoint",
    "load_state",
    "resolve_device",
    "resolve_dtype",
    "save_checkpoint",
    "seed_from",
    "seeded",
]

#: dtype names the learners accept.
DTYPES = ("float32", "float64")

#: Largest magnitude of a fitted weight or standardisation statistic a model file may
#: hold: what a float32 network can represent. Larger values only come from editing or
#: divergence, and would overflow a forward pass to infinity and NaN.
WEIGHT_BOUND = float(np.finfo(np.float32).max)

#: Activation names the learners accept.
ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid", "gelu", "silu", "elu", "softplus", "sin")


@functools.cache
def _sine() -> type:
    import torch

    class Sine(torch.nn.Module):
        """``sin(x)``: a smooth, non-polynomial, bounded activation (SIREN-like without
        the frequency scaling)."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.sin(x)

    return Sine


def activation_module(name: str) -> torch.nn.Module:
    """A fresh activation layer named by one of :data:`ACTIVATIONS`."""
    from torch import nn

    modules = {
        "relu": nn.ReLU,
        "leaky_relu": nn.LeakyReLU,
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
        "gelu": nn.GELU,
        "silu": nn.SiLU,
        "elu": nn.ELU,
        "softplus": nn.Softplus,
        "sin": _sine(),
    }
    if name not in modules:
        raise InputError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {name!r}")
    return modules[name]()


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> CUDA when torch sees a CUDA device, else CPU; ``"cuda"`` without
    one is an :class:`InputError` rather than a crash deep inside torch."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda" or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise InputError(
                f"device={device!r} but torch {torch.__version__} sees no CUDA device; "
                "use device='cpu' or 'auto'"
            )
        return torch.device(device)
    raise InputError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")


def resolve_dtype(dtype: str) -> torch.dtype:
    import torch

    if dtype not in DTYPES:
        raise InputError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    return getattr(torch, dtype)


def seed_from(random_state: Any) -> int:
    """An integer seed from scikit-learn's ``random_state`` conventions: ``None`` (fresh
    entropy), an int, or a numpy ``Generator``/``RandomState`` (one draw from it)."""
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1, dtype=np.uint32)[0])
    if isinstance(random_state, (bool, np.bool_)):
        raise InputError(
            f"random_state must be None, an int or a numpy generator, got {random_state!r}"
        )
    if isinstance(random_state, (int, np.integer)):
        if random_state < 0:
            raise InputError(f"random_state must be non-negative, got {random_state}")
        return int(random_state) % (2**63)
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**63 - 1))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    raise InputError(
        f"random_state must be None, an int or a numpy generator, got {type(random_state).__name__}"
    )


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Run the block with torch's global generators seeded, restoring them afterwards,
    so building a module (whose initialisers draw from the global generator) is
    reproducible without changing the caller's random state."""
    import torch

    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def generator(seed: int, device: torch.device) -> torch.Generator:
    """A private generator on ``device`` for shuffling and sampling."""
    import torch

    result = torch.Generator(device=device)
    result.manual_seed(seed)
    return result


#: The store format of checkpoints (what ``format`` names inside is the learner's).
CHECKPOINT_STORE_FORMAT = "lamina-torch-checkpoint"
CHECKPOINT_STORE_VERSION = 1
_TENSOR = "torch:tensor"
_PAIRS = "torch:pairs"


def _to_plain(value: Any) -> Any:
    """``value`` with tensors as arrays and dicts with non-string keys (an
    optimiser's state) as key/value pairs, all marked, for :mod:`lamina.store`."""
    import torch

    if isinstance(value, torch.Tensor):
        return {_TENSOR: value.detach().cpu().numpy()}
    if isinstance(value, Mapping):
        if all(isinstance(k, str) for k in value):
            return {k: _to_plain(v) for k, v in value.items()}
        return {_PAIRS: [[k, _to_plain(v)] for k, v in value.items()]}
    if isinstance(value, list | tuple):
        return type(value)(_to_plain(v) for v in value)
    return value


def _from_plain(value: Any) -> Any:
    import torch

    if isinstance(value, dict):
        if set(value) == {_TENSOR}:
            array = value[_TENSOR]
            if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
                raise InputError("a tensor entry holds no numeric array")
            return torch.from_numpy(array)
        if set(value) == {_PAIRS}:
            pairs = value[_PAIRS]
            if not isinstance(pairs, list) or not all(
                isinstance(p, list) and len(p) == 2 and isinstance(p[0], int | str) for p in pairs
            ):
                raise InputError("a mapping entry is not a list of key/value pairs")
            return {k: _from_plain(v) for k, v in pairs}
        return {k: _from_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_from_plain(v) for v in value)
    return value


def _no_classes(name: str) -> bool:
    """Checkpoints hold plain data and tensors only: no class is ever rebuilt."""
    return False


def save_checkpoint(path: str | os.PathLike[str], payload: Mapping[str, Any]) -> None:
    """Write ``payload`` (tensors, numbers, strings, lists, tuples, dicts only)
    atomically as a :mod:`lamina.store` file; :func:`load_checkpoint` reads it back."""
    arrays: dict[str, np.ndarray] = {}
    tree = store.encode(_to_plain(dict(payload)), arrays, allowed=_no_classes, name="payload")
    header = {
        "format": CHECKPOINT_STORE_FORMAT,
        "version": CHECKPOINT_STORE_VERSION,
        "payload": tree,
    }
    store.write_file(path, header, arrays)


def load_checkpoint(path: str | os.PathLike[str], *, format: str) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`.

    Nothing in the file can run code (it holds JSON and arrays; no class is
    rebuilt). A file that is not a lamina checkpoint, is truncated or damaged,
    was written for another ``format``, or by ``torch.save`` (checkpoints before
    :mod:`lamina.store`) is an :class:`InputError` naming the file.
    """
    header, arrays = store.read_file(
        path,
        kind="checkpoint",
        written_by="save_checkpoint() or checkpoint=",
        earlier_formats={
            "/data.pkl": "a torch.save pickle, as lamina wrote checkpoints before lamina.store "
            "(refused unread); train again with this lamina to write a new checkpoint"
        },
    )
    where = store.describe_file("checkpoint", path)
    if header.get("format") != CHECKPOINT_STORE_FORMAT or (
        header.get("version") != CHECKPOINT_STORE_VERSION
    ):
        raise InputError(
            f"{where} is not a {CHECKPOINT_STORE_FORMAT} version {CHECKPOINT_STORE_VERSION} file "
            f"(found {header.get('format')!r} version {header.get('version')!r})"
        )
    with store.errors_naming(where):
        payload = _from_plain(store.decode(header.get("payload"), arrays, allowed=_no_classes))
    if not isinstance(payload, dict) or payload.get("format") != format:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise InputError(f"{where} is not a {format} checkpoint (found format {found!r})")
    return payload


def load_state(module: torch.nn.Module, state: Any, *, source: str) -> None:
    """``module.load_state_dict(state)`` with shape or key mismatches as :class:`InputError`."""
    import torch

    if not isinstance(state, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise InputError(f"checkpoint {source!r}: the model weights are not a mapping of tensors")
    try:
        module.load_state_dict(state)
    except RuntimeError as error:
        first = str(error).strip().splitlines()
        raise InputError(
            f"checkpoint {source!r} does not fit the model it describes: "
            f"{' '.join(line.strip() for line in first[:3])}"
        ) from None


def build_for_state(build: Callable[[], M], state: Any, *, source: str) -> M:
    """The module ``build()`` makes, filled with the saved weights ``state``.

    The module is first built on torch's ``meta`` device (shapes, no memory) and
    its parameter shapes compared with the saved ones, so saved settings that
    describe a network far larger than the saved weights (an edited file asking
    for a billion hidden units) are refused before anything is allocated.
    """
    import torch

    if not isinstance(state, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise InputError(f"checkpoint {source!r}: the model weights are not a mapping of tensors")
    try:
        with torch.device("meta"):
            skeleton = build()
    except Exception as error:
        # The settings come from the file (an edited image shape, a negative width):
        # whatever they make the constructor raise, on a device that allocates nothing,
        # is that file's damage.
        raise InputError(
            f"checkpoint {source!r}: its settings do not describe a network "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"
        ) from error
    expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    found = {str(k): tuple(v.shape) for k, v in state.items()}
    if expected != found:
        differing = sorted(
            k for k in expected.keys() | found.keys() if expected.get(k) != found.get(k)
        )
        shown = ", ".join(f"{k} {found.get(k)} (expected {expected.get(k)})" for k in differing[:2])
        raise InputError(
            f"checkpoint {source!r} does not fit the network its settings describe: {shown}"
        )
    module = build()
    load_state(module, state, source=source)
    return module


def hold_out(
    n: int, *, fraction: float, seed: int, groups: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted training and held-out row indices for early stopping: ``fraction``
    of the ``n`` rows (of each group, when ``groups`` labels the rows, so classes
    keep their shares), drawn with ``seed``.

    >>> hold_out(10, fraction=0.2, seed=0)[1]
    array([4, 6])

    Raises
    ------
    InputError
        When either part would be empty.
    """
    rng = np.random.default_rng(seed)
    strata = (
        [np.arange(n)]
        if groups is None
        else [np.flatnonzero(groups == g) for g in np.unique(groups)]
    )
    held = [rng.permutation(members)[: round(fraction * len(members))] for members in strata]
    held_out = np.sort(np.concatenate(held))
    train = np.setdiff1d(np.arange(n), held_out)
    if len(held_out) == 0 or len(train) == 0:
        raise InputError(
            f"early_stopping with validation_fraction={fraction} leaves "
            f"{len(train)} training and {len(held_out)} validation samples of {n}; "
            "use more data, another fraction, or early_stopping=False"
        )
    return train, held_out


class EarlyStopping:
    """The stopping rule of the torch learners: training stops after ``patience``
    updates without a relative improvement of ``tol`` on the watched loss, and
    the weights of the best update are kept to be restored at the end.

    ``best``, ``stale`` and ``best_state`` start from a checkpoint when resuming.

    >>> rule = EarlyStopping(tol=0.1, patience=2)
    >>> [rule.update(loss) for loss in (1.0, 0.95, 0.93, 0.5)], rule.exhausted
    ([True, True, True, True], False)
    >>> [rule.update(loss) for loss in (0.49, 0.48)], rule.exhausted
    ([True, True], True)
    """

    def __init__(
        self,
        *,
        tol: float,
        patience: int,
        best: float = math.inf,
        stale: int = 0,
        best_state: dict[str, torch.Tensor] | None = None,
    ) -> None:
        self.tol = float(tol)
        self.patience = int(patience)
        self.best = best
        self.stale = stale
        self.best_state = best_state

    def update(self, value: float, module: torch.nn.Module | None = None) -> bool:
        """Record the watched loss ``value``; return whether it is the best so far
        (then ``module``'s weights, when given, are kept as the best)."""
        if value < self.best - self.tol * abs(self.best) or self.best == math.inf:
            self.stale = 0
        else:
            self.stale += 1
        if not value < self.best:
            return False
        self.best = value
        if module is not None:
            self.best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        return True

    @property
    def exhausted(self) -> bool:
        """Whether ``patience`` updates in a row brought no relative improvement."""
        return self.stale >= self.patience

    def restore(self, module: torch.nn.Module) -> bool:
        """Load the best weights kept into ``module``; whether there were any."""
        if self.best_state is None:
            return False
        module.load_state_dict(self.best_state)
        return True


class TorchStateMixin:
    """Lets :meth:`lamina.learn.base.BaseLearner.save` / ``load_model`` store fitted torch
    modules: their ``state_dict`` tensors go into the model file as plain arrays
    (no pickle), and loading rebuilds each module with ``_build_network()``
    (``_build_<name>()`` for modules other than ``model_``) before filling in
    the weights. Put it left of ``BaseLearner`` in the bases."""

    #: Fitted attributes holding torch modules.
    _torch_modules: tuple[str, ...] = ("model_",)

    def _get_state(self) -> dict[str, Any]:
        state: dict[str, Any] = super()._get_state()  # type: ignore[misc]
        for name in self._torch_modules:
            if name in state:
                weights = state[name].state_dict()
                state[name] = {
                    "torch_state_dict": {k: t.detach().cpu().numpy() for k, t in weights.items()}
                }
        return state

    def _set_state(self, state: dict[str, Any]) -> None:
        import torch

        state = dict(state)
        modules = {name: state.pop(name) for name in self._torch_modules if name in state}
        super()._set_state(state)  # type: ignore[misc]
        device = resolve_device(getattr(self, "device", "cpu"))
        for name, stored in modules.items():
            weights = stored.get("torch_state_dict") if isinstance(stored, dict) else None
            if not isinstance(weights, dict) or not all(
                isinstance(v, np.ndarray) for v in weights.values()
            ):
                raise InputError(f"model file holds no weights for {name}")
            builder = "_build_network" if name == "model_" else f"_build_{name.rstrip('_')}"
            tensors = {k: torch.from_numpy(np.array(v)) for k, v in weights.items()}
            module = build_for_state(getattr(self, builder), tensors, source="model file")
            setattr(self, name, module.to(device).eval())
        if modules and hasattr(self, "device_"):
            self.device_ = str(device)

    def _check_state(self) -> None:
        """Every torch module was in the file, its weights finite and within
        :data:`WEIGHT_BOUND` (``_set_state`` already matched their shapes)."""
        import torch

        super()._check_state()  # type: ignore[misc]
        for name in self._torch_modules:
            module = getattr(self, name, None)
            if not isinstance(module, torch.nn.Module):
                raise InputError(f"model file lacks the network {name}")
            for key, tensor in module.state_dict().items():
                if tensor.is_floating_point() and not bool(
                    torch.all(tensor.abs() <= WEIGHT_BOUND)  # False for NaN too
                ):
                    raise InputError(
                        f"weights {name}.{key} hold NaN, infinity or values beyond "
                        f"{WEIGHT_BOUND:.3g}"
                    )


@contextlib.contextmanager
def cpu_threads(work: float, device: torch.device) -> Iterator[None]:
    """Run small CPU work (``work``: multiply-adds of the largest single operation,
    e.g. batch x fan_in x fan_out) on one thread.

    Splitting a 200 x 20 matrix product over threads costs more in wake-ups
    than it saves — on a busy machine ten to fifty times more; torch's thread
    count is global, so it is restored afterwards.
    """
    import torch

    if device.type != "cpu" or work >= SMALL_WORK or torch.get_num_threads() == 1:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


#: Multiply-adds per operation below which :func:`cpu_threads` uses one thread.
SMALL_WORK = 16_000_000


def largest_layer_work(module: torch.nn.Module) -> int:
    """Multiply-adds per sample of the module's largest linear layer."""
    import torch

    return max(
        (
            m.in_features * m.out_features
            for m in module.modules()
            if isinstance(m, torch.nn.Linear)
        ),
        default=1,
    )
