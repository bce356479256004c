"""Naive Bayes on arrays of other libraries (array API): torch here, CUDA when present.

The same cases as scikit-learn's ``test_gnb_array_api_compliance`` (string and
numeric labels, with and without sample weights, float32 and float64), for
every model that computes in the input's namespace, against the NumPy results;
``categorical-nb`` looks integer category codes up on the device too.

Deliberate difference from scikit-learn: fitted attributes (``theta_``,
``feature_log_prob_``, ...) stay small NumPy arrays in the input's float dtype
whatever the input library, so one fitted model serves every library and saves
without pickle; the work that scales with the data (fitting statistics and
every prediction) runs in the input's namespace and on its device, and the
predictions come back there. scikit-learn's ``check_array_api_input`` expects
attributes in the input's namespace, so the models do not claim
``array_api_support`` in their scikit-learn tags.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("array_api_compat")

from lamina.errors import InputError  # noqa: E402
from lamina.plugins.bayes.categorical import CategoricalNB, MixedNB  # noqa: E402
from lamina.plugins.bayes.discrete import BernoulliNB, ComplementNB, MultinomialNB  # noqa: E402
from lamina.plugins.bayes.gaussian import GaussianNB  # noqa: E402

NATIVE = [GaussianNB, MultinomialNB, ComplementNB, BernoulliNB]
DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
    ),
]
SEEDS = [0, 1]  # widen for a longer run


def _data(seed: int, model_class: type, n: int = 120) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    if model_class is GaussianNB:
        X = rng.normal(size=(n, 6)) + y[:, None] * 0.7
    else:
        X = rng.poisson(2.0, (n, 6)).astype(np.float64)
        X[:, y[0]] += 1.0
    return X, y


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("str_y", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("model_class", NATIVE)
@pytest.mark.parametrize("seed", SEEDS)
def test_torch_input_computes_in_torch_and_matches_numpy(
    model_class, dtype, str_y, weighted, device, seed
):
    X_np, y_np = _data(seed, model_class)
    X_np = X_np.astype(dtype)
    labels = np.array(["a", "b", "c"])[y_np] if str_y else y_np
    weights = np.random.default_rng(seed).uniform(0.5, 2.0, len(y_np)) if weighted else None
    X_t = torch.asarray(X_np, device=device)
    y_t = labels if str_y else torch.asarray(labels, device=device)
    ours = model_class().fit(X_np, labels, sample_weight=weights)
    theirs = model_class().fit(X_t, y_t, sample_weight=weights)
    rtol = 1e-5 if dtype == "float32" else 1e-10
    for name in ("class_count_", "feature_log_prob_", "theta_", "var_"):
        if hasattr(ours, name):
            np.testing.assert_allclose(getattr(theirs, name), getattr(ours, name), rtol=rtol)
    predicted = theirs.predict(X_t)
    if str_y:
        assert isinstance(predicted, np.ndarray)
    else:
        assert isinstance(predicted, torch.Tensor) and predicted.device.type == device
        predicted = predicted.cpu().numpy()
    np.testing.assert_array_equal(predicted, ours.predict(X_np))
    for method in ("predict_proba", "predict_log_proba", "predict_joint_log_proba"):
        result = getattr(theirs, method)(X_t)
        assert isinstance(result, torch.Tensor)
        assert result.device.type == device and result.dtype == X_t.dtype
        np.testing.assert_allclose(
            result.cpu().numpy(), getattr(ours, method)(X_np), rtol=rtol * 10, atol=rtol
        )


@pytest.mark.parametrize("model_class", NATIVE)
def test_numpy_fitted_model_predicts_torch_and_back(model_class):
    X_np, y_np = _data(3, model_class)
    model = model_class().fit(X_np, y_np)
    proba = model.predict_proba(torch.asarray(X_np))
    np.testing.assert_allclose(proba.numpy(), model.predict_proba(X_np), rtol=1e-10)
    streamed = model_class()
    for part in np.array_split(np.arange(len(y_np)), 3):
        streamed.partial_fit(
            torch.asarray(X_np[part]), torch.asarray(y_np[part]), classes=[0, 1, 2]
        )
    np.testing.assert_allclose(
        streamed.predict_proba(X_np), model.predict_proba(X_np), rtol=1e-9, atol=1e-12
    )


@pytest.mark.parametrize("model_class", NATIVE)
def test_bad_torch_input_gets_the_same_errors(model_class):
    X_np, y_np = _data(4, model_class)
    model = model_class().fit(torch.asarray(X_np), torch.asarray(y_np))
    broken = torch.tensor(X_np)
    broken[2, 3] = float("nan")
    with pytest.raises(InputError, match=r"NaN \(first at index \(2, 3\)\)"):
        model.predict(broken)
    with pytest.raises(InputError, match=r"X has 5 features, but .* is expecting 6"):
        model.predict(torch.asarray(X_np[:, :5]))
    with pytest.raises(InputError, match="Expected 2D array"):
        model.predict(torch.asarray(X_np[0]))
    if model_class in (MultinomialNB, ComplementNB):
        with pytest.raises(InputError, match=r"Negative values .* X\[0, 0\]"):
            model.fit(-torch.asarray(X_np) - 1, torch.asarray(y_np))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("seed", SEEDS)
def test_categorical_codes_are_looked_up_in_torch(seed, device):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 4, (80, 3)).astype(np.float64)
    y = rng.integers(0, 3, 80)
    model = CategoricalNB().fit(X, y)
    test = np.vstack(
        [X[:10], [[7, 1, 2], [1.5, 0, 3], [np.nan, 2, 1]]]
    )  # unseen, fraction, missing
    ours = model.predict_proba(test)
    theirs = model.predict_proba(torch.asarray(test, device=device))
    assert isinstance(theirs, torch.Tensor) and theirs.device.type == device
    np.testing.assert_allclose(theirs.cpu().numpy(), ours, rtol=1e-12)
    fitted = CategoricalNB().fit(torch.asarray(X, device=device), torch.asarray(y, device=device))
    np.testing.assert_allclose(fitted.predict_proba(test), ours, rtol=1e-12)
    with pytest.raises(InputError, match=r"Negative values in data passed to CategoricalNB"):
        model.predict(torch.asarray([[0.0, -1.0, 1.0]], device=device))


@pytest.mark.parametrize("model_class", [CategoricalNB, MixedNB])
def test_text_categories_read_torch_through_numpy(model_class):
    rng = np.random.default_rng(5)
    X = rng.integers(0, 4, (60, 3)).astype(np.float64)
    y = rng.integers(0, 2, 60)
    text = np.where(X > 1, "hi", "lo").astype(object)
    data = text if model_class is CategoricalNB else X
    ours = model_class().fit(data, y)
    probe = torch.asarray(X)
    # categories held as text, or numeric columns of a mixed model: computed by NumPy
    theirs = model_class().fit(data, torch.asarray(y))
    np.testing.assert_allclose(theirs.predict_proba(data), ours.predict_proba(data))
    if model_class is MixedNB:
        assert isinstance(theirs.predict_proba(probe), np.ndarray)
