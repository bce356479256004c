"""The learner kind: the scikit-learn estimator API (``fit``, ``predict``, ...)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from lamina.kinds import Kind, TagField, Template

__all__ = ["KIND", "Learner"]


@runtime_checkable
class Learner(Protocol):
    def fit(self, X: Any, y: Any = None, **kwargs: Any) -> Learner: ...

    def get_params(self, deep: bool = True) -> dict[str, Any]: ...

    def set_params(self, **params: Any) -> Learner: ...


_TEMPLATE = '''\
"""{title}: a lamina learner (the scikit-learn estimator API)."""

from __future__ import annotations

from typing import Any

import numpy as np

from lamina import InputError


class {cls}:
    """Nearest-centroid classifier: each class is the mean of its training rows.

    Parameters
    ----------
    temperature : float
        Scale of the distances in ``predict_proba`` (softmax of -distance² / temperature).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 0.0], [0.2, 0.0], [5.0, 5.0], [5.2, 5.0]])
    >>> {cls}().fit(X, ["a", "a", "b", "b"]).predict(np.array([[4.0, 4.5]])).tolist()
    ['b']
    """

    def __init__(self, *, temperature: float = 1.0) -> None:
        self.temperature = temperature

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {{"temperature": self.temperature}}

    def set_params(self, **params: Any) -> {cls}:
        for key, value in params.items():
            if key not in self.get_params():
                raise ValueError(f"{{type(self).__name__}} has no parameter {{key!r}}")
            setattr(self, key, value)
        return self

    def fit(self, X: Any, y: Any) -> {cls}:
        X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
        if X.ndim != 2 or len(X) == 0:
            raise InputError(f"X: expected a non-empty 2-D table, got shape {{X.shape}}")
        if y.shape != (len(X),):
            raise InputError(f"y: expected {{len(X)}} labels (one per row of X), got {{y.shape}}")
        if not np.isfinite(X).all():
            raise InputError("X: expected finite values, got NaN or infinity")
        self.classes_, codes = np.unique(y, return_inverse=True)
        self.centroids_ = np.stack([X[codes == k].mean(axis=0) for k in range(len(self.classes_))])
        self.n_features_in_ = X.shape[1]
        return self

    def _distances(self, X: Any) -> np.ndarray:
        if not hasattr(self, "centroids_"):
            raise ValueError(f"this {{type(self).__name__}} is not fitted yet: call fit first")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise InputError(f"X: expected {{self.n_features_in_}} columns, got shape {{X.shape}}")
        return ((X[:, None, :] - self.centroids_[None]) ** 2).sum(axis=2)

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[np.argmin(self._distances(X), axis=1)]

    def predict_proba(self, X: Any) -> np.ndarray:
        logits = -self._distances(X) / self.temperature
        weights = np.exp(logits - logits.max(axis=1, keepdims=True))
        return weights / weights.sum(axis=1, keepdims=True)

    def score(self, X: Any, y: Any) -> float:
        return float(np.mean(self.predict(X) == np.asarray(y)))
'''


KIND = Kind(
    name="learner",
    plural="learners",
    summary="Learns from a table: the scikit-learn API (fit, predict, predict_proba, score).",
    protocol="lamina.kinds.learner:Learner",
    # Learners run in pipelines through operations (cross_validate, fit_generative).
    calls={},
    tags=(
        TagField(
            "learner_type",
            None,
            "What a learner learns; decides which learner checks run.",
            ("classifier", "regressor", "generative", None),
        ),
        TagField(
            "input_data",
            "continuous",
            "The data a learner accepts, so the checks can build suitable inputs.",
            ("continuous", "counts", "binary", "categorical", "mixed"),
        ),
    ),
    checks="lamina.testing.learner:checks",
    commands=(
        (
            "learn",
            "lamina.learn.commands:learn",
            "Accuracy, fit and predict time of LEARNER on a table (stratified k-fold or a "
            "test file).",
        ),
        (
            "datasets",
            "lamina.learn.commands:datasets",
            "List the bundled example tables, or describe table NAME.",
        ),
    ),
    template=Template(
        "nearest-centroid classifier", _TEMPLATE, tags='{"learner_type": "classifier"}'
    ),
)
