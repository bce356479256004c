"""CN2: scikit-learn compatibility, accuracy on classic tables, rules, JSON, CLI."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import lamina
from lamina.cli import main
from lamina.errors import InputError
from lamina.learn.cv import stratified_folds
from lamina.learn.datasets import load_dataset
from lamina.plugins.cn2.cn2 import CN2Classifier, candidate_thresholds
from lamina.plugins.cn2.search import pack_rows, popcount

sklearn = pytest.importorskip("sklearn")
from sklearn.preprocessing import OrdinalEncoder  # noqa: E402
from sklearn.tree import DecisionTreeClassifier  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402


@parametrize_with_checks(
    [CN2Classifier(), CN2Classifier(ordered=False), CN2Classifier(quality="wracc", ordered=False)]
)
def test_sklearn_check_estimator(estimator, check):
    check(estimator)


def _cv_accuracy(model, dataset, folds):
    scores = []
    for train, test in folds:
        fitted = CN2Classifier(**model.get_params()).fit(
            dataset.X[train], dataset.y[train], feature_names=dataset.feature_names
        )
        scores.append(fitted.score(dataset.X[test], dataset.y[test]))
    return float(np.mean(scores))


def _tree_accuracy(dataset, folds):
    X = (
        OrdinalEncoder().fit_transform(dataset.X)
        if any(dataset.categorical)
        else dataset.X.astype(float)
    )
    return float(
        np.mean(
            [
                DecisionTreeClassifier(random_state=0)
                .fit(X[tr], dataset.y[tr])
                .score(X[te], dataset.y[te])
                for tr, te in folds
            ]
        )
    )


# 10-fold cross-validation (leave-one-out for the 24 lenses), the same folds for both learners.
@pytest.mark.parametrize(
    ("name", "n_folds", "slack"),
    [("iris", 10, 0.03), ("titanic", 10, 0.02), ("zoo", 10, 0.05), ("lenses", 24, 0.1)],
)
@pytest.mark.parametrize("ordered", [True, False])
def test_accuracy_close_to_a_decision_tree_on_the_same_folds(name, n_folds, slack, ordered):
    dataset = load_dataset(name)
    folds = stratified_folds(dataset.y, n_folds, random_state=0)
    ours = _cv_accuracy(CN2Classifier(ordered=ordered), dataset, folds)
    tree = _tree_accuracy(dataset, folds)
    majority = max(np.mean(dataset.y == c) for c in dataset.classes)
    assert ours >= tree - slack, (ours, tree)
    assert ours >= majority


def test_iris_rules_are_the_textbook_ones():
    iris = load_dataset("iris")
    model = CN2Classifier().fit(iris.X, iris.y, feature_names=iris.feature_names)
    assert str(model.rules_[0]) == "IF petal_length <= 2.45 THEN class=setosa [50, 0, 0]"
    assert str(model.rules_[-1]).startswith("IF TRUE THEN class=")
    assert model.score(iris.X, iris.y) > 0.95


def test_lenses_without_significance_finds_the_complete_rule_set():
    lenses = load_dataset("lenses")
    model = CN2Classifier(alpha=1.0, parent_alpha=1.0).fit(
        lenses.X, lenses.y, feature_names=lenses.feature_names
    )
    assert model.score(lenses.X, lenses.y) == 1.0
    assert any(str(r).startswith("IF tear_rate == reduced THEN class=none") for r in model.rules_)


@pytest.mark.parametrize("rule_distribution", ["training", "remaining"])
def test_unordered_rule_distributions(rule_distribution):
    # "remaining" (Orange's choice): each rule counts the examples of its class
    # that no earlier rule of the class covered, so over a class's rules these
    # add up to the class examples the rules cover; "training": each rule
    # counts everything it covers in the training set.
    zoo = load_dataset("zoo")
    model = CN2Classifier(
        ordered=False,
        rule_distribution=rule_distribution,
        categorical_features=zoo.categorical_features,
    ).fit(zoo.X, zoo.y, feature_names=zoo.feature_names)
    fired = model._coverage(zoo.X)
    for c, label in enumerate(model.classes_):
        mine = [r for r, rule in enumerate(model.rules_[:-1]) if rule.prediction == c]
        if rule_distribution == "remaining":
            counted = sum(model.rules_[r].distribution[c] for r in mine)
            assert counted == np.sum(fired[mine].any(axis=0) & (zoo.y == label))
        else:
            for r in mine:
                expected = [np.sum(fired[r] & (zoo.y == k)) for k in model.classes_]
                assert list(model.rules_[r].distribution) == expected
    assert model.rules_[-1].distribution == tuple(
        float(np.sum(zoo.y == label)) for label in model.classes_
    )


def test_parent_alpha_defaults_by_mode():
    zoo = load_dataset("zoo")
    kwargs = {"categorical_features": zoo.categorical_features}
    for ordered, parent_alpha in ((True, 0.05), (False, 1.0)):
        default = CN2Classifier(ordered=ordered, **kwargs).fit(zoo.X, zoo.y)
        explicit = CN2Classifier(ordered=ordered, parent_alpha=parent_alpha, **kwargs)
        explicit.fit(zoo.X, zoo.y)
        assert default.export_text() == explicit.export_text()


def _noisy_problem(n, noise, seed):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 4, (n, 10)).astype(str).astype(object)
    clean = ((X[:, 0] == "1") & (X[:, 1] != "2")) | (X[:, 2] == "3")
    flip = rng.random(n) < noise
    return X, np.where(clean ^ flip, "pos", "neg"), np.where(clean, "pos", "neg")


@pytest.mark.parametrize("ordered", [True, False])
def test_robust_to_label_noise(ordered):
    X, y, _ = _noisy_problem(3000, 0.1, 0)
    X_test, _, truth = _noisy_problem(2000, 0.0, 1)
    significant = CN2Classifier(ordered=ordered).fit(X, y)
    # Orange's defaults: no significance tests, rules of up to five conditions.
    unchecked = CN2Classifier(ordered=ordered, alpha=1.0, parent_alpha=1.0, max_rule_length=5).fit(
        X, y
    )
    assert significant.score(X_test, truth) > 0.95
    # Unordered rule sets learn every class in turn and keep more rules.
    assert len(significant.rules_) < len(unchecked.rules_) / (4 if ordered else 2)
    assert significant.score(X_test, truth) > unchecked.score(X_test, truth)


def test_json_round_trip_is_exact(tmp_path):
    iris = load_dataset("iris")
    for params in ({}, {"ordered": False}, {"negations": True, "ordered": False}):
        model = CN2Classifier(**params).fit(iris.X, iris.y, feature_names=iris.feature_names)
        text = model.to_json()
        back = CN2Classifier.from_json(text)
        assert back.to_json() == text
        assert [str(r) for r in back.rules_] == [str(r) for r in model.rules_]
        np.testing.assert_array_equal(back.predict_proba(iris.X), model.predict_proba(iris.X))
        path = tmp_path / "model.npz"
        model.save(path)
        np.testing.assert_array_equal(
            lamina.learn.model_file.load_model(path).predict(iris.X), model.predict(iris.X)
        )
    with pytest.raises(InputError, match="lamina-cn2"):
        CN2Classifier.from_json(json.dumps({"format": "other"}))


def test_missing_values_strings_and_unseen_categories():
    titanic = load_dataset("titanic")
    X = titanic.X.copy()
    rng = np.random.default_rng(0)
    X[rng.random(X.shape) < 0.1] = None
    model = CN2Classifier().fit(X, titanic.y, feature_names=titanic.feature_names)
    assert model.score(X, titanic.y) > 0.75
    unseen = np.array([["4th", "adult", "male"], [None, None, None]], dtype=object)
    assert model.predict(unseen).shape == (2,)
    numeric = np.array([[1.0, np.nan], [2.0, 5.0], [np.nan, 6.0], [3.0, 7.0]] * 5)
    fitted = CN2Classifier(ordered=False).fit(numeric, [0, 0, 1, 1] * 5)
    assert fitted.predict(numeric).shape == (20,)


def test_rules_are_readable_and_each_condition_counts():
    titanic = load_dataset("titanic")
    model = CN2Classifier(ordered=False).fit(
        titanic.X, titanic.y, feature_names=titanic.feature_names
    )
    for rule in model.rules_[:-1]:
        text = str(rule)
        assert text.startswith("IF ") and " THEN class=" in text and text.endswith("]")
        assert rule.length <= model.max_rule_length
    # an unordered rule's distribution is what it covers in the training set
    rule = model.rules_[0]
    covered = np.ones(titanic.n_samples, dtype=bool)
    for condition in rule.conditions:
        covered &= titanic.X[:, condition.feature] == condition.value
    counts = [np.sum(titanic.y[covered] == c) for c in model.classes_]
    assert list(rule.distribution) == counts


def test_bitset_helpers_against_numpy():
    rng = np.random.default_rng(0)
    mask = rng.random((5, 1000)) < 0.3
    np.testing.assert_array_equal(popcount(pack_rows(mask)), mask.sum(axis=1))
    values = np.array([1.0, 1.0, 2.0, 3.0, 4.0, np.nan])
    codes = np.array([0, 0, 0, 1, 1, 1])
    np.testing.assert_allclose(candidate_thresholds(values, codes, 10), [2.5])


def test_thresholds_print_as_the_midpoint_and_still_split():
    # (0.6 + 0.7) / 2 is 0.6499999999999999 in binary floating point.
    cuts = candidate_thresholds(np.array([0.6, 0.7]), np.array([0, 1]), 10)
    assert [str(c) for c in cuts] == ["0.65"]
    # Neighbours closer than 12 significant digits keep the exact midpoint.
    close = np.array([0.1, 0.1 + 4e-16])
    (cut,) = candidate_thresholds(close, np.array([0, 1]), 10)
    assert close[0] <= cut < close[1]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"beam_width": 0}, "beam_width"),
        ({"alpha": 0.0}, "alpha"),
        ({"parent_alpha": 1.5}, "parent_alpha"),
        ({"rule_distribution": "all"}, "rule_distribution"),
        ({"quality": "gini"}, "quality"),
        ({"ranking_list": "yes"}, "'ranking_list' of CN2Classifier must be a bool"),
        ({"ordered": 1}, "'ordered' of CN2Classifier must be a bool"),
        ({"negations": None}, "'negations' of CN2Classifier must be a bool"),
    ],
)
def test_bad_parameters(params, message):
    with pytest.raises(InputError, match=message):
        CN2Classifier(**params).fit([[0.0], [1.0]], [0, 1])


def test_bad_input():
    with pytest.raises(InputError, match="one class"):
        CN2Classifier().fit([[0.0], [1.0]], [1, 1])
    with pytest.raises(InputError, match="inconsistent"):
        CN2Classifier().fit([[0.0], [1.0]], [1, 1, 0])
    with pytest.raises(InputError, match="0 sample"):
        CN2Classifier().fit(np.empty((0, 2)), [])


def test_registered_and_cli(tmp_path):
    info = lamina.get_host().get("learner", "cn2")
    assert info.tags.learner_type == "classifier" and info.tags.input_data == "mixed"
    runner = CliRunner()
    out = tmp_path / "rules.json"
    result = runner.invoke(
        main,
        [
            *("rules", "--data", "lenses", "--set", "alpha=1", "--set", "parent_alpha=1"),
            *("--output", str(out)),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "IF tear_rate == reduced THEN class=none [0, 12, 0]" in result.stdout
    again = runner.invoke(main, ["rules", "--data", "lenses", "--load", str(out), "--json"])
    assert json.loads(again.stdout)["accuracy_on_data"] == 1.0
    learned = runner.invoke(main, ["learn", "cn2", "--data", "zoo", "--json"])
    assert learned.exit_code == 0, learned.output
    assert json.loads(learned.stdout)["accuracy_mean"] > 0.85


@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_significance_test_matches_scipy_g_test(n_classes):
    from scipy.stats import chi2, power_divergence

    from lamina.plugins.cn2 import beam
    from lamina.plugins.cn2.search import ConditionSpace

    def significant(counts, reference, target):
        """Each candidate's test against ``reference``: one (K,), or one row per candidate."""
        code = -1 if target is None else target
        passed = []
        for i, row in enumerate(counts):
            weights = np.empty(n_classes)
            half = beam.reference_test(
                reference[i] if reference.ndim == 2 else reference,
                code,
                critical,
                space.log,
                weights,
            )
            passed.append(beam.significant(row, int(row.sum()), code, weights, half, space.x_log_x))
        return np.array(passed)

    rng = np.random.default_rng(n_classes)
    space = ConditionSpace(
        pack_rows(np.ones((1, 4096), bool)),
        pack_rows(np.ones((n_classes, 4096), bool)),
        np.zeros(1, int),
    )
    reference = rng.integers(0, 400, n_classes)
    reference[-1] = max(reference[-1], 1)
    reference[0] = 0  # a class absent from the examples at hand drops a degree of freedom
    counts = rng.multinomial(60, reference / reference.sum(), size=300)
    counts[:100] = rng.integers(0, 30, (100, n_classes)) * (reference > 0)
    counts[:, -1] += 1  # every candidate covers something
    critical = np.zeros(max(2, n_classes))
    critical[1:] = chi2.ppf(0.95, np.arange(1, len(critical)))

    def g(observed, ref):
        keep = ref > 0
        expected = observed.sum() * ref[keep] / ref.sum()
        return power_divergence(observed[keep], expected, lambda_="log-likelihood")[0]

    dof = max(1, int(np.count_nonzero(reference)) - 1)
    expected = np.array([g(c, reference) > critical[dof] for c in counts])
    np.testing.assert_array_equal(significant(counts, reference, None), expected)
    # Per-candidate references (the test against the parent complex).
    parents = counts + rng.integers(0, 20, counts.shape) * (reference > 0)
    expected = [
        g(c, p) > critical[max(1, int(np.count_nonzero(p)) - 1)]
        for c, p in zip(counts, parents, strict=True)
    ]
    np.testing.assert_array_equal(significant(counts, parents, None), expected)
    # One class against the rest: one degree of freedom.
    target = n_classes - 1
    binary = np.column_stack((counts[:, target], counts.sum(axis=1) - counts[:, target]))
    ref2 = np.array([reference[target], reference.sum() - reference[target]])
    expected = [g(b, ref2) > critical[1] for b in binary]
    np.testing.assert_array_equal(significant(counts, reference, target), expected)
    # ... and against one parent per candidate.
    expected = [
        g(b, np.array([p[target], p.sum() - p[target]])) > critical[1]
        for b, p in zip(binary, parents, strict=True)
    ]
    np.testing.assert_array_equal(significant(counts, parents, target), expected)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("kind", ["entropy", "laplace"])
