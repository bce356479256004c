"""Checks for learners: the scikit-learn estimator API, chosen by ``learner_type``."""

from __future__ import annotations

import numpy as np

from lamina.registry import ComponentInfo
from lamina.testing._common import build, expect_input_error, unchanged
from lamina.testing._runner import Check


def _classification(kind: str, n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three well separated classes in the data type the learner accepts."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), n // 3)
    if kind == "counts":
        rates = np.array([[8, 1, 1, 3], [1, 8, 1, 3], [1, 1, 8, 3]])
        X = rng.poisson(rates[y]).astype(float)
    elif kind == "binary":
        p = np.array([[0.9, 0.1, 0.1, 0.5], [0.1, 0.9, 0.1, 0.5], [0.1, 0.1, 0.9, 0.5]])
        X = (rng.random((len(y), 4)) < p[y]).astype(float)
    elif kind == "categorical":
        X = np.where(rng.random((len(y), 4)) < 0.85, y[:, None], rng.integers(0, 3, (len(y), 4)))
        X = X.astype(float)
    else:  # continuous, mixed: two informative numeric columns and two categorical
        centres = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
        numeric = centres[y] + rng.normal(0, 0.7, (len(y), 2))
        categorical = np.where(rng.random((len(y), 2)) < 0.8, y[:, None], 0).astype(float)
        X = (
            np.hstack([numeric, categorical])
            if kind == "mixed"
            else np.hstack([numeric, rng.normal(0, 0.7, (len(y), 2))])
        )
    order = rng.permutation(len(y))
    return X[order], y[order]


def _labels(y: np.ndarray) -> np.ndarray:
    return np.array(["ant", "bee", "cat"])[y]


def check_params_round_trip(info: ComponentInfo) -> None:
    learner = build(info)
    params = learner.get_params()
    expected = {p.name for p in info.parameters}
    assert set(params) == expected, (
        f"get_params keys {sorted(params)} != constructor {sorted(expected)}"
    )
    assert learner.set_params(**params) is learner, "set_params does not return self"
    assert learner.get_params() == params, "set_params(**get_params()) changed the parameters"


def check_not_fitted(info: ComponentInfo) -> None:
    X, _ = _classification(info.tags.input_data)
    method = "predict" if info.tags.learner_type != "generative" else "transform"
    try:
        getattr(build(info), method)(X)
    except (ValueError, AttributeError):
        return
    raise AssertionError(f"{method} before fit did not raise a not-fitted error")


def check_classifier_round_trip(info: ComponentInfo) -> None:
    X, y = _classification(info.tags.input_data)
    labels = _labels(y)
    learner = build(info)
    with unchanged(X, labels):
        fitted = learner.fit(X, labels)
        assert fitted is learner, "fit does not return self"
        predicted = learner.predict(X)
    assert predicted.shape == (len(X),), f"predict shape {predicted.shape}"
    assert set(np.unique(predicted)) <= set(labels), "predict returned labels it never saw"
    assert list(learner.classes_) == ["ant", "bee", "cat"], f"classes_ is {learner.classes_}"
    accuracy = float(np.mean(predicted == labels))
    assert accuracy >= 0.8, f"training accuracy {accuracy:.2f} < 0.8 on well separated classes"
    if hasattr(learner, "predict_proba"):
        proba = learner.predict_proba(X)
        assert proba.shape == (len(X), 3), f"predict_proba shape {proba.shape}"
        np.testing.assert_allclose(
            proba.sum(axis=1), 1.0, atol=1e-6, err_msg="rows do not sum to 1"
        )
        agreement = float(np.mean(learner.classes_[proba.argmax(axis=1)] == predicted))
        assert agreement >= 0.95, (
            f"predict agrees with argmax(predict_proba) on only {agreement:.0%}"
        )


def check_regressor_round_trip(info: ComponentInfo) -> None:
    rng = np.random.default_rng(0)
    X = rng.uniform(-3, 3, (120, 1))
    y = np.sin(X[:, 0])
    learner = build(info)
    with unchanged(X, y):
        assert learner.fit(X, y) is learner, "fit does not return self"
        predicted = learner.predict(X)
    assert predicted.shape == (len(X),), f"predict shape {predicted.shape}"
    assert np.all(np.isfinite(predicted)), "predictions are not finite"


def check_generative_round_trip(info: ComponentInfo) -> None:
    X, _ = _classification("binary" if info.tags.input_data == "binary" else "continuous")
    if info.tags.input_data != "binary":
        X = (X - X.min()) / (X.max() - X.min())
    learner = build(info)
    with unchanged(X):
        assert learner.fit(X) is learner, "fit does not return self"
        latent = learner.transform(X)
    assert latent.ndim == 2 and len(latent) == len(X), f"transform shape {latent.shape}"
    samples = learner.sample(5, random_state=0)
    assert samples.shape == (5, X.shape[1]), f"sample shape {samples.shape}"
    scores = learner.score_samples(X)
    assert scores.shape == (len(X),) and np.all(np.isfinite(scores)), (
        "score_samples not finite (n,)"
    )


def check_deterministic(info: ComponentInfo) -> None:
    X, y = _classification(info.tags.input_data)
    if info.tags.learner_type == "generative":
        X = (X - X.min()) / (X.max() - X.min())
        first, second = build(info).fit(X).transform(X), build(info).fit(X).transform(X)
    elif info.tags.learner_type == "regressor":
        first, second = (
            build(info).fit(X, X[:, 0]).predict(X),
            build(info).fit(X, X[:, 0]).predict(X),
        )
    else:
        first, second = build(info).fit(X, y).predict(X), build(info).fit(X, y).predict(X)
    assert np.array_equal(first, second), "two fits with the same random_state differ"


def check_bad_input(info: ComponentInfo) -> None:
    X, y = _classification(info.tags.input_data)
    learner = build(info)
    if info.tags.learner_type == "generative":
        expect_input_error(lambda: learner.fit(X[None]), "a 3-D X")
        return
    expect_input_error(lambda: learner.fit(X, y[:-5]), "X and y of different lengths")
    expect_input_error(lambda: learner.fit(X[None], y), "a 3-D X")
    expect_input_error(lambda: learner.fit(X[:0], y[:0]), "zero samples")


def checks(info: ComponentInfo) -> list[Check]:
    """The learner checks that apply to ``info``, chosen by its tags (the learner
    kind's :attr:`~lamina.kinds.Kind.checks`)."""
    round_trips = {
        "classifier": check_classifier_round_trip,
        "regressor": check_regressor_round_trip,
        "generative": check_generative_round_trip,
    }
    result = [
        Check("learner_params_round_trip", check_params_round_trip),
        Check("learner_not_fitted", check_not_fitted),
        Check("learner_bad_input", check_bad_input),
    ]
    if info.tags.learner_type in round_trips:
        result.append(
            Check(
                f"learner_{info.tags.learner_type}_round_trip", round_trips[info.tags.learner_type]
            )
        )
    if info.tags.deterministic:
        result.append(Check("learner_deterministic", check_deterministic))
    return result
