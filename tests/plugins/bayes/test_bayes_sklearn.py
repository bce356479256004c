"""Naive Bayes learners against scikit-learn: check_estimator and identical results."""

from __future__ import annotations

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn import naive_bayes as sk  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from lamina.plugins.bayes.categorical import CategoricalNB, MixedNB  # noqa: E402
from lamina.plugins.bayes.discrete import BernoulliNB, ComplementNB, MultinomialNB  # noqa: E402
from lamina.plugins.bayes.gaussian import GaussianNB  # noqa: E402

LEARNERS = [
    GaussianNB(),
    MultinomialNB(),
    ComplementNB(),
    BernoulliNB(),
    CategoricalNB(),
    MixedNB(),
]


@parametrize_with_checks(LEARNERS)
def test_sklearn_check_estimator(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def counts():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    X = rng.poisson(2.0, (600, 40))
    X[y == 1, :6] += rng.poisson(2.0, (int(np.sum(y == 1)), 6))
    X[y == 2, 6:12] += rng.poisson(1.0, (int(np.sum(y == 2)), 6))
    return X, y, rng.random(600) + 0.1


def _same(ours, theirs, X):
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    np.testing.assert_allclose(
        ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-9, atol=1e-12
    )
    np.testing.assert_allclose(
        ours.predict_log_proba(X), theirs.predict_log_proba(X), rtol=1e-9, atol=1e-9
    )
    np.testing.assert_allclose(
        ours.predict_joint_log_proba(X), theirs.predict_joint_log_proba(X), rtol=1e-9, atol=1e-9
    )


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (MultinomialNB(), sk.MultinomialNB()),
        (MultinomialNB(alpha=0.3, fit_prior=False), sk.MultinomialNB(alpha=0.3, fit_prior=False)),
        (MultinomialNB(class_prior=(0.2, 0.3, 0.5)), sk.MultinomialNB(class_prior=[0.2, 0.3, 0.5])),
        (ComplementNB(), sk.ComplementNB()),
        (ComplementNB(norm=True, alpha=0.5), sk.ComplementNB(norm=True, alpha=0.5)),
        (BernoulliNB(binarize=2.0), sk.BernoulliNB(binarize=2.0)),
        (BernoulliNB(alpha=0.1), sk.BernoulliNB(alpha=0.1)),
    ],
    ids=repr,
)
@pytest.mark.parametrize("weighted", [False, True])
def test_discrete_models_match_sklearn(counts, ours, theirs, weighted):
    X, y, w = counts
    weights = w if weighted else None
    ours.fit(X, y, sample_weight=weights)
    theirs.fit(X, y, sample_weight=weights)
    np.testing.assert_allclose(ours.feature_log_prob_, theirs.feature_log_prob_, rtol=1e-12)
    np.testing.assert_allclose(ours.class_count_, theirs.class_count_)
    _same(ours, theirs, X)


@pytest.mark.parametrize("model_class", [MultinomialNB, ComplementNB, BernoulliNB])
def test_two_classes_match_sklearn(counts, model_class):
    """Two classes take the per-class products of ``class_sums`` / ``thin_product``."""
    X, y, w = counts
    two = y < 2
    ours = model_class().fit(X[two], y[two], sample_weight=w[two])
    theirs = getattr(sk, model_class.__name__)().fit(X[two], y[two], sample_weight=w[two])
    np.testing.assert_allclose(ours.feature_log_prob_, theirs.feature_log_prob_, rtol=1e-12)
    _same(ours, theirs, X)


def test_class_sums_and_thin_product_equal_the_plain_products():
    from lamina.plugins.bayes.base import class_sums, thin_product

    rng = np.random.default_rng(1)
    X = rng.random((300, 7))
    for k in (1, 2, 3, 5):
        Y = rng.random((300, k))
        np.testing.assert_allclose(class_sums(Y, X), Y.T @ X, rtol=1e-12)
        np.testing.assert_allclose(thin_product(X, Y[:7]), X @ Y[:7], rtol=1e-12)