def test_search_stops_only_where_no_refinement_can_beat_the_best(seed, kind):
    """The beam search ends early once ``best_possible`` of the beam is no better
    than the best complex. That is exact only if no refinement (a subset: no class
    count grows) ever scores above the bound; checked on random counts and subsets."""
    from lamina.plugins.cn2 import beam as compiled

    code = compiled.QUALITY_CODES[kind]

    def _best_possible(beam_counts, target):
        return compiled.best_possible(beam_counts, code, -1 if target is None else target)

    def _quality(counts, target, prior):
        return np.array(
            [
                compiled.quality(c, int(c.sum()), code, -1 if target is None else target, prior)
                for c in counts
            ]
        )

    rng = np.random.default_rng(seed)
    n_classes = int(rng.integers(2, 7))
    beam = rng.integers(0, 60, (int(rng.integers(1, 6)), n_classes))
    beam[:, 0] += 1
    prior = beam.sum(axis=0) + rng.integers(0, 50, n_classes)
    for target in (None, int(rng.integers(n_classes))):
        if kind == "entropy" and target is not None:
            continue  # the learner searches unordered rules by Laplace accuracy
        bound = _best_possible(beam, target)
        parents = rng.integers(0, len(beam), 4000)
        children = rng.integers(0, beam[parents] + 1)  # each class count may only shrink
        children = children[children.sum(axis=1) > 0]
        quality = _quality(children, target, prior)
        assert quality.max() <= bound
        # and the bound is reached: a pure subset of the best beam complex
        hits = beam[:, target] if target is not None else beam.max(axis=1)
        b = int(np.argmax(hits))
        pure = np.zeros((1, n_classes), dtype=beam.dtype)
        column = target if target is not None else int(np.argmax(beam[b]))
        pure[0, column] = beam[b, column]
        assert _quality(pure, target, prior)[0] == bound


