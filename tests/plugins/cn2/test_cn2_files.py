"""CN2 under hostile input: memory linear in rows x columns, rule files applied by
column name, damaged rule files refused with one InputError naming the file."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest
from click.testing import CliRunner

from lamina.cli import main
from lamina.errors import InputError
from lamina.learn.datasets import load_dataset
from lamina.learn.model_file import load_model, write_model
from lamina.memory import MemoryLimitError
from lamina.plugins.cn2.cn2 import CN2Classifier
from lamina.testing.damage import damaged


def _peak_fit_bytes(n_columns: int) -> int:
    rng = np.random.default_rng(n_columns)
    X = rng.normal(size=(100, n_columns))
    y = rng.integers(0, 2, 100)
    tracemalloc.start()
    try:
        CN2Classifier(max_rule_length=2, max_thresholds=4).fit(X, y)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_fit_memory_grows_linearly_with_the_column_count():
    # #16: 200 x 10,000 peaked at 13.4 GB through a (slots x conditions) table.
    # Quadrupling the columns quadruples a linear peak and multiplies a quadratic
    # one by 16; the fixed overhead only lowers the ratio.
    _peak_fit_bytes(10)  # imports and caches out of the measurement
    small, large = _peak_fit_bytes(250), _peak_fit_bytes(1000)
    assert large < 5 * small, (small, large)


@pytest.mark.parametrize("shape", [(100, 500), (400, 60)])
def test_the_memory_estimate_covers_the_measured_peak(monkeypatch, shape):
    import lamina.plugins.cn2.cn2 as module

    estimates = []
    real = module.check_allocation

    def spy(nbytes, **kwargs):
        estimates.append(nbytes)
        return real(nbytes, **kwargs)

    monkeypatch.setattr(module, "check_allocation", spy)
    rng = np.random.default_rng(sum(shape))
    X, y = rng.normal(size=shape), rng.integers(0, 3, shape[0])
    _peak_fit_bytes(10)
    tracemalloc.start()
    try:
        CN2Classifier().fit(X, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert estimates and estimates[-1] >= peak, (estimates, peak)


def test_a_search_that_cannot_fit_fails_before_allocating(monkeypatch):
    monkeypatch.setenv("LAMINA_MEMORY_LIMIT", "1M")
    X = np.random.default_rng(0).random((300, 50))
    with pytest.raises(MemoryLimitError, match=r"CN2's search over 3,200 candidate conditions"):
        CN2Classifier().fit(X, np.arange(300) % 2)


# -- rule files ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def titanic_rules(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rules")
    titanic = load_dataset("titanic")
    model = CN2Classifier().fit(titanic.X, titanic.y, feature_names=titanic.feature_names)
    path = folder / "titanic.json"
    path.write_text(model.to_json(), encoding="utf-8")
    return model, path


def _csv(path, names, X, y):
    lines = [",".join([*names, "survived"])]
    lines += [",".join([*map(str, row), label]) for row, label in zip(X, y, strict=True)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _rules_json(runner, table, rules_path):
    args = ["rules", "--data", str(table), "--target", "survived", "--load", str(rules_path)]
    result = runner.invoke(main, [*args, "--json"])
    return result


def test_saved_rules_are_applied_by_column_name(tmp_path, titanic_rules):
    model, path = titanic_rules
    titanic = load_dataset("titanic")
    runner = CliRunner()
    in_order = _csv(tmp_path / "a.csv", titanic.feature_names, titanic.X, titanic.y)
    order = [2, 0, 1]
    shuffled = _csv(
        tmp_path / "b.csv",
        [titanic.feature_names[j] for j in order],
        titanic.X[:, order],
        titanic.y,
    )
    first, second = _rules_json(runner, in_order, path), _rules_json(runner, shuffled, path)
    assert first.exit_code == 0 and second.exit_code == 0, (first.output, second.output)
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    assert a == dict(b, data=a["data"])  # same accuracy and the same rule names
    assert a["accuracy_on_data"] == pytest.approx(model.score(titanic.X, titanic.y))
    assert a["accuracy_on_data"] > 0.78
    # a missing column: one line naming the file and the column
    dropped = _csv(tmp_path / "c.csv", titanic.feature_names[:2], titanic.X[:, :2], titanic.y)
    missing = _rules_json(runner, dropped, path)
    assert missing.exit_code == 2
    assert str(path) in missing.stderr and "'sex'" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


def _edited(document, edit):
    changed = json.loads(json.dumps(document))
    edit(changed)
    return json.dumps(changed)


EDITS = {
    "version 99": lambda d: d.update(version=99),
    "version as text": lambda d: d.update(version="1"),
    "feature index out of range": lambda d: d["rules"][0]["conditions"][0].update(feature=7),
    "negative feature index": lambda d: d["rules"][0]["conditions"][0].update(feature=-1),
    "shortened classes": lambda d: d.update(classes=d["classes"][:1]),
    "shortened rule classes": lambda d: d["rules"][0].update(classes=d["rules"][0]["classes"][:1]),
    "prediction out of range": lambda d: d["rules"][0].update(prediction=5),
    "renamed column in a rule": lambda d: d["rules"][0]["conditions"][0].update(name="other"),
    "numeric test on a categorical column": lambda d: d["rules"][0]["conditions"][0].update(
        op="<=", value=1.0
    ),
    "negative count": lambda d: d["rules"][0].update(distribution=[-1.0, 5.0]),
    "unknown parameter": lambda d: d["params"].update(colour="red"),
    "bad parameter value": lambda d: d["params"].update(beam_width=0),
    "object class dtype": lambda d: d.update(classes_dtype="|O"),
    "huge text class dtype": lambda d: d.update(classes_dtype="<U1000000000"),
    "categories for too few columns": lambda d: d.update(categories=d["categories"][:1]),
    "no default rule": lambda d: d.update(rules=d["rules"][:-1]),
    "no ranking rules key": lambda d: d.pop("ranking_rules"),
    "ranking rules as a number": lambda d: d.update(ranking_rules=3),
    "no default ranking rule": lambda d: d.update(ranking_rules=d["ranking_rules"][:-1]),
    "ranking rules in a rule set": lambda d: d["params"].update(ordered=False),
    "ranking rule naming another column": lambda d: d["ranking_rules"][0]["conditions"][0].update(
        name="other"
    ),
    "flexible matching as text": lambda d: d["params"].update(flexible_matching="yes"),
    "params as a list": lambda d: d.update(params=[]),
    "rules as a number": lambda d: d.update(rules=3),
    "no classes key": lambda d: d.pop("classes"),
    "repeated column names": lambda d: d.update(feature_names=["a", "a", "b"]),
}


@pytest.mark.parametrize("edit", list(EDITS), ids=list(EDITS))
def test_edited_rule_files_are_refused_naming_the_file(tmp_path, titanic_rules, edit):
    _, path = titanic_rules
    document = json.loads(path.read_text(encoding="utf-8"))
    bad = tmp_path / "bad.json"
    bad.write_text(_edited(document, EDITS[edit]), encoding="utf-8")
    with pytest.raises(InputError, match="rule file") as caught:
        CN2Classifier.from_file(bad)
    assert str(bad) in str(caught.value)


def test_a_bad_ranking_rule_is_named_by_its_place_in_the_ranking_list(titanic_rules):
    _, path = titanic_rules
    document = json.loads(path.read_text(encoding="utf-8"))
    document["ranking_rules"][1]["conditions"][0]["name"] = "other"
    with pytest.raises(InputError, match=r"^rule file: ranking rule 2 calls column"):
        CN2Classifier.from_json(json.dumps(document))
    document = json.loads(path.read_text(encoding="utf-8"))
    document["rules"][1]["conditions"][0]["name"] = "other"
    with pytest.raises(InputError, match=r"^rule file: rule 2 calls column"):
        CN2Classifier.from_json(json.dumps(document))


def test_files_written_before_ranking_lists_predict_as_they_did(tmp_path, titanic_rules):
    """A version-1 rule file and a model file saved without ``ranking_rules_`` hold
    the decision list alone: they load, and predict as that list alone does."""
    model, path = titanic_rules
    titanic = load_dataset("titanic")
    assert model.ranking_rules_
    alone = CN2Classifier(ranking_list=False).fit(
        titanic.X, titanic.y, feature_names=titanic.feature_names
    )
    document = json.loads(path.read_text(encoding="utf-8"))
    document["version"] = 1
    del document["ranking_rules"], document["params"]["ranking_list"]
    old = CN2Classifier.from_json(json.dumps(document))
    np.testing.assert_array_equal(old.predict_proba(titanic.X), alone.predict_proba(titanic.X))
    state = {k: v for k, v in model._get_state().items() if k != "ranking_rules_"}
    params = {k: v for k, v in model.get_params().items() if k != "ranking_list"}
    write_model(tmp_path / "old.npz", class_name=_CLASS_NAME, params=params, state=state)
    loaded = load_model(tmp_path / "old.npz")
    np.testing.assert_array_equal(loaded.predict_proba(titanic.X), alone.predict_proba(titanic.X))
    model.save(tmp_path / "new.npz")
    np.testing.assert_array_equal(
        load_model(tmp_path / "new.npz").predict_proba(titanic.X), model.predict_proba(titanic.X)
    )


def test_files_written_before_flexible_matching_predict_as_they_did(tmp_path):
    """A version-2 rule file and a model file saved without ``flexible_matching``
    (an unordered rule set on half of zoo) predict the other half as the rules
    without flexible matching do; files written now keep it."""
    zoo = load_dataset("zoo")
    rows = np.random.default_rng(0).permutation(len(zoo.y))
    train, test = rows[:50], rows[50:]
    model = CN2Classifier(ordered=False).fit(
        zoo.X[train], zoo.y[train], feature_names=zoo.feature_names
    )
    without = CN2Classifier(ordered=False, flexible_matching=False).fit(
        zoo.X[train], zoo.y[train], feature_names=zoo.feature_names
    )
    assert not np.array_equal(model.predict_proba(zoo.X[test]), without.predict_proba(zoo.X[test]))
    document = json.loads(model.to_json())
    assert document["version"] == 3 and document["params"]["flexible_matching"] is True
    document["version"] = 2
    del document["params"]["flexible_matching"]
    old = CN2Classifier.from_json(json.dumps(document))
    np.testing.assert_array_equal(
        old.predict_proba(zoo.X[test]), without.predict_proba(zoo.X[test])
    )
    params = {k: v for k, v in model.get_params().items() if k != "flexible_matching"}
    write_model(
        tmp_path / "old.npz", class_name=_CLASS_NAME, params=params, state=model._get_state()
    )
    loaded = load_model(tmp_path / "old.npz")
    np.testing.assert_array_equal(
        loaded.predict_proba(zoo.X[test]), without.predict_proba(zoo.X[test])
    )
    model.save(tmp_path / "new.npz")
    np.testing.assert_array_equal(
        load_model(tmp_path / "new.npz").predict_proba(zoo.X[test]),
        model.predict_proba(zoo.X[test]),
    )
    assert CN2Classifier.from_json(model.to_json()).flexible_matching is True


_CLASS_NAME = f"{CN2Classifier.__module__}:{CN2Classifier.__qualname__}"


def test_damaged_rule_files_give_only_input_errors(tmp_path, titanic_rules):
    """Seeded fuzz (widen ``range``): truncated, bit-flipped, byte-deleted and
    value-edited copies either load as a valid model or raise one InputError."""
    _, path = titanic_rules
    titanic = load_dataset("titanic")
    data = path.read_bytes()
    document = json.loads(data)
    rng = np.random.default_rng(0)
    leaves = _leaf_paths(document)
    bad = tmp_path / "fuzz.json"
    loaded = 0
    for trial in range(300):
        if trial % 4 != 3:
            mutated = damaged(data, rng, trial)
        else:
            copy = json.loads(data)
            where = leaves[int(rng.integers(0, len(leaves)))]
            _set(copy, where, _HOSTILE[int(rng.integers(0, len(_HOSTILE)))])
            mutated = json.dumps(copy).encode()
        bad.write_bytes(mutated)
        try:
            back = CN2Classifier.from_file(bad)
        except InputError as error:
            assert str(bad) in str(error)
            continue
        # A copy that loads is a whole model: it predicts every row.
        assert back.predict(titanic.X).shape == (titanic.n_samples,)
        loaded += 1
    assert loaded < 300


_HOSTILE = [None, -1, 10**30, 1e308, "x", [], {}, True, [1, 2], "nan", 0.5, ""]


def _leaf_paths(value, prefix=()):
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaf_paths(v, (*prefix, k))]
    if isinstance(value, list) and value:
        return [p for i, v in enumerate(value) for p in _leaf_paths(v, (*prefix, i))]
    return [prefix]


def _set(document, where, value):
    for key in where[:-1]:
        document = document[key]
    document[where[-1]] = value


def test_rule_file_that_is_not_text_or_not_there(tmp_path):
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InputError, match="not UTF-8"):
        CN2Classifier.from_file(binary)
    with pytest.raises(InputError, match="does not exist"):
        CN2Classifier.from_file(tmp_path / "absent.json")
    nested = tmp_path / "deep.json"
    nested.write_text("[" * 100000 + "]" * 100000, encoding="utf-8")
    with pytest.raises(InputError, match=r"not JSON|not a lamina"):
        CN2Classifier.from_file(nested)