def test_sparse_input_equals_dense(counts):
    scipy_sparse = pytest.importorskip("scipy.sparse")
    X, y, _ = counts
    for model in (MultinomialNB(), ComplementNB(), BernoulliNB(binarize=1.0)):
        dense = type(model)(**model.get_params()).fit(X, y)
        sparse = type(model)(**model.get_params()).fit(scipy_sparse.csr_matrix(X), y)
        np.testing.assert_allclose(
            sparse.predict_proba(scipy_sparse.csr_matrix(X)), dense.predict_proba(X)
        )


@pytest.mark.parametrize("weighted", [False, True])
def test_gaussian_matches_sklearn(weighted):
    rng = np.random.default_rng(3)
    y = rng.integers(0, 4, 800)
    X = rng.normal(size=(800, 12)) * rng.uniform(0.5, 5.0, 12) + 1e3  # far from the origin
    X += y[:, None] * 0.4
    w = rng.random(800) if weighted else None
    ours, theirs = (
        GaussianNB().fit(X, y, sample_weight=w),
        sk.GaussianNB().fit(X, y, sample_weight=w),
    )
    np.testing.assert_allclose(ours.theta_, theirs.theta_, rtol=1e-12)
    # epsilon_ is var_smoothing times the (weighted) variance of the data: equal without weights
    np.testing.assert_allclose(ours.var_ - ours.epsilon_, theirs.var_ - theirs.epsilon_, rtol=1e-9)
    if not weighted:
        assert ours.epsilon_ == pytest.approx(theirs.epsilon_, rel=1e-9)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    np.testing.assert_allclose(
        ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-6, atol=1e-10
    )
    with_priors = GaussianNB(priors=(0.1, 0.2, 0.3, 0.4)).fit(X, y)
    reference = sk.GaussianNB(priors=[0.1, 0.2, 0.3, 0.4]).fit(X, y)
    np.testing.assert_allclose(
        with_priors.predict_proba(X), reference.predict_proba(X), rtol=1e-7, atol=1e-10
    )


def test_categorical_matches_sklearn_on_integer_codes():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, 500)
    X = rng.integers(0, 4, (500, 7))
    X[:, 2] = rng.choice([0, 3, 6], 500)  # codes never seen still count, as in scikit-learn
    X[y == 2, 0] = 3
    w = rng.random(500)
    for params in ({}, {"alpha": 0.5}, {"min_categories": 9}, {"fit_prior": False}):
        ours = CategoricalNB(**params).fit(X, y, sample_weight=w)
        theirs = sk.CategoricalNB(**params).fit(X, y, sample_weight=w)
        np.testing.assert_array_equal(ours.n_categories_, theirs.n_categories_)
        for a, b in zip(ours.feature_log_prob_, theirs.feature_log_prob_, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12)
        _same(ours, theirs, X)


def test_unseen_categories_and_missing_values_do_not_crash():
    X = np.array(
        [["red", "S"], ["red", "M"], ["blue", "L"], ["blue", "M"], ["red", None]], dtype=object
    )
    y = np.array([0, 0, 1, 1, 0])
    model = CategoricalNB().fit(X, y)
    test = np.array([["green", "XL"], ["red", "XL"], [None, "L"]], dtype=object)
    proba = model.predict_proba(test)
    # an unseen category adds no evidence: only the prior (and the known column) speaks
    prior = np.exp(model.class_log_prior_)
    np.testing.assert_allclose(proba[0], prior / prior.sum())
    assert model.predict(test).tolist() == [0, 0, 1]
    # scikit-learn itself fails on an unseen integer code (its issue #16028)
    codes = np.array([[0, 1], [1, 0], [1, 1], [0, 0]])
    ours = CategoricalNB().fit(codes, [0, 1, 1, 0])
    assert ours.predict([[5, 1]]).shape == (1,)
    with pytest.raises(IndexError):
        sk.CategoricalNB().fit(codes, [0, 1, 1, 0]).predict([[5, 1]])