def _random_table(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """A small mixed table: text categories and rounded numbers (ties, repeated
    values), missing cells in both, 2-4 classes that depend on the first column
    through label noise; returns X (object), y and the categorical columns."""
    n, d = int(rng.integers(20, 250)), int(rng.integers(1, 5))
    columns, categorical = [], []
    for j in range(d):
        if rng.random() < 0.5:
            column = rng.choice(["a", "b", "c", "d"][: int(rng.integers(2, 5))], n).astype(object)
            column[rng.random(n) < 0.05] = None
            categorical.append(j)
        else:
            column = np.round(rng.normal(size=n), int(rng.integers(0, 3))).astype(object)
            column[rng.random(n) < 0.05] = np.nan
        columns.append(column)
    X = np.column_stack(columns)
    n_classes = int(rng.integers(2, 5))
    signal = np.unique(X[:, 0].astype(str), return_inverse=True)[1] % n_classes
    y = np.where(rng.random(n) < 0.7, signal, rng.integers(0, n_classes, n))
    return X, np.asarray([f"c{v}" for v in y]), tuple(categorical)


def _random_settings(rng: np.random.Generator, *, qualities: tuple[str, ...]) -> dict:
    return {
        "ordered": bool(rng.random() < 0.5),
        "quality": str(rng.choice(qualities)),
        "beam_width": int(rng.integers(1, 7)),
        "max_rule_length": int(rng.integers(1, 6)),
        "min_covered_examples": int(rng.integers(1, 4)),
        "alpha": float(rng.choice([0.05, 0.5, 1.0])),
        "parent_alpha": [None, 0.2, 1.0][int(rng.integers(3))],
        "negations": bool(rng.random() < 0.5),
        "rule_distribution": str(rng.choice(["training", "remaining"])),
    }


def _numpy_search():
    """The numpy beam search the compiled one replaced (``numpy_search.py`` beside
    this file), loaded by path: the test folders are not packages."""
    name = "cn2_numpy_search"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).with_name("numpy_search.py")
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while defining
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.mark.parametrize("seed", range(6))
def test_early_stop_leaves_the_rules_unchanged(seed, monkeypatch):
    """The whole learner on the numpy search with and without its early stop
    (``_best_possible`` made unbeatable) on random tables and settings: the same
    rules, qualities and distributions; and the stop does cut searches short on this
    grid. The compiled search stops at the same bound and equals the numpy one
    (``test_compiled_search_equals_the_numpy_search``)."""
    from lamina.plugins.cn2 import cn2

    search = _numpy_search()
    monkeypatch.setattr(cn2, "find_best_complex", search.find_best_complex)
    refined = search._refined_counts
    depths = {"calls": 0}

    def counted(*args):
        depths["calls"] += 1
        return refined(*args)

    monkeypatch.setattr(search, "_refined_counts", counted)
    rng = np.random.default_rng(seed)
    with_stop = without_stop = 0
    for _ in range(12):
        X, y, categorical = _random_table(rng)
        params = _random_settings(rng, qualities=("entropy", "laplace"))
        params["categorical_features"] = categorical or None

        def fit(params=params, X=X, y=y):
            depths["calls"] = 0
            rules = [r.to_dict() for r in CN2Classifier(**params).fit(X, y).rules_]
            return rules, depths["calls"]

        stopped, calls = fit()
        with_stop += calls
        with monkeypatch.context() as patch:
            patch.setattr(search, "_best_possible", lambda *args: float("inf"))
            exhaustive, calls = fit()
        without_stop += calls
        assert stopped == exhaustive, params
    assert with_stop < without_stop


