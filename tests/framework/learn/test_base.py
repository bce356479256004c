"""lamina.learn.base and lamina.learn.datasets against scikit-learn's conventions."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from lamina.errors import InputError, LaminaError
from lamina.learn.base import BaseLearner, ClassifierMixin, clone_learner
from lamina.learn.cv import stratified_folds
from lamina.learn.datasets import categorical_mask, encode_column, load_dataset, read_csv
from lamina.learn.model_file import load_model
from lamina.learn.validation import (
    NotFittedError,
    check_array,
    check_classification_targets,
    check_sample_weight,
)

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone, is_classifier  # noqa: E402
from sklearn.exceptions import DataConversionWarning as SkDataConversionWarning  # noqa: E402
from sklearn.exceptions import NotFittedError as SkNotFittedError  # noqa: E402


class Toy(ClassifierMixin, BaseLearner):
    def __init__(self, *, alpha: float = 1.0, inner: BaseLearner | None = None) -> None:
        self.alpha = alpha
        self.inner = inner

    def fit(self, X, y):
        X = self._validate_x(X, reset=True)
        self.classes_, _ = check_classification_targets(y, X.shape[0])
        self.mean_ = X.mean(axis=0)
        return self

    def predict(self, X):
        self._check_fitted()
        X = self._validate_x(X, reset=False)
        return np.full(X.shape[0], self.classes_[0])


def test_params_roundtrip_and_nesting():
    toy = Toy(alpha=2.0, inner=Toy(alpha=3.0))
    params = toy.get_params()
    assert params["alpha"] == 2.0 and params["inner__alpha"] == 3.0
    toy.set_params(inner__alpha=5.0, alpha=0.5)
    assert toy.inner.alpha == 5.0 and toy.alpha == 0.5
    with pytest.raises(InputError, match="Invalid parameter 'beta'"):
        toy.set_params(beta=1)
    assert repr(Toy()) == "Toy()"
    assert repr(Toy(alpha=0.5)) == "Toy(alpha=0.5)"


def test_sklearn_clone_and_tags_and_clone_learner():
    toy = Toy(alpha=2.0)
    copied = clone(toy)
    assert copied is not toy and copied.get_params() == toy.get_params()
    assert is_classifier(toy)
    assert clone_learner(toy).alpha == 2.0


def test_not_fitted_error_is_recognised_by_sklearn():
    with pytest.raises(SkNotFittedError) as caught:
        Toy().predict(np.ones((2, 2)))
    assert isinstance(caught.value, NotFittedError)
    assert isinstance(caught.value, LaminaError)
    assert isinstance(caught.value, AttributeError)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (np.ones(3), "Reshape your data"),
        (np.empty((0, 3)), "0 sample"),
        (np.empty((4, 0)), r"0 feature\(s\) \(shape=\(4, 0\)\) while a minimum of 1 is required"),
        (np.array([[1.0, np.nan]]), "NaN"),
        (np.array([[1.0, np.inf]]), "infinity"),
        (np.array([[1 + 1j]]), "Complex data not supported"),
        (np.array([["a", "b"]], dtype=object), "not numbers"),
    ],
)
def test_check_array_rejects_bad_input(data, message):
    with pytest.raises(InputError, match=message):
        check_array(data)


def test_check_array_sparse_and_type_errors():
    scipy_sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(InputError, match="sparse"):
        check_array(scipy_sparse.csr_matrix(np.eye(3)))
    assert check_array(scipy_sparse.csr_matrix(np.eye(3)), accept_sparse=True).format == "csr"
    X = np.ones((2, 2), dtype=object)
    X[0, 0] = {"a": 1}
    with pytest.raises(TypeError, match="argument must be"):
        check_array(X)


def test_targets():
    classes, codes = check_classification_targets(["b", "a", "b"])
    assert list(classes) == ["a", "b"] and list(codes) == [1, 0, 1]
    with pytest.raises(InputError, match="Unknown label type: continuous"):
        check_classification_targets([0.5, 1.5])
    # a table's numeric target column arrives as text: still continuous, not 100 classes
    text = np.round(np.random.default_rng(0).normal(size=100), 3).astype(str)
    with pytest.raises(InputError, match="Unknown label type: continuous"):
        check_classification_targets(text)
    assert check_classification_targets(["1", "2", "10"])[0].tolist() == ["1", "10", "2"]
    assert check_classification_targets(["1.5", "a"])[0].tolist() == ["1.5", "a"]
    assert check_classification_targets(["nan", "1"])[0].tolist() == ["1", "nan"]
    with pytest.raises(InputError, match="requires y to be passed"):
        check_classification_targets(None)
    with pytest.raises(InputError, match="inconsistent numbers of samples"):
        check_classification_targets([0, 1], n_samples=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_classification_targets(np.array([[0], [1]]))
    assert any(issubclass(w.category, SkDataConversionWarning) for w in caught)


def test_sample_weight_checks():
    assert check_sample_weight(None, 3).tolist() == [1.0, 1.0, 1.0]
    for bad, message in (
        ([1, -1, 1], "non-negative"),
        ([0, 0, 0], "non-zero"),
        ([1, 1], "expected"),
    ):
        with pytest.raises(InputError, match=message):
            check_sample_weight(bad, 3)


def test_save_load_roundtrip(tmp_path):
    toy = Toy(alpha=3.0).fit(np.arange(6.0).reshape(3, 2), ["x", "y", "x"])
    path = tmp_path / "toy.npz"
    toy.save(path)
    back = load_model(path)
    assert isinstance(back, Toy) and back.alpha == 3.0
    np.testing.assert_array_equal(back.mean_, toy.mean_)
    np.testing.assert_array_equal(back.classes_, toy.classes_)
    with pytest.raises(InputError, match="does not exist"):
        load_model(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match=r"junk\.npz.*not a lamina model file"):
        load_model(tmp_path / "junk.npz")


def test_read_csv_types_missing_and_errors(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,c,label\n1,x,?,yes\n2.5,y,3,no\n,x,4,yes\n")
    data = read_csv(path, target="label")
    assert data.feature_names == ("a", "b", "c")
    assert data.categorical == (False, True, False)
    assert np.isnan(data.X[2, 0]) and np.isnan(data.X[0, 2])
    assert data.y.tolist() == ["yes", "no", "yes"]
    forced = read_csv(path, target="label", categorical=["c"])
    assert forced.categorical == (False, True, True) and forced.X[0, 2] is None
    with pytest.raises(InputError, match="no target column 'nope'; columns are: a, b, c, label"):
        read_csv(path, target="nope")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,label\n1,yes\n2\n")
    with pytest.raises(InputError, match="line 3"):
        read_csv(bad, target="label")
    unlabelled = tmp_path / "unlabelled.csv"
    unlabelled.write_text("a,label\n1,yes\n2,?\n")
    with pytest.raises(InputError, match="line 3: the class"):
        read_csv(unlabelled, target="label")


def test_bundled_tables_match_their_published_sizes():
    expected = {
        "iris": (150, 4, 3),
        "lenses": (24, 4, 3),
        "titanic": (2201, 3, 2),
        "zoo": (101, 16, 7),
    }
    for name, (rows, columns, classes) in expected.items():
        data = load_dataset(name)
        assert (data.n_samples, data.n_features, len(data.classes)) == (rows, columns, classes)
    titanic = load_dataset("titanic")
    assert int(np.sum(titanic.y == "yes")) == 711  # Dawson (1995): 711 survivors
    zoo = load_dataset("zoo")
    labels, counts = np.unique(zoo.y, return_counts=True)
    published = {
        "mammal": 41,
        "bird": 20,
        "reptile": 5,
        "fish": 13,
        "amphibian": 4,
        "insect": 8,
        "invertebrate": 10,
    }
    assert dict(zip(labels.tolist(), counts.tolist(), strict=True)) == published


def test_stratified_folds_are_as_balanced_as_sklearns():
    from sklearn.model_selection import StratifiedKFold

    y = np.repeat(["a", "b", "c"], [50, 30, 7])
    ours = stratified_folds(y, 5, random_state=1)
    theirs = list(StratifiedKFold(5, shuffle=True, random_state=1).split(np.zeros(len(y)), y))
    assert sorted(np.concatenate([t for _, t in ours]).tolist()) == list(range(len(y)))
    for (_, mine), (_, ref) in zip(ours, theirs, strict=True):
        for label in "abc":
            assert abs(np.sum(y[mine] == label) - np.sum(y[ref] == label)) <= 1


@pytest.mark.parametrize("seed", range(6))
def test_stratified_folds_partition_and_balance_random_labels(seed):
    # A seeded grid of label sets: every row in exactly one test fold, train the
    # complement, and each class spread over the folds within one row.
    rng = np.random.default_rng(seed)
    n_splits = int(rng.integers(2, 8))
    y = rng.integers(0, int(rng.integers(1, 6)), int(rng.integers(n_splits, 200)))
    folds = stratified_folds(y, n_splits, random_state=seed)
    tests = np.concatenate([test for _, test in folds])
    assert sorted(tests.tolist()) == list(range(len(y)))
    for train, test in folds:
        assert sorted([*train.tolist(), *test.tolist()]) == list(range(len(y)))
    for label in np.unique(y):
        per_fold = [int(np.sum(y[test] == label)) for _, test in folds]
        assert max(per_fold) - min(per_fold) <= 1


def test_encoding_and_categorical_mask():
    codes = encode_column(np.array(["b", None, "a", 1.0], dtype=object), np.array(["b", "1", "a"]))
    assert codes.codes.tolist() == [0, -1, 2, 1]
    X = np.array([[1.0, "x", True], [2.0, None, False]], dtype=object)
    assert categorical_mask(X, "auto").tolist() == [False, True, True]
    assert categorical_mask(X, (0,)).tolist() == [True, False, False]
    assert categorical_mask(X, ("b",), ["a", "b", "c"]).tolist() == [False, True, False]
    with pytest.raises(InputError, match="no column named 'z'"):
        categorical_mask(X, ("z",), ["a", "b", "c"])


@pytest.mark.parametrize(
    "labels",
    [
        np.random.default_rng(0).integers(-5, 7, 1000),
        np.array([1, 0, 1], dtype=np.uint8),
        np.array([2**62, -3, 5]),
        np.array([3]),
        np.array([4, 9, 4], dtype=np.int16),
    ],
)
def test_integer_labels_encode_as_numpy_unique(labels):
    classes, codes = check_classification_targets(labels)
    expected_classes, expected_codes = np.unique(labels, return_inverse=True)
    assert classes.dtype == expected_classes.dtype
    np.testing.assert_array_equal(classes, expected_classes)
    np.testing.assert_array_equal(codes, expected_codes)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_float_column_keys_are_the_keys_of_each_value(dtype):
    # The vectorised keys of a float column against category_key, value by value:
    # whole numbers past int64 (2**63 and up, 1e300), infinities, -0.0 and NaN included.
    from lamina.learn.datasets import category_key, column_keys

    rng = np.random.default_rng(63)
    edges = [2.0**63, -(2.0**63), 2.0**64, 1e300, -1e300, np.inf, -np.inf, np.nan, -0.0, 0.5]
    for _ in range(50):
        magnitude = 10.0 ** rng.integers(-3, 40, 12)
        values = np.round(rng.normal(size=12) * magnitude, int(rng.integers(0, 3)))
        with np.errstate(over="ignore"):  # past float32's range: infinities
            column = np.concatenate([values, rng.choice(edges, 4)]).astype(dtype)
        expected = [category_key(v) for v in column.tolist()]
        assert column_keys(column).tolist() == expected, column