@pytest.mark.parametrize(
    "model_class", [GaussianNB, MultinomialNB, BernoulliNB, ComplementNB, CategoricalNB]
)
def test_partial_fit_in_batches_equals_fit(counts, model_class):
    X, y, w = counts
    whole = model_class().fit(X, y, sample_weight=w)
    streamed = model_class()
    for start in range(0, len(y), 97):
        part = slice(start, start + 97)
        streamed.partial_fit(X[part], y[part], classes=[0, 1, 2], sample_weight=w[part])
    np.testing.assert_allclose(
        streamed.predict_proba(X), whole.predict_proba(X), rtol=1e-9, atol=1e-12
    )


def test_partial_fit_errors():
    model = GaussianNB()
    with pytest.raises(ValueError, match="classes must be passed"):
        model.partial_fit(np.ones((2, 2)), [0, 1])
    model.partial_fit(np.ones((2, 2)), [0, 1], classes=[0, 1])
    with pytest.raises(ValueError, match="do not exist in the initial classes"):
        model.partial_fit(np.ones((2, 2)), [0, 7])


def test_thousands_of_features_do_not_underflow():
    rng = np.random.default_rng(2)
    y = np.repeat([0, 1], 100)
    X = rng.poisson(3.0, (200, 20000))
    X[y == 1, :50] += 3
    proba = MultinomialNB().fit(X, y).predict_proba(X)
    assert np.all(np.isfinite(proba)) and np.allclose(proba.sum(axis=1), 1.0)
    assert MultinomialNB().fit(X, y).score(X, y) > 0.95
    G = rng.normal(size=(200, 5000)) + y[:, None] * 0.2
    assert np.all(np.isfinite(GaussianNB().fit(G, y).predict_log_proba(G)))


def test_mixed_nb_combines_gaussian_and_categorical_exactly():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 300)
    numeric = rng.normal(size=(300, 2)) + y[:, None]
    colours = np.where(rng.random(300) < 0.3 + 0.4 * y, "red", "blue")
    X = np.empty((300, 3), dtype=object)
    X[:, :2], X[:, 2] = numeric, colours
    mixed = MixedNB().fit(X, y)
    assert mixed.categorical_.tolist() == [False, False, True]
    gaussian = GaussianNB().fit(numeric, y)
    categorical = CategoricalNB().fit(colours[:, None], y)
    expected = (
        gaussian.predict_joint_log_proba(numeric)
        + categorical.predict_joint_log_proba(colours[:, None])
        - np.log(gaussian.class_prior_)
    )
    np.testing.assert_allclose(mixed.predict_joint_log_proba(X), expected, rtol=1e-7)
    # a missing numeric value is marginalised out, an unseen colour too
    X_missing = X[:5].copy()
    X_missing[:, 0] = np.nan
    X_missing[:, 2] = "green"
    only_second = GaussianNB().fit(numeric[:, 1:], y)
    np.testing.assert_allclose(
        mixed.predict_proba(X_missing), only_second.predict_proba(numeric[:5, 1:]), rtol=1e-6
    )


@pytest.mark.parametrize(
    ("model", "X", "y", "message"),
    [
        (GaussianNB(), [[1.0, np.nan], [2.0, 1.0]], [0, 1], "NaN"),
        (MultinomialNB(), [[1, -1], [2, 1]], [0, 1], r"Negative values .* X\[0, 1\] = -1"),
        (GaussianNB(), [[1.0], [2.0]], [0, 1, 1], "inconsistent numbers of samples"),
        (GaussianNB(), np.empty((0, 2)), [], "0 sample"),
        (GaussianNB(var_smoothing=-1.0), [[1.0], [2.0]], [0, 1], "var_smoothing"),
        (MultinomialNB(alpha=-1.0), [[1], [2]], [0, 1], "alpha"),
        (CategoricalNB(min_categories=0), [[1], [2]], [0, 1], "min_categories"),
    ],
)
def test_bad_input_raises_input_error(model, X, y, message):
    from lamina.errors import InputError

    with pytest.raises(InputError, match=message):
        model.fit(X, y)