def _same_searches(monkeypatch) -> dict[str, int]:
    """Make every search of the learner run both the compiled search and the numpy
    one and check they agree exactly: the complex's conditions, coverage, class
    counts and quality (bit for bit), or both None. Returns the counts of searches
    and of answers, filled in as the learner runs."""
    from lamina.plugins.cn2 import cn2
    from lamina.plugins.cn2.search import find_best_complex

    reference = _numpy_search().find_best_complex
    seen = {"searches": 0, "answers": 0}
    # Entropy takes log2 of class proportions: the compiled search the C library's,
    # numpy its own where it has one (SVML on AVX-512 CPUs). Bit for bit only where
    # the two agree; elsewhere within a few units in the last place.
    proportions = np.array([k / n for n in range(1, 400) for k in range(1, n + 1)])
    exact = all(np.log2(proportions) == [math.log2(p) for p in proportions])

    def both(space, active, target, settings):
        ours, theirs = (
            find_best_complex(space, active, target, settings),
            reference(space, active, target, settings),
        )
        seen["searches"] += 1
        assert (ours is None) == (theirs is None), (target, settings)
        if ours is not None:
            seen["answers"] += 1
            assert ours.conditions == theirs.conditions, (target, settings)
            np.testing.assert_array_equal(ours.coverage, theirs.coverage)
            np.testing.assert_array_equal(ours.counts, theirs.counts)
            if exact:
                assert ours.quality == theirs.quality, (ours.quality, theirs.quality)
            else:
                np.testing.assert_array_max_ulp(ours.quality, theirs.quality, maxulp=4)
        return ours

    monkeypatch.setattr(cn2, "find_best_complex", both)
    return seen


