"""scikit-learn's naive Bayes test cases (``sklearn/tests/test_naive_bayes.py``),
case by case, run against lamina's classes.

Each test below carries the name of the scikit-learn test it reproduces, with
the same data, the same assertions and scikit-learn's messages where users
match on them. ``SEEDS`` stands in for scikit-learn's ``global_random_seed``
fixture (widen it to ``range(100)`` to run the full grid).

Deliberate differences, each with its reason:

- ``test_gnb_check_update_with_no_data`` calls scikit-learn's private
  ``GaussianNB._update_mean_variance``; lamina's one merge rule is the public
  :func:`lamina.plugins.bayes.gaussian.merge_moments`, tested on an empty batch.
- ``test_check_alpha`` and the end of ``test_alpha_vector`` call the private
  ``_check_alpha()`` method; lamina's rule is the public function
  :func:`lamina.plugins.bayes.base.check_alpha`, tested with the same values.
- ``test_gnb_array_api_compliance`` needs ``config_context(array_api_dispatch=True)``
  in scikit-learn; lamina follows the input's namespace without a switch (see
  ``test_bayes_array_api.py``).
- Messages carry lamina's prefix (the class and parameter) before scikit-learn's
  text, so ``match=`` patterns written for scikit-learn still match.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from numpy.testing import (
    assert_allclose,
    assert_almost_equal,
    assert_array_almost_equal,
    assert_array_equal,
)
from scipy.special import logsumexp
from sklearn.datasets import load_digits, load_iris
from sklearn.model_selection import cross_val_score, train_test_split

from lamina.plugins.bayes.base import ALPHA_MIN, check_alpha
from lamina.plugins.bayes.categorical import CategoricalNB
from lamina.plugins.bayes.discrete import BernoulliNB, ComplementNB, MultinomialNB
from lamina.plugins.bayes.gaussian import GaussianNB, merge_moments

DISCRETE = [BernoulliNB, CategoricalNB, ComplementNB, MultinomialNB]
ALL = [*DISCRETE, GaussianNB]
SEEDS = [0, 1, 42]

# six separable points in the plane
X = np.array([[-2, -1], [-1, -1], [-1, -2], [1, 1], [1, 2], [2, 1]])
y = np.array([1, 1, 1, 2, 2, 2])


def normal_x_binary_y(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(seed)
    return rng.normal(size=(10, 3)), (rng.normal(size=10) > 0).astype(int)


def integer_x_three_classes(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(seed)
    return rng.randint(5, size=(6, 100)), np.array([1, 1, 2, 2, 3, 3])


def test_gnb():
    clf = GaussianNB()
    assert_array_equal(clf.fit(X, y).predict(X), y)
    assert_array_almost_equal(np.log(clf.predict_proba(X)), clf.predict_log_proba(X), 8)
    with pytest.raises(
        ValueError, match=r"The target label.* in y do not exist in the initial classes"
    ):
        GaussianNB().partial_fit(X, y, classes=[0, 1])


def test_gnb_label_message_prints_plain_values():
    with pytest.raises(ValueError) as caught:
        GaussianNB().partial_fit(X, y, classes=[0, 1])
    message = str(caught.value)
    assert "[2]" in message and "[0, 1]" in message and "np.int64" not in message


@pytest.mark.parametrize("seed", SEEDS)
def test_gnb_prior(seed):
    clf = GaussianNB().fit(X, y)
    assert_array_almost_equal(np.array([3, 3]) / 6.0, clf.class_prior_, 8)
    X1, y1 = normal_x_binary_y(seed)
    assert_array_almost_equal(GaussianNB().fit(X1, y1).class_prior_.sum(), 1)


@pytest.mark.parametrize("seed", SEEDS)
def test_gnb_sample_weight(seed):
    ones = GaussianNB().fit(X, y, np.ones(6))
    plain = GaussianNB().fit(X, y)
    assert_array_almost_equal(plain.theta_, ones.theta_)
    assert_array_almost_equal(plain.var_, ones.var_)

    rng = np.random.RandomState(seed)
    sw = rng.rand(y.shape[0])
    once = GaussianNB().fit(X, y, sample_weight=sw)
    twice = GaussianNB().partial_fit(X, y, classes=[1, 2], sample_weight=sw / 2)
    twice.partial_fit(X, y, sample_weight=sw / 2)
    assert_array_almost_equal(once.theta_, twice.theta_)
    assert_array_almost_equal(once.var_, twice.var_)

    rows = rng.randint(0, X.shape[0], 20)
    duplicated = GaussianNB().fit(X[rows], y[rows])
    weighted = GaussianNB().fit(X, y, np.bincount(rows, minlength=X.shape[0]))
    assert_array_almost_equal(duplicated.theta_, weighted.theta_)
    assert_array_almost_equal(duplicated.var_, weighted.var_)

    # scikit-learn gh-24140: one class with non-zero weight fits (no division by zero)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        one = GaussianNB().fit(X, y, sample_weight=(y == 1).astype(np.float64))
    assert_array_equal(one.predict(X), np.ones(6))


def test_gnb_neg_priors():
    with pytest.raises(ValueError, match="Priors must be non-negative"):
        GaussianNB(priors=np.array([-1.0, 2.0])).fit(X, y)


def test_gnb_priors():
    clf = GaussianNB(priors=np.array([0.3, 0.7])).fit(X, y)
    assert_array_almost_equal(
        clf.predict_proba([[-0.1, -0.1]]), np.array([[0.825303662161683, 0.174696337838317]]), 8
    )
    assert_array_almost_equal(clf.class_prior_, np.array([0.3, 0.7]))


def test_gnb_priors_sum_isclose():
    X10 = np.array(
        [[-1, -1], [-2, -1], [-3, -2], [-4, -5], [-5, -4], [1, 1], [2, 1], [3, 2], [4, 4], [5, 5]]
    )
    priors = np.array([0.08, 0.14, 0.03, 0.16, 0.11, 0.16, 0.07, 0.14, 0.11, 0.0])
    GaussianNB(priors=priors).fit(X10, np.arange(1, 11))  # scikit-learn issue #9633


def test_gnb_wrong_nb_priors():
    with pytest.raises(ValueError, match="Number of priors must match number of classes"):
        GaussianNB(priors=np.array([0.25, 0.25, 0.25, 0.25])).fit(X, y)


def test_gnb_prior_greater_one():
    with pytest.raises(ValueError, match="The sum of the priors should be 1"):
        GaussianNB(priors=np.array([2.0, 1.0])).fit(X, y)


def test_gnb_prior_large_bias():
    assert GaussianNB(priors=np.array([0.01, 0.99])).fit(X, y).predict([[-0.1, -0.1]]) == 2


def test_gnb_check_update_with_no_data():
    # Difference: lamina's merge rule is public (merge_moments), scikit-learn's private.
    count, mean, m2 = np.array([100.0]), np.array([0.0]), np.array([100.0])
    merged = merge_moments(count, mean, m2, np.zeros(1), np.zeros(1), np.zeros(1))
    assert_array_equal(merged[0], count)
    assert_array_equal(merged[1], mean)
    assert_array_equal(merged[2] / merged[0], m2 / count)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gnb_partial_fit(dtype):
    X_ = X.astype(dtype)
    full = GaussianNB().fit(X_, y)
    streamed = GaussianNB().partial_fit(X_, y, np.unique(y))
    halves = GaussianNB().partial_fit(X_[0::2], y[0::2], np.unique(y))
    halves.partial_fit(X_[1::2], y[1::2])
    for other in (streamed, halves):
        for name in ("class_prior_", "theta_", "var_"):
            assert getattr(full, name).dtype == getattr(other, name).dtype == X_.dtype
            assert_array_almost_equal(getattr(full, name), getattr(other, name))


def test_gnb_naive_bayes_scale_invariance():
    iris = load_iris()
    labels = [
        GaussianNB().fit(f * iris.data, iris.target).predict(f * iris.data)
        for f in [1e-10, 1, 1e10]
    ]
    assert_array_equal(labels[0], labels[1])
    assert_array_equal(labels[1], labels[2])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("model_class", DISCRETE)
def test_discretenb_prior(model_class, seed):
    X2, y2 = integer_x_three_classes(seed)
    clf = model_class().fit(X2, y2)
    assert_array_almost_equal(np.log(np.array([2, 2, 2]) / 6.0), clf.class_log_prior_, 8)


@pytest.mark.parametrize("model_class", DISCRETE)
def test_discretenb_partial_fit(model_class):
    rows, labels = [[0, 1], [1, 0], [1, 1]], [0, 1, 1]
    clf1 = model_class().fit(rows, labels)
    clf2 = model_class().partial_fit(rows, labels, classes=[0, 1])
    assert_array_equal(clf1.class_count_, clf2.class_count_)
    if model_class is CategoricalNB:
        for a, b in zip(clf1.category_count_, clf2.category_count_, strict=True):
            assert_array_equal(a, b)
    else:
        assert_array_equal(clf1.feature_count_, clf2.feature_count_)

    clf3 = model_class()
    clf3.partial_fit([[0, 1]], [0], classes=[0, 1])
    clf3.partial_fit([[1, 0]], [1])
    clf3.partial_fit([[1, 1]], [1])
    assert_array_equal(clf1.class_count_, clf3.class_count_)
    if model_class is CategoricalNB:
        for a, b in zip(clf1.category_count_, clf3.category_count_, strict=True):
            assert_array_equal(a.shape, b.shape)
            assert_array_equal(a.sum(axis=1), b.sum(axis=1))
        assert_array_equal(clf1.category_count_[0][0], [1, 0])
        assert_array_equal(clf1.category_count_[0][1], [0, 2])
        assert_array_equal(clf1.category_count_[1][0], [0, 1])
        assert_array_equal(clf1.category_count_[1][1], [1, 1])
    else:
        assert_array_equal(clf1.feature_count_, clf3.feature_count_)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("model_class", ALL)
def test_nb_partial_fit_no_first_classes(  # scikit-learn: test_NB_partial_fit_no_first_classes
    model_class, seed
):
    X2, y2 = integer_x_three_classes(seed)
    with pytest.raises(
        ValueError, match=r"classes must be passed on the first call to partial_fit."
    ):
        model_class().partial_fit(X2, y2)
    clf = model_class().partial_fit(X2, y2, classes=np.unique(y2))
    with pytest.raises(
        ValueError, match="is not the same as on last call to partial_fit"
    ) as caught:
        clf.partial_fit(X2, y2, classes=np.arange(42))
    assert "was: [1, 2, 3]" in str(caught.value)


def test_discretenb_predict_proba():
    X_bernoulli = [[1, 100, 0], [0, 1, 0], [0, 100, 1]]
    X_multinomial = [[0, 1], [1, 3], [4, 0]]
    for model_class, data in zip(
        [BernoulliNB, MultinomialNB], [X_bernoulli, X_multinomial], strict=True
    ):
        clf = model_class().fit(data, [0, 0, 2])  # 2: scikit-learn's regression test 02e673
        assert clf.predict(data[-1:]) == 2
        assert clf.predict_proba([data[0]]).shape == (1, 2)
        assert_array_almost_equal(clf.predict_proba(data[:2]).sum(axis=1), [1.0, 1.0], 6)
    for model_class, data in zip(
        [BernoulliNB, MultinomialNB], [X_bernoulli, X_multinomial], strict=True
    ):
        clf = model_class().fit(data, [0, 1, 2])
        assert clf.predict_proba(data[0:1]).shape == (1, 3)
        assert clf.predict_proba(data[:2]).shape == (2, 3)
        assert_almost_equal(np.sum(clf.predict_proba([data[1]])), 1)
        assert_almost_equal(np.sum(clf.predict_proba([data[-1]])), 1)
        assert_almost_equal(np.sum(np.exp(clf.class_log_prior_)), 1)


@pytest.mark.parametrize("model_class", DISCRETE)
def test_discretenb_uniform_prior(model_class):
    clf = model_class().set_params(fit_prior=False).fit([[0], [0], [1]], [0, 0, 1])
    assert_array_almost_equal(np.exp(clf.class_log_prior_), [0.5, 0.5])


@pytest.mark.parametrize("model_class", DISCRETE)
def test_discretenb_provide_prior(model_class):
    clf = model_class(class_prior=[0.5, 0.5]).fit([[0], [0], [1]], [0, 0, 1])
    assert_array_almost_equal(np.exp(clf.class_log_prior_), [0.5, 0.5])
    with pytest.raises(ValueError, match="Number of priors must match number of classes"):
        clf.fit([[0], [1], [2]], [0, 1, 2])
    with pytest.raises(ValueError, match="is not the same as on last call to partial_fit"):
        clf.partial_fit([[0], [1]], [0, 1], classes=[0, 1, 1])


@pytest.mark.parametrize("model_class", DISCRETE)
def test_discretenb_provide_prior_with_partial_fit(model_class):
    iris = load_iris()
    first, second, target1, target2 = train_test_split(
        iris.data, iris.target, test_size=0.4, random_state=415
    )
    for prior in [None, [0.3, 0.3, 0.4]]:
        full = model_class(class_prior=prior).fit(iris.data, iris.target)
        partial = model_class(class_prior=prior)
        partial.partial_fit(first, target1, classes=[0, 1, 2])
        partial.partial_fit(second, target2)
        assert_array_almost_equal(full.class_log_prior_, partial.class_log_prior_)


@pytest.mark.parametrize("model_class", DISCRETE)
def test_discretenb_sample_weight_multiclass(model_class):
    data = [[0, 0, 1], [0, 1, 1], [0, 1, 1], [1, 0, 0]]
    labels = [0, 0, 1, 2]
    sw = np.array([1, 1, 2, 2], dtype=np.float64)
    sw /= sw.sum()
    assert_array_equal(
        model_class().fit(data, labels, sample_weight=sw).predict(data), [0, 1, 1, 2]
    )
    clf = model_class()
    clf.partial_fit(data[:2], labels[:2], classes=[0, 1, 2], sample_weight=sw[:2])
    clf.partial_fit(data[2:3], labels[2:3], sample_weight=sw[2:3])
    clf.partial_fit(data[3:], labels[3:], sample_weight=sw[3:])
    assert_array_equal(clf.predict(data), [0, 1, 1, 2])


@pytest.mark.parametrize("model_class", DISCRETE)
@pytest.mark.parametrize("use_partial_fit", [False, True])
@pytest.mark.parametrize("one_class", [False, True])
def test_discretenb_degenerate_one_class_case(model_class, use_partial_fit, one_class):
    data, labels = [[1, 0, 0], [0, 1, 0], [0, 0, 1]], [1, 1, 2]
    if one_class:
        data, labels = data[:-1], labels[:-1]
    classes = sorted(set(labels))
    clf = model_class()
    if use_partial_fit:
        clf.partial_fit(data, labels, classes=classes)
    else:
        clf.fit(data, labels)
    assert clf.predict(data[:1]) == labels[0]
    for name in (
        "classes_",
        "class_count_",
        "class_log_prior_",
        "feature_count_",
        "feature_log_prob_",
    ):
        value = getattr(clf, name, None)
        if value is None:
            continue  # CategoricalNB has no feature_count_
        for part in [value] if isinstance(value, np.ndarray) else value:
            assert part.shape[0] == len(classes)


@pytest.mark.parametrize("use_partial_fit", [False, True])
def test_gnb_degenerate_one_class_case(use_partial_fit):
    # scikit-learn's GaussianNB fits one class too (its check_classifiers_one_label)
    clf = GaussianNB()
    if use_partial_fit:
        clf.partial_fit(X[:3], y[:3], classes=[1])
    else:
        clf.fit(X[:3], y[:3])
    assert_array_equal(clf.predict(X), np.ones(6))
    assert_array_equal(clf.predict_proba(X), np.ones((6, 1)))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("sparse", [False, True])
def test_mnnb(sparse, seed):
    X2, y2 = integer_x_three_classes(seed)
    data = X2
    if sparse:
        import scipy.sparse

        data = scipy.sparse.csr_matrix(X2)
    clf = MultinomialNB()
    with pytest.raises(ValueError, match="Negative values in data passed to"):
        clf.fit(-data, y2)
    assert_array_equal(clf.fit(data, y2).predict(data), y2)
    proba, log_proba = clf.predict_proba(data), clf.predict_log_proba(data)
    assert_array_almost_equal(np.log(proba), log_proba, 8)

    batches = MultinomialNB()
    batches.partial_fit(data[:2], y2[:2], classes=np.unique(y2))
    batches.partial_fit(data[2:5], y2[2:5])
    batches.partial_fit(data[5:], y2[5:])
    whole = MultinomialNB().partial_fit(data, y2, classes=np.unique(y2))
    for other in (batches, whole):
        assert_array_equal(other.predict(data), y2)
        assert_array_almost_equal(
            np.log(other.predict_proba(data)), other.predict_log_proba(data), 8
        )
        assert_array_almost_equal(other.predict_proba(data), proba)
        assert_array_almost_equal(other.predict_log_proba(data), log_proba)


def test_mnb_prior_unobserved_targets():
    clf = MultinomialNB()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        clf.partial_fit(np.array([[0, 1], [1, 0]]), np.array([0, 1]), classes=[0, 1, 2])
    assert clf.predict([[0, 1]]) == 0
    assert clf.predict([[1, 0]]) == 1
    assert clf.predict([[1, 1]]) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        clf.partial_fit([[1, 1]], [2])
    assert clf.predict([[0, 1]]) == 0
    assert clf.predict([[1, 0]]) == 1
    assert clf.predict([[1, 1]]) == 2


# Manning, Raghavan & Schuetze, "Introduction to Information Retrieval", the Bernoulli
# model's example: features Beijing, Chinese, Japan, Macao, Shanghai, Tokyo.
IR_X = np.array([[1, 1, 0, 0, 0, 0], [0, 1, 0, 0, 1, 0], [0, 1, 0, 1, 0, 0], [0, 1, 1, 0, 0, 1]])
IR_Y = np.array([0, 0, 0, 1])  # China, Japan


def test_bnb():
    clf = BernoulliNB(alpha=1.0).fit(IR_X, IR_Y)
    assert_array_almost_equal(np.exp(clf.class_log_prior_), [0.75, 0.25])
    feature_prob = np.array(
        [[0.4, 0.8, 0.2, 0.4, 0.4, 0.2], [1 / 3.0, 2 / 3.0, 2 / 3.0, 1 / 3.0, 1 / 3.0, 2 / 3.0]]
    )
    assert_array_almost_equal(np.exp(clf.feature_log_prob_), feature_prob)
    unnormalised = np.array([[0.005183999999999999, 0.02194787379972565]])
    assert_array_almost_equal(
        clf.predict_proba(np.array([[0, 1, 1, 0, 0, 1]])), unnormalised / unnormalised.sum()
    )


def test_bnb_feature_log_prob():
    data = np.array([[0, 0, 0], [1, 1, 0], [0, 1, 0], [1, 0, 1], [0, 1, 0]])
    clf = BernoulliNB(alpha=1.0).fit(data, np.array([0, 0, 1, 2, 2]))
    numerator = np.log(clf.feature_count_ + 1.0)
    denominator = np.tile(np.log(clf.class_count_ + 2.0), (data.shape[1], 1)).T
    assert_array_almost_equal(clf.feature_log_prob_, numerator - denominator)


def test_cnb():
    theta = np.array(
        [
            [1 / 9, 2 / 9, 2 / 9, 1 / 9, 1 / 9, 2 / 9],
            [2 / 12, 4 / 12, 1 / 12, 2 / 12, 2 / 12, 1 / 12],
        ]
    )
    weights = -np.log(theta)
    normed = weights / weights.sum(axis=1, keepdims=True)
    clf = ComplementNB(alpha=1.0)
    with pytest.raises(
        ValueError, match=re.escape("Negative values in data passed to ComplementNB (input X)")
    ):
        clf.fit(-IR_X, IR_Y)
    clf.fit(IR_X, IR_Y)
    assert_array_equal(clf.feature_count_, [[1, 3, 0, 1, 1, 0], [0, 1, 1, 0, 0, 1]])
    assert_array_equal(clf.class_count_, [3, 1])
    assert_array_equal(clf.feature_all_, [1, 4, 1, 1, 1, 1])
    assert_array_almost_equal(clf.feature_log_prob_, weights)
    assert_array_almost_equal(
        ComplementNB(alpha=1.0, norm=True).fit(IR_X, IR_Y).feature_log_prob_, normed
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_categoricalnb(seed):
    X2, y2 = integer_x_three_classes(seed)
    assert_array_equal(CategoricalNB().fit(X2, y2).predict(X2), y2)

    X3, y3 = np.array([[1, 4], [2, 5]]), np.array([1, 2])
    clf = CategoricalNB(alpha=1, fit_prior=False).fit(X3, y3)
    assert_array_equal(clf.n_categories_, [3, 6])
    message = re.escape("Negative values in data passed to CategoricalNB (input X)")
    with pytest.raises(ValueError, match=message):
        clf.predict(np.array([[0, -1]]))
    with pytest.raises(ValueError, match=message):
        CategoricalNB().fit(np.array([[0, -1]]), np.array([1]))
    numerator = np.array([[1 / 3 * 1 / 3, 2 / 3 * 2 / 3]])
    assert_array_almost_equal(clf.predict_proba(np.array([[2, 5]])), numerator / numerator.sum())
    assert len(clf.category_count_) == X3.shape[1]

    X4, y4 = np.array([[0, 0], [0, 1], [0, 0], [1, 1]]), np.array([1, 1, 2, 2])
    clf = CategoricalNB(alpha=1, fit_prior=False).fit(X4, y4)
    assert_array_equal(clf.predict(np.array([[0, 0]])), [1])
    assert_array_equal(clf.n_categories_, [2, 2])
    for factor in [1.0, 0.3, 5, 0.0001]:
        clf = CategoricalNB(alpha=1, fit_prior=False)
        clf.fit(X4, y4, sample_weight=np.array([1, 1, 10, 0.1]) * factor)
        assert_array_equal(clf.predict(np.array([[0, 0]])), [2])
        assert_array_equal(clf.n_categories_, [2, 2])


@pytest.mark.parametrize(
    ("min_categories", "x1_count", "x2_count", "new_X", "n_categories"),
    [
        (3, [[2, 0, 0], [1, 1, 0]], [[1, 1, 0], [1, 1, 0]], [[0, 2]], [3, 3]),
        ([3, 4], [[2, 0, 0], [1, 1, 0]], [[1, 1, 0, 0], [1, 1, 0, 0]], [[0, 3]], [3, 4]),
        (1, [[2, 0], [1, 1]], [[1, 1], [1, 1]], [[0, 1]], [2, 2]),
    ],
)
def test_categoricalnb_with_min_categories(min_categories, x1_count, x2_count, new_X, n_categories):
    data, labels = np.array([[0, 0], [0, 1], [0, 0], [1, 1]]), np.array([1, 1, 2, 2])
    clf = CategoricalNB(alpha=1, fit_prior=False, min_categories=min_categories).fit(data, labels)
    first, second = clf.category_count_
    assert_array_equal(first, x1_count)
    assert_array_equal(second, x2_count)
    assert_array_equal(clf.predict(np.array(new_X)), [1])
    assert_array_equal(clf.n_categories_, n_categories)


def test_categoricalnb_min_categories_errors():
    data, labels = np.array([[0, 0], [0, 1], [0, 0], [1, 1]]), np.array([1, 1, 2, 2])
    clf = CategoricalNB(alpha=1, fit_prior=False, min_categories=[[3, 2], [2, 4]])
    with pytest.raises(ValueError, match="'min_categories' should have shape"):
        clf.fit(data, labels)


@pytest.mark.parametrize("sparse", [False, True])
def test_alpha(sparse):
    data, labels = np.array([[1, 0], [1, 1]]), np.array([0, 1])
    message = "alpha too small will result in numeric errors, setting alpha = 1.0e-10"
    if not sparse:
        nb = BernoulliNB(alpha=0.0, force_alpha=False)
        with pytest.warns(UserWarning, match=message):
            nb.partial_fit(data, labels, classes=[0, 1])
        with pytest.warns(UserWarning, match=message):
            nb.fit(data, labels)
        assert_array_almost_equal(nb.predict_proba(data), [[1, 0], [0, 1]])
        nb = MultinomialNB(alpha=0.0, force_alpha=False)
        with pytest.warns(UserWarning, match=message):
            nb.partial_fit(data, labels, classes=[0, 1])
        with pytest.warns(UserWarning, match=message):
            nb.fit(data, labels)
        assert_array_almost_equal(nb.predict_proba(data), [[2.0 / 3, 1.0 / 3], [0, 1]])
        nb = CategoricalNB(alpha=0.0, force_alpha=False)
        with pytest.warns(UserWarning, match=message):
            nb.fit(data, labels)
        assert_array_almost_equal(nb.predict_proba(data), [[1.0, 0.0], [0.0, 1.0]])
        return
    import scipy.sparse

    data = scipy.sparse.csr_matrix(data)
    nb = BernoulliNB(alpha=0.0, force_alpha=False)
    with pytest.warns(UserWarning, match=message):
        nb.fit(data, labels)
    assert_array_almost_equal(nb.predict_proba(data), [[1, 0], [0, 1]])
    nb = MultinomialNB(alpha=0.0, force_alpha=False)
    with pytest.warns(UserWarning, match=message):
        nb.fit(data, labels)
    assert_array_almost_equal(nb.predict_proba(data), [[2.0 / 3, 1.0 / 3], [0, 1]])


def test_alpha_vector():
    data, labels = np.array([[1, 0], [1, 1]]), np.array([0, 1])
    nb = MultinomialNB(alpha=np.array([1, 2]), force_alpha=False)
    nb.partial_fit(data, labels, classes=[0, 1])
    assert_array_almost_equal(nb.feature_log_prob_, np.log([[1 / 2, 1 / 2], [2 / 5, 3 / 5]]))
    assert_array_almost_equal(nb.predict_proba(data), [[5 / 9, 4 / 9], [25 / 49, 24 / 49]])
    with pytest.raises(ValueError, match=r"All values in alpha must be greater than 0\."):
        MultinomialNB(alpha=np.array([1.0, -0.1]), force_alpha=False).fit(data, labels)
    # Difference: scikit-learn reads the replaced alpha from the private _check_alpha().
    with pytest.warns(UserWarning, match="alpha too small"):
        replaced = check_alpha(np.array([ALPHA_MIN / 2, 0.5]), False, 2, "MultinomialNB")
    assert_array_almost_equal(replaced, [ALPHA_MIN, 0.5], decimal=12)
    with pytest.raises(ValueError, match="When alpha is an array, it should contains `n_features`"):
        MultinomialNB(alpha=np.array([1.0, 2.0, 3.0]), force_alpha=False).fit(data, labels)


def test_check_accuracy_on_digits():
    data, labels = load_digits(return_X_y=True)
    pair = np.logical_or(labels == 3, labels == 8)
    X_3v8, y_3v8 = data[pair], labels[pair]
    assert cross_val_score(MultinomialNB(alpha=10), data, labels, cv=10).mean() > 0.86
    assert cross_val_score(MultinomialNB(alpha=10), X_3v8, y_3v8, cv=10).mean() > 0.94
    assert cross_val_score(BernoulliNB(alpha=10), data > 4, labels, cv=10).mean() > 0.83
    assert cross_val_score(BernoulliNB(alpha=10), X_3v8 > 4, y_3v8, cv=10).mean() > 0.92
    assert cross_val_score(GaussianNB(), data, labels, cv=10).mean() > 0.77
    assert cross_val_score(GaussianNB(var_smoothing=0.1), data, labels, cv=10).mean() > 0.89
    assert cross_val_score(GaussianNB(), X_3v8, y_3v8, cv=10).mean() > 0.86


def test_check_alpha():
    # Difference: the public check_alpha(alpha, force_alpha, n_features, owner) stands in
    # for scikit-learn's private method, with the same values and the same warning.
    assert check_alpha(0, True, 1, "BernoulliNB") == 0
    alphas = np.array([0.0, 1.0])
    assert_array_equal(check_alpha(alphas, True, 2, "BernoulliNB"), alphas)
    message = f"alpha too small will result in numeric errors, setting alpha = {ALPHA_MIN:.1e}"
    with pytest.warns(UserWarning, match=message):
        assert check_alpha(0, False, 1, "BernoulliNB") == ALPHA_MIN
    with pytest.warns(UserWarning, match=message):
        assert_array_equal(check_alpha(alphas, False, 2, "BernoulliNB"), [ALPHA_MIN, 1.0])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("model_class", ALL)
def test_predict_joint_proba(model_class, seed):
    X2, y2 = integer_x_three_classes(seed)
    est = model_class().fit(X2, y2)
    jll = est.predict_joint_log_proba(X2)
    assert_allclose(est.predict_log_proba(X2), jll - logsumexp(jll, axis=1)[:, None])


@pytest.mark.parametrize("model_class", ALL)
def test_categorical_input_tag(model_class):
    assert model_class().__sklearn_tags__().input_tags.categorical == (model_class is CategoricalNB)
