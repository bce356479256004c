"""Torch plumbing shared by torch learner plugins: devices, dtypes, seeds, activations,
weights-only checkpoints.

torch is imported by the functions that need it, never by importing this module,
so ``import lamina`` and ``lamina --help`` stay light.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import pickle
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lamina.errors import InputError
from lamina.io import atomic_write

if TYPE_CHECKING:
    import torch

__all__ = [
    "ACTIVATIONS",
    "DTYPES",
    "WEIGHT_BOUND",
    "TorchStateMixin",
    "activation_module",
    "build_for_state",
    "cpu_threads",
    "generator",
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


def save_checkpoint(path: str | os.PathLike[str], payload: Mapping[str, Any]) -> None:
    """Write ``payload`` (tensors, numbers, strings, lists, tuples, dicts only) atomically
    with ``torch.save``; it loads back with ``weights_only=True``."""
    import torch

    buffer = io.BytesIO()
    torch.save(dict(payload), buffer)
    with atomic_write(path) as handle:
        handle.write(buffer.getvalue())


def load_checkpoint(path: str | os.PathLike[str], *, format: str) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` with ``weights_only=True``.

    A file holding anything but tensors and plain containers (a pickled class, a
    function, an ``os.system`` reducer) is refused before any of it runs; a file
    that is not a torch checkpoint, is truncated, or was written for another
    ``format`` is an :class:`InputError` too.
    """
    import torch

    source = Path(path)
    if not source.is_file():
        raise InputError(f"checkpoint {str(source)!r} does not exist or is not a file")
    try:
        payload = torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        reason = str(error).strip().splitlines()
        detail = next(
            (line for line in reason if "Unsupported" in line), reason[0] if reason else ""
        )
        raise InputError(
            f"checkpoint {str(source)!r} holds Python objects other than tensors and plain "
            f"data; refusing to load it (weights_only=True): {detail.strip()}"
        ) from None
    except Exception as error:
        # Damaged bytes provoke whatever the zip reader or the weights-only unpickler
        # trips on (IndexError from an empty stack, struct.error, TypeError, KeyError,
        # ...); neither runs code from the file, so every exception here is damage.
        raise InputError(
            f"checkpoint {str(source)!r} is not a readable torch checkpoint "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != format:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise InputError(
            f"checkpoint {str(source)!r} is not a {format} checkpoint (found format {found!r})"
        )
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


def build_for_state(
    build: Callable[[], torch.nn.Module], state: Any, *, source: str
) -> torch.nn.Module:
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