#: Orange's CN2 settings (no significance tests, wide beam, long rules, negations).
_ORANGE_LIKE = {
    "alpha": 1.0,
    "parent_alpha": 1.0,
    "beam_width": 10,
    "max_rule_length": 5,
    "negations": True,
}


@pytest.mark.parametrize("name", ["iris", "lenses", "titanic", "zoo"])
def test_compiled_search_equals_the_numpy_search_on_the_bundled_tables(name, monkeypatch):
    seen = _same_searches(monkeypatch)
    data = load_dataset(name)
    for ordered in (True, False):
        for quality in ("entropy", "laplace", "wracc"):
            for extra in ({}, _ORANGE_LIKE):
                CN2Classifier(
                    ordered=ordered,
                    quality=quality,
                    categorical_features=data.categorical_features or None,
                    **extra,
                ).fit(data.X, data.y)
    assert seen["answers"] >= 12, seen


@pytest.mark.parametrize("seed", range(8))
def test_compiled_search_equals_the_numpy_search(seed, monkeypatch):
    """Random mixed tables and settings (ordered and unordered, every quality, beam
    widths 1-6, rule lengths 1-5, both tests on and off, negations): every search
    gives the same answer, and some searches find nothing."""
    seen = _same_searches(monkeypatch)
    rng = np.random.default_rng(100 + seed)
    for _ in range(15):
        X, y, categorical = _random_table(rng)
        params = _random_settings(rng, qualities=("entropy", "laplace", "wracc"))
        params["categorical_features"] = categorical or None
        CN2Classifier(**params).fit(X, y)
    assert 0 < seen["answers"] < seen["searches"], seen