@pytest.mark.parametrize("model", [MultinomialNB(), ComplementNB(), BernoulliNB()])
@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.nan, r"NaN \(first at index \(1, 2\)\)"),
        (np.inf, r"infinity .*\(1, 2\)"),
        (-np.inf, "infinity"),
    ],
)
def test_count_models_name_nan_and_infinity_in_fit_and_predict(model, bad, message):
    # The count models skip the separate finite pass: the error must still name it.
    from lamina.errors import InputError

    X = np.arange(12, dtype=np.float64).reshape(4, 3)
    y = np.array([0, 1, 0, 1])
    broken = X.copy()
    broken[1, 2] = bad
    with pytest.raises(InputError, match=message):
        model.fit(broken, y)
    model.fit(X, y)
    with pytest.raises(InputError, match=message):
        model.predict(broken)


def test_count_overflow_is_not_reported_as_bad_input():
    from lamina.errors import InputError

    X = np.array([[1e308, 1.0], [1e308, 2.0], [1.0, 1.0]])
    with pytest.raises(InputError, match="overflow"):
        MultinomialNB().fit(X, [0, 0, 1])


def test_drop_in_sklearn_pipelines_and_search():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    scores = cross_val_score(make_pipeline(StandardScaler(), GaussianNB()), X, y, cv=5)
    reference = cross_val_score(make_pipeline(StandardScaler(), sk.GaussianNB()), X, y, cv=5)
    np.testing.assert_allclose(scores, reference)
    search = GridSearchCV(GaussianNB(), {"var_smoothing": [1e-9, 1e-3]}, cv=3).fit(X, y)
    assert search.best_params_["var_smoothing"] in (1e-9, 1e-3)


def test_inputs_are_not_modified(counts):
    X, y, w = counts
    X_copy, w_copy = X.copy(), w.copy()
    for model in (
        GaussianNB(),
        MultinomialNB(),
        BernoulliNB(),
        ComplementNB(),
        CategoricalNB(),
        MixedNB(),
    ):
        model.fit(X, y, sample_weight=w).predict_proba(X)
        np.testing.assert_array_equal(X, X_copy)
        np.testing.assert_array_equal(w, w_copy)


@pytest.mark.parametrize("scale", [1e160, 1e200, 1e300])
def test_gaussian_on_huge_values_says_so_without_numpy_warnings(scale):
    # scikit-learn prints overflow warnings and predicts one class; lamina gives one clear line.
    import warnings

    from lamina.errors import InputError

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3)) * scale
    y = np.repeat([0, 1], 20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputError, match=r"variance of feature 0 overflows float64.*rescale"):
            GaussianNB().fit(X, y)
        model = GaussianNB().fit(X / scale, y)
        with pytest.raises(InputError, match=r"sample 0 of X .* overflows float64"):
            model.predict(X)


@pytest.mark.parametrize("scale", [1e160, 1e300])
def test_mixed_on_huge_values_says_so_naming_the_users_column(scale):
    # MixedNB's Gaussian part, as GaussianNB above: one InputError, no numpy warnings, and
    # the feature number is the column of the user's table (column 0 is categorical here).
    import warnings

    from lamina.errors import InputError

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 20)
    colours = np.array(["red", "blue"], dtype=object)[rng.integers(0, 2, 40)]
    X = np.column_stack([colours, rng.normal(size=(40, 2))]).astype(object)
    huge = X.copy()
    huge[:, 2] = huge[:, 2].astype(float) * scale
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputError, match=r"MixedNB: the variance of feature 2 overflows"):
            MixedNB().fit(huge, y)
        model = MixedNB().fit(X, y)
        with pytest.raises(InputError, match=r"MixedNB: sample 0 of X .* overflows float64"):
            model.predict(huge)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gaussian_keeps_the_input_dtype(dtype):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 4)).astype(dtype)
    y = rng.integers(0, 3, 50)
    ours = GaussianNB().fit(X, y)
    theirs = sk.GaussianNB().fit(X, y)
    for name in ("theta_", "var_", "class_prior_", "class_count_"):
        assert getattr(ours, name).dtype == getattr(theirs, name).dtype == dtype
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


