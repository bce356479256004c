"""CN2 prediction on arrays of other libraries (issue #15 Must 3): torch here, CUDA when lent.

``predict_proba``, ``predict_log_proba`` and ``predict`` on a torch tensor run in
torch, on the tensor's device, and return tensors there, equal to the NumPy
results on the tensor's host copy — on a seeded grid of tables (numeric and
categorical columns, float32 / float64 / integer / boolean tensors, missing
values, categories never seen in training), ordered and unordered rule sets,
with and without ``!=`` conditions. Widen ``SEEDS`` for a longer run.

Deliberate difference from the NumPy path: a tensor holding infinity is
refused as a whole (array-API validation), where NumPy input refuses it only
in numeric columns (in a categorical column it is an unseen category).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("array_api_compat")

from lamina.errors import InputError  # noqa: E402
from lamina.learn.datasets import column_keys  # noqa: E402
from lamina.plugins.cn2.cn2 import CN2Classifier  # noqa: E402
from lamina.plugins.cn2.foreign import category_number  # noqa: E402

SEEDS = [0, 1, 2]
DEVICES = [
    "cpu",
    pytest.param(
        "cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
    ),
]


def _table(seed: int, n: int = 150) -> tuple[np.ndarray, np.ndarray]:
    """Two numeric columns, an integer-coded and a half-step categorical column."""
    rng = np.random.default_rng(seed)
    X = np.column_stack(
        [
            rng.normal(size=n),
            rng.normal(size=n),
            rng.integers(0, 4, n).astype(float),
            rng.integers(0, 3, n) * 0.5,
        ]
    )
    y = ((X[:, 0] + 0.6 * X[:, 2] + rng.normal(0, 0.6, n)) > 1.2).astype(int) + (X[:, 3] == 1.0)
    return X, y


def _hostile_rows(X: np.ndarray, seed: int) -> np.ndarray:
    """Prediction rows with missing values and categories never seen in training."""
    rng = np.random.default_rng(seed + 100)
    test = X[rng.permutation(len(X))].copy()
    test[::7, 0] = np.nan
    test[::5, 2] = 9.0  # unseen category
    test[::6, 3] = np.nan
    return test


def _assert_same(model: CN2Classifier, tensor, device: str) -> None:
    host = tensor.cpu().numpy()
    proba = model.predict_proba(tensor)
    assert isinstance(proba, torch.Tensor) and proba.device.type == device
    np.testing.assert_array_equal(proba.cpu().numpy(), model.predict_proba(host))
    log_proba = model.predict_log_proba(tensor)
    assert isinstance(log_proba, torch.Tensor)
    # Each library's own log: they may differ in the last bit (torch's and NumPy's
    # log of a ranking list's averaged probabilities do, at 0.717...).
    np.testing.assert_array_max_ulp(log_proba.cpu().numpy(), model.predict_log_proba(host), 1)
    labels = model.predict(tensor)
    expected = model.predict(host)
    if expected.dtype.kind in "iufb":
        assert isinstance(labels, torch.Tensor) and labels.device.type == device
        labels = labels.cpu().numpy()
    np.testing.assert_array_equal(labels, expected)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("ordered", [True, False])
@pytest.mark.parametrize("negations", [False, True])
def test_torch_input_matches_numpy(device, seed, ordered, negations):
    X, y = _table(seed)
    model = CN2Classifier(ordered=ordered, negations=negations, categorical_features=(2, 3))
    model.fit(X, y)
    assert any(c.op in ("==", "!=") for r in model.rules_ for c in r.conditions)
    test = _hostile_rows(X, seed)
    if not ordered:  # some rows fire no rule: flexible matching decides them
        assert not model._coverage(test)[:-1].any(axis=0).all()
    for dtype in (torch.float64, torch.float32):
        _assert_same(model, torch.asarray(test, dtype=dtype, device=device), device)


@pytest.mark.parametrize("seed", SEEDS)
def test_integer_and_boolean_tensors_match_numpy(seed):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 3, (120, 3))
    y = np.where(X[:, 0] == 2, "yes", "no")
    model = CN2Classifier(negations=True, categorical_features="all").fit(X, y)
    _assert_same(model, torch.asarray(rng.integers(0, 4, (50, 3))), "cpu")  # text labels: NumPy
    flags = rng.random((120, 3)) < 0.5
    model = CN2Classifier(ordered=False).fit(flags, flags[:, 1] ^ (rng.random(120) < 0.1))
    _assert_same(model, torch.asarray(rng.random((40, 3)) < 0.5), "cpu")


def test_category_number_agrees_with_the_numpy_category_keys():
    for dtype in (np.float64, np.float32, np.int64):
        for value in (0, 1, 3, 0.5, -2.25, 0.1, 2.0**40):
            column = np.array([value]).astype(dtype)
            key = column_keys(column)[0]
            assert category_number(key, np.dtype(dtype)) == float(column[0])
    assert category_number("True", np.dtype(bool)) == 1.0
    assert category_number("red", np.dtype(np.float64)) is None
    assert category_number("3.5", np.dtype(np.int64)) is None
    assert category_number("inf", np.dtype(np.float64)) is None


def test_bad_foreign_input_is_one_input_error():
    X, y = _table(0)
    model = CN2Classifier(categorical_features=(2, 3)).fit(X, y)
    with pytest.raises(InputError, match="X has 3 features"):
        model.predict(torch.asarray(X[:, :3]))
    with pytest.raises(InputError, match="2D"):
        model.predict_proba(torch.asarray(X[:, 0]))
    bad = torch.asarray(X)
    bad[3, 1] = float("inf")
    with pytest.raises(InputError, match="infinity"):
        model.predict_proba(bad)


def _random_numeric_table(
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """A random numeric table as a foreign array holds one: continuous columns,
    integer-coded and fractional (0.5, 0.25 steps, negative) categorical columns,
    0/1 flags; missing cells; 2-4 classes driven by two of the columns."""
    n, d = int(rng.integers(30, 200)), int(rng.integers(1, 6))
    columns, categorical = [], []
    for j in range(d):
        kind = int(rng.integers(4))
        if kind == 0:
            column = np.round(rng.normal(size=n), int(rng.integers(0, 4)))
        elif kind == 1:
            column = rng.integers(-2, 5, n).astype(float)
            categorical.append(j)
        elif kind == 2:
            column = rng.integers(0, 5, n) * float(rng.choice([0.5, 0.25, -1.5]))
            categorical.append(j)
        else:
            column = (rng.random(n) < 0.5).astype(float)
            if rng.random() < 0.5:
                categorical.append(j)
        columns.append(column)
    X = np.column_stack(columns)
    n_classes = int(rng.integers(2, 5))
    y = (np.digitize(X[:, 0], np.quantile(X[:, 0], [0.3, 0.6, 0.8])) + (X[:, -1] > 0)) % n_classes
    y = np.where(rng.random(n) < 0.2, rng.integers(0, n_classes, n), y)
    X[rng.random(X.shape) < 0.04] = np.nan
    return X, y, tuple(categorical)


@pytest.mark.parametrize("seed", range(4))
def test_random_tables_and_settings_match_numpy(seed):
    """Foreign (torch CPU) prediction equals the NumPy path on the host copy over
    random numeric tables and settings: float64 and float32 tensors (float32 turns
    fractional categories into unseen ones, in both paths alike), int64 and bool
    tensors of the same rows rounded / thresholded, rows with missing cells and
    unseen categories."""
    rng = np.random.default_rng(seed)
    for _ in range(8):
        X, y, categorical = _random_numeric_table(rng)
        params = {
            "ordered": bool(rng.random() < 0.5),
            "negations": bool(rng.random() < 0.5),
            "max_rule_length": int(rng.integers(1, 5)),
            "alpha": float(rng.choice([0.05, 1.0])),
            "rule_distribution": str(rng.choice(["training", "remaining"])),
            "flexible_matching": bool(rng.random() < 0.7),
        }
        model = CN2Classifier(categorical_features=categorical or None, **params).fit(X, y)
        test = X[rng.permutation(len(X))].copy()
        test[rng.random(test.shape) < 0.05] = np.nan
        unseen = rng.random(len(test)) < 0.1
        test[unseen, int(rng.integers(test.shape[1]))] = 9.0  # never a training value
        for dtype in (torch.float64, torch.float32):
            _assert_same(model, torch.asarray(test, dtype=dtype), "cpu")
        whole = np.round(np.nan_to_num(test, nan=0.0))
        _assert_same(model, torch.asarray(whole.astype(np.int64)), "cpu")
        _assert_same(model, torch.asarray(whole > 0), "cpu")