def test_the_search_runs_compiled():
    """One compiled signature, no interpreter fallback: numba's JIT is not disabled
    and the search is a compiled dispatcher whose only overload was compiled (or
    loaded) for the argument types the learner passes."""
    import numba

    from lamina.plugins.cn2 import beam

    assert not numba.config.DISABLE_JIT
    assert isinstance(beam._search, numba.core.registry.CPUDispatcher)
    titanic = load_dataset("titanic")
    CN2Classifier(ordered=False).fit(titanic.X, titanic.y)
    assert len(beam._search.overloads) == 1


def test_the_search_compiles_where_no_cache_can_be_written(monkeypatch):
    """A read-only installation without a writable home (numba finds nowhere to keep
    its cache) still compiles, uncached, instead of failing to import."""
    from numba.core import caching

    from lamina.plugins.cn2 import beam

    def plus_one(x):
        return x + 1

    monkeypatch.setattr(caching.CacheImpl, "_locator_classes", [])
    compiled = beam._jit("int64(int64)")(plus_one)
    assert compiled(41) == 42
    assert isinstance(compiled._cache, caching.NullCache)


def test_a_damaged_cache_is_compiled_afresh(tmp_path, monkeypatch):
    """numba unpickles its cache files unguarded, so a truncated or edited one used
    to fail every import of the search (UnpicklingError). Now the entry is dropped,
    the function compiled afresh and cached again (the next load hits the cache);
    a genuine compile error still raises."""
    import numba
    from numba.core.errors import TypingError

    from lamina.plugins.cn2 import beam

    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path))

    def plus_two(x):
        return x + 2

    assert beam._jit("int64(int64)")(plus_two)(40) == 42
    files = sorted(tmp_path.rglob("*plus_two*"))
    assert {path.suffix for path in files} == {".nbi", ".nbc"}
    for damage in (lambda data: data[:20], lambda data: b"garbage", lambda data: b""):
        for path in files:
            path.write_bytes(damage(path.read_bytes()))
        assert beam._jit("int64(int64)")(plus_two)(40) == 42
        reloaded = beam._jit("int64(int64)")(plus_two)
        assert sum(reloaded.stats.cache_hits.values()) == 1
        assert reloaded(1) == 3

    def broken(x):
        return x.no_such_attribute

    with pytest.raises(TypingError):
        beam._jit("int64(int64)")(broken)