@pytest.mark.parametrize(
    "model_class", [GaussianNB, MultinomialNB, ComplementNB, BernoulliNB, CategoricalNB, MixedNB]
)
def test_one_class_fits_and_predicts_it_as_sklearn(model_class):
    X = np.array([[1, 0], [0, 2], [3, 1]])
    model = model_class().fit(X, ["only"] * 3)
    assert model.predict(X).tolist() == ["only"] * 3
    np.testing.assert_array_equal(model.predict_proba(X), np.ones((3, 1)))


@pytest.mark.parametrize("codes", [[[0, -1]], [[-2.0, 1.0]]])
def test_categorical_negative_codes_raise_at_fit_and_predict(codes):
    from lamina.errors import InputError

    model = CategoricalNB().fit([[0, 1], [1, 0]], [0, 1])
    with pytest.raises(InputError, match=r"Negative values in data passed to CategoricalNB"):
        model.predict(codes)
    with pytest.raises(InputError, match=r"Negative values"):
        CategoricalNB().fit(codes, [0])
    # as text, negative numbers are ordinary categories
    text = np.array([["-1", "a"], ["2", "b"]], dtype=object)
    assert CategoricalNB().fit(text, [0, 1]).predict(text).tolist() == [0, 1]


@pytest.mark.parametrize("learner", ["gaussian-nb", "mixed-nb"])
def test_learn_on_huge_values_exits_2_with_one_line(tmp_path, learner):
    # Bad data, not a failed run: the fix (rescaling) is the user's.
    from click.testing import CliRunner

    from lamina.cli import main

    rng = np.random.default_rng(0)
    rows = [",".join(repr(float(v)) for v in row) for row in rng.normal(size=(40, 2)) * 1e300]
    table = tmp_path / "huge.csv"
    table.write_text("a,b,label\n" + "".join(f"{r},{'xy'[i % 2]}\n" for i, r in enumerate(rows)))
    result = CliRunner().invoke(
        main, ["learn", learner, "--data", str(table), "--target", "label", "--cv", "2"]
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and "overflows float64" in lines[0] and "rescale X" in lines[0]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("model_class", [CategoricalNB, MixedNB])
def test_text_categories_equal_scikit_learn_with_an_ordinal_encoder(seed, model_class):
    """scikit-learn's CategoricalNB refuses text ("invalid literal for int()") and
    its users put an OrdinalEncoder in front; lamina reads text columns itself
    (fixed-width or object arrays) and must give what that pipeline gives.
    Deliberate difference: an unseen category adds no evidence here, where the
    encoder raises "Found unknown categories"."""
    from sklearn.preprocessing import OrdinalEncoder

    rng = np.random.default_rng(seed)
    n_features, n_classes = int(rng.integers(1, 5)), int(rng.integers(2, 5))
    words = np.array(["red", "green", "blue", "a b", "Ünïcode", "-1", "0.5", ""])
    per_column = rng.integers(1, len(words) + 1, n_features)
    X = np.stack([rng.choice(words[:k], 150) for k in per_column], axis=1)
    y = rng.integers(0, n_classes, 150)
    alpha = float(rng.choice([0.1, 1.0, 2.5]))
    with pytest.raises(ValueError, match="invalid literal for int"):
        sk.CategoricalNB().fit(X, y)
    theirs = make_pipeline(OrdinalEncoder(), sk.CategoricalNB(alpha=alpha)).fit(X, y)
    for data in (X, X.astype(object)):
        ours = model_class(alpha=alpha).fit(data, y)
        np.testing.assert_allclose(ours.predict_proba(data), theirs.predict_proba(X), rtol=1e-10)
        np.testing.assert_array_equal(ours.predict(data), theirs.predict(X))
    unseen = X[:3].copy()
    unseen[:, 0] = "never seen"
    with pytest.raises(ValueError, match="unknown categories"):
        theirs.predict(unseen)
    assert ours.predict(unseen).shape == (3,)
