"""The scikit-learn estimator API for lamina's learners, without importing scikit-learn.

:class:`BaseLearner` gives ``get_params`` / ``set_params`` (read from the
keyword-only ``__init__`` signature, nested ``a__b`` names included) and an
abbreviated ``repr`` (all three from :class:`lamina.params.Parameterized`), the
``__sklearn_tags__`` that scikit-learn's ``check_estimator`` reads, input
validation that turns bad data into :class:`lamina.InputError`
(:mod:`lamina.learn.validation`), and saving / loading of fitted models without
pickle (:mod:`lamina.learn.model_file`). :class:`ClassifierMixin` and
:class:`RegressorMixin` add ``score`` and the classifier / regressor tags.

scikit-learn is imported only when scikit-learn itself asks (``__sklearn_tags__``
is only ever called by scikit-learn), so lamina's learners drop into pipelines,
``cross_val_score`` and grid search while scikit-learn stays an optional,
test-time dependency.

Following scikit-learn (and its ``check_do_not_raise_errors_in_init_or_set_params``),
``__init__`` and ``set_params`` only store values; ranges are checked by
``validate_params()``, which ``fit`` calls first and which a caller that wants
errors before any work (the command line) can call right after construction.
"""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

import numpy as np

from lamina.errors import InputError
from lamina.learn.model_file import LEARNER_CLASSES, write_model
from lamina.learn.validation import (
    check_array,
    check_consistent_length,
    check_regression_target,
    check_sample_weight,
    feature_names_of,
    not_fitted_error,
    r2_score,
)
from lamina.params import Parameterized

__all__ = ["BaseLearner", "ClassifierMixin", "RegressorMixin", "clone_learner"]

L = TypeVar("L", bound="BaseLearner")