@pytest.mark.parametrize("seed", range(6))
def test_ranking_list_is_the_decision_list_without_tests(seed):
    """Seeded random tables and settings: a decision list's ``ranking_rules_`` are the
    ``rules_`` the same learner finds with both tests off (``alpha = parent_alpha = 1``)
    and its probabilities the mean of those two lists' (bit for bit); a rule set, a
    learner with ``ranking_list`` off or one with both tests off has none, and
    ``ranking_list`` never changes ``rules_``."""
    rng = np.random.default_rng(300 + seed)
    for _ in range(6):
        X, y, categorical = _random_table(rng)
        params = _random_settings(rng, qualities=("entropy", "laplace", "wracc"))
        params["categorical_features"] = categorical or None
        model = CN2Classifier(**params).fit(X, y)
        alone = CN2Classifier(**params, ranking_list=False).fit(X, y)
        untested = CN2Classifier(**{**params, "alpha": 1.0, "parent_alpha": 1.0}).fit(X, y)
        assert alone.ranking_rules_ == [] and untested.ranking_rules_ == []
        assert alone.export_text() == "\n".join(str(rule) for rule in model.rules_)
        if not (params["ordered"] and (params["alpha"] < 1 or model._parent_alpha() < 1)):
            assert model.ranking_rules_ == [], params
            np.testing.assert_array_equal(model.predict_proba(X), alone.predict_proba(X))
            continue
        assert [r.to_dict() for r in model.ranking_rules_] == [
            r.to_dict() for r in untested.rules_
        ], params
        np.testing.assert_array_equal(
            model.predict_proba(X), (alone.predict_proba(X) + untested.predict_proba(X)) / 2.0
        )


def test_rules_json_lists_the_ranking_rules():
    """``lamina rules --json`` gives both lists, each rule with its text as
    ``export_text`` prints it (the ranking list after its header line)."""
    from lamina.plugins.cn2.cn2 import RANKING_HEADER

    result = CliRunner().invoke(main, ["rules", "--data", "lenses", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    texts = [[rule["text"] for rule in document[key]] for key in ("rules", "ranking_rules")]
    assert texts[1], document
    lenses = load_dataset("lenses")
    model = CN2Classifier(categorical_features=lenses.categorical_features or None).fit(
        lenses.X, lenses.y, feature_names=lenses.feature_names
    )
    assert model.export_text().splitlines() == [*texts[0], RANKING_HEADER, *texts[1]]
    assert [rule["class"] for rule in document["ranking_rules"]] == [
        rule.to_dict()["class"] for rule in model.ranking_rules_
    ]
