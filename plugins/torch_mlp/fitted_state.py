"""Checks of fitted state read from a model file, shared by this plugin's regressors.

Each raises :class:`lamina.InputError` saying which fitted attribute is wrong,
so that a damaged model file is refused at load rather than crashing (or
predicting NaN) later.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lamina.errors import InputError
from lamina.learn.model_file import check_fitted_array
from lamina.learn.torch import WEIGHT_BOUND

__all__ = ["check_bounded", "check_outputs", "check_standardisation"]


def check_outputs(learner: Any) -> int:
    """The number of regression outputs, consistent with the shape ``y`` had at fit.

    >>> class Fitted:
    ...     n_outputs_, _y_ndim = 1, 1
    >>> check_outputs(Fitted())
    1
    """
    n_outputs = getattr(learner, "n_outputs_", None)
    ndim = getattr(learner, "_y_ndim", None)
    if type(n_outputs) is not int or n_outputs < 1:
        raise InputError(f"fitted n_outputs_ must be a positive integer, got {n_outputs!r}")
    if type(ndim) is not int or ndim not in (1, 2) or (ndim == 1 and n_outputs != 1):
        raise InputError(
            f"fitted _y_ndim must be 1 (one output) or 2, got {ndim!r} for {n_outputs} outputs"
        )
    return n_outputs


def check_bounded(learner: Any, name: str, shape: tuple[int, ...], value: Any = None) -> np.ndarray:
    """The fitted array ``name`` (or ``value``, called ``name``) of ``shape`` (-1: any
    length), finite and within :data:`lamina.learn.torch.WEIGHT_BOUND`."""
    return check_fitted_array(
        getattr(learner, name, None) if value is None else value,
        f"{name} of {type(learner).__name__}",
        shape,
        low=-WEIGHT_BOUND,
        high=WEIGHT_BOUND,
    )


def check_standardisation(learner: Any, mean: str, scale: str, n: int) -> None:
    """A fitted centre ``mean`` and a positive ``scale``, ``n`` values each, that
    standardise finite data to finite values."""
    check_bounded(learner, mean, (n,))
    check_fitted_array(
        getattr(learner, scale, None),
        f"{scale} of {type(learner).__name__}",
        (n,),
        low=1.0 / WEIGHT_BOUND,
        high=WEIGHT_BOUND,
    )