class BaseLearner(Parameterized):
    """Base class of lamina's learners: the scikit-learn estimator protocol.

    Subclasses take only keyword-only constructor parameters with defaults and
    store each one unchanged under its own name (``get_params``, ``set_params``
    and the ``repr`` come from :class:`lamina.params.Parameterized`); fitted
    attributes end in ``_``.
    A subclass checks its parameters in :meth:`_check_params`.

    Examples
    --------
    >>> from lamina.learn.base import BaseLearner
    >>> class Smoother(BaseLearner):
    ...     def __init__(self, *, alpha: float = 1.0) -> None:
    ...         self.alpha = alpha
    >>> Smoother(alpha=2.0)
    Smoother(alpha=2.0)
    >>> Smoother().set_params(alpha=0.5).get_params()
    {'alpha': 0.5}
    """

    #: Attributes, besides those ending in ``_``, written by :meth:`save`.
    _saved_extra: ClassVar[tuple[str, ...]] = ()

    def validate_params(self) -> None:
        """Check every parameter now; raise :class:`lamina.InputError` naming a bad one."""
        self._check_params()

    def _check_params(self) -> None:
        """Subclasses check their parameters here (called at the start of ``fit``)."""

    # -- scikit-learn protocol -------------------------------------------------------
    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "n_features_in_")

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's tags; only scikit-learn calls this, so the import is free."""
        from sklearn.utils import InputTags, Tags, TargetTags

        return Tags(
            estimator_type=None,
            target_tags=TargetTags(required=False),
            input_tags=InputTags(),
        )

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise not_fitted_error()(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator."
            )

    # -- input validation --------------------------------------------------------------
    def _validate_x(self, X: Any, *, reset: bool, **kwargs: Any) -> Any:
        """:func:`check_array` plus ``n_features_in_`` / ``feature_names_in_`` bookkeeping."""
        names = feature_names_of(X)
        array = check_array(X, owner=type(self).__name__, **kwargs)
        self._check_features(array.shape[1], names, reset=reset)
        return array

    def _check_features(self, n_features: int, names: np.ndarray | None, *, reset: bool) -> None:
        if reset:
            self.n_features_in_ = n_features
            if names is not None:
                self.feature_names_in_ = names
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            return
        fitted_names = getattr(self, "feature_names_in_", None)
        cls = type(self).__name__
        if names is not None and fitted_names is None:
            warnings.warn(
                f"X has feature names, but {cls} was fitted without feature names", stacklevel=4
            )
        elif names is None and fitted_names is not None:
            warnings.warn(
                f"X does not have valid feature names, but {cls} was fitted with feature names",
                stacklevel=4,
            )
        elif names is not None and fitted_names is not None and list(names) != list(fitted_names):
            unseen = sorted(set(names) - set(fitted_names))
            missing = sorted(set(fitted_names) - set(names))
            detail = f"unseen at fit time: {unseen}; " if unseen else ""
            detail += f"seen at fit time, yet now missing: {missing}" if missing else ""
            raise InputError(
                "The feature names should match those that were passed during fit. "
                + (detail or "Feature names must be in the same order as they were in fit.")
            )
        if n_features != self.n_features_in_:
            raise InputError(
                f"X has {n_features} features, but {cls} is expecting {self.n_features_in_} "
                "features as input."
            )

    # -- persistence without pickle (the file format: lamina.learn.model_file) -----------------
    @staticmethod
    def _fitted_name(name: str) -> bool:
        """Whether ``name`` is a fitted attribute's (``classes_``; not ``_x_`` or ``__dict__``)."""
        return name.isidentifier() and name.endswith("_") and not name.startswith("_")

    def _get_state(self) -> dict[str, Any]:
        """The fitted attributes to save, by name (values :mod:`lamina.store` can hold)."""
        names = [k for k in vars(self) if self._fitted_name(k)]
        return {name: getattr(self, name) for name in [*names, *self._saved_extra]}

    def _set_state(self, state: dict[str, Any]) -> None:
        """Set the fitted attributes read from a model file (checked next by :meth:`_check_state`)."""
        for name, value in state.items():
            setattr(self, name, value)

    def _check_state(self) -> None:
        """Raise :class:`InputError` unless the fitted attributes (read from a model
        file) are consistent; subclasses extend it with their own arrays."""
        n_features = getattr(self, "n_features_in_", None)
        if not isinstance(n_features, int) or isinstance(n_features, bool) or n_features < 1:
            raise InputError(
                f"fitted n_features_in_ must be a positive integer, got {n_features!r}"
            )
        names = getattr(self, "feature_names_in_", None)
        if names is not None and (
            not isinstance(names, np.ndarray) or names.shape != (n_features,)
        ):
            raise InputError(f"fitted feature_names_in_ must hold {n_features} names")
        classes = getattr(self, "classes_", None)
        if classes is not None:
            if not isinstance(classes, np.ndarray) or classes.ndim != 1 or not classes.size:
                raise InputError("fitted classes_ must be a non-empty 1-D array")
            if classes.dtype.kind == "f" and not np.isfinite(classes).all():
                raise InputError("fitted classes_ holds NaN or infinity")
            if not np.array_equal(np.unique(classes), classes):
                raise InputError("fitted classes_ must be sorted and distinct")

    @classmethod
    def from_state(cls: type[L], params: Mapping[str, Any], state: Mapping[str, Any]) -> L:
        """The fitted learner that constructor parameters and fitted state read back
        from a model file describe (:func:`lamina.learn.model_file.load_model`).

        Nothing in them is trusted: ``params`` must be this class's constructor
        parameters and pass :meth:`validate_params`; ``state`` may name only the
        attributes :meth:`save` writes (fitted ones, ending in ``_``, that the class
        does not define itself as a property or method, such as ``n_parameters_``;
        and the class's ``_saved_extra``), and the learner then checks the whole
        fitted state (``_check_state``, which subclasses extend with their own arrays).

        Raises
        ------
        InputError
            Naming the unknown parameter or attribute, the bad parameter, or the
            fitted value that is inconsistent.
        """
        unknown = sorted(set(params) - set(cls._get_param_names()))
        if unknown:
            raise InputError(f"{cls.__name__} has no parameter(s) {unknown}")
        model = cls(**params)
        model.validate_params()
        for name in state:
            # save writes instance attributes only: a name the class defines (a
            # property or method) is not one, and setting it fails or replaces code.
            fitted = cls._fitted_name(name) and not hasattr(cls, name)
            if not (fitted or name in cls._saved_extra):
                raise InputError(
                    f"state names an attribute {name!r}, which {cls.__name__} does not save"
                )
        model._set_state(dict(state))
        model._check_fitted()
        model._check_state()
        return model

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the parameters and the fitted model to ``path`` (``.npz``), atomically.

        The file holds plain arrays and one JSON document, never pickles, so a
        model file from someone else is safe to open with
        :func:`lamina.learn.model_file.load_model`.
        """
        self._check_fitted()
        write_model(
            path,
            class_name=f"{type(self).__module__}:{type(self).__qualname__}",
            params=self.get_params(deep=False),
            state=self._get_state(),
        )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        LEARNER_CLASSES[f"{cls.__module__}:{cls.__qualname__}"] = cls


def clone_learner(learner: L) -> L:
    """An unfitted copy with the same parameters (scikit-learn's ``clone``)."""
    params = {
        k: clone_learner(v) if isinstance(v, BaseLearner) else copy.deepcopy(v)
        for k, v in learner.get_params(deep=False).items()
    }
    return type(learner)(**params)


# -- mixins -------------------------------------------------------------------------------
class ClassifierMixin:
    """``score`` (accuracy) and scikit-learn's classifier tags; put it left of
    :class:`BaseLearner` in the bases."""

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean accuracy of ``self.predict(X)`` against ``y`` (weighted if given)."""
        predicted = self.predict(X)  # type: ignore[attr-defined]
        truth = np.asarray(y)
        if truth.ndim == 2 and truth.shape[1] == 1:
            truth = truth.ravel()
        check_consistent_length(predicted, truth, names=("X", "y"))
        weights = check_sample_weight(sample_weight, len(truth))
        return float(np.average(predicted == truth, weights=weights))

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import ClassifierTags

        tags = super().__sklearn_tags__()  # type: ignore[misc]
        tags.estimator_type = "classifier"
        tags.classifier_tags = ClassifierTags()
        tags.target_tags.required = True
        return tags


class RegressorMixin:
    """``score`` (R²) and scikit-learn's regressor tags; put it left of
    :class:`lamina.learn.base.BaseLearner` in the bases."""

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """R² of ``self.predict(X)`` against ``y``."""
        predicted = self.predict(X)  # type: ignore[attr-defined]
        target = check_regression_target(y, len(predicted))
        if len(target) < 2:
            warnings.warn("R^2 score is not well-defined with less than two samples.", stacklevel=2)
            return float("nan")
        return r2_score(target, predicted, sample_weight)

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import RegressorTags

        tags = super().__sklearn_tags__()  # type: ignore[misc]
        tags.estimator_type = "regressor"
        tags.regressor_tags = RegressorTags()
        tags.target_tags.required = True
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
