"""Model files under attack: truncated, bit-flipped, cut-out, empty and edited copies of saved
models (issue #16). ``load_model`` must either refuse with one ``InputError`` that
names the file, or return a model that predicts sensible probabilities.

The fuzzing is seeded (``SEEDS``; widen it for a longer run): every truncation
point on a grid, random bit flips and cut-out runs, and structured edits of the JSON header and
of every saved array (NaN, infinity, negative values, wrong shapes and dtypes,
missing entries, foreign classes, unknown versions).
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from lamina.errors import InputError
from lamina.learn.model_file import load_model
from lamina.memory import MemoryLimitError
from lamina.plugins.bayes.categorical import CategoricalNB, MixedNB
from lamina.plugins.bayes.discrete import BernoulliNB, ComplementNB, MultinomialNB
from lamina.plugins.bayes.gaussian import GaussianNB
from lamina.testing.damage import bit_flipped, cut_out

from .model_files import array_edits, loaded_or_refused, model_bytes, model_members

SEEDS = [0, 1]


def _data(model_class: type) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 3, 40)
    if model_class is MixedNB:
        X = np.empty((40, 3), dtype=object)
        X[:, 0] = rng.normal(size=40) + y
        X[:, 1] = rng.choice(["red", "blue", "green"], 40)
        X[:, 2] = rng.normal(size=40)
        return X, y
    return rng.integers(0, 4, (40, 4)).astype(np.float64), y


MODELS = [GaussianNB, MultinomialNB, ComplementNB, BernoulliNB, CategoricalNB, MixedNB]


@pytest.fixture(scope="module", params=MODELS, ids=lambda c: c.__name__)
def saved(request, tmp_path_factory):
    model_class = request.param
    X, y = _data(model_class)
    path = tmp_path_factory.mktemp(model_class.__name__) / "model.npz"
    model_class().fit(X, y).save(path)
    return path.read_bytes(), X, y


def _verdict(path, X, y) -> str:
    """'refused' or 'loaded'; fails the test on anything else."""
    model = loaded_or_refused(path)
    if model is None:
        return "refused"
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), len(model.classes_))
    assert np.all(np.isfinite(proba)) and np.allclose(proba.sum(axis=1), 1.0)
    assert set(np.asarray(model.predict(X)).tolist()) <= set(model.classes_.tolist())
    return "loaded"


def test_truncated_copies_are_refused(saved, tmp_path):
    data, X, y = saved
    path = tmp_path / "cut.npz"
    for cut in sorted({0, 1, 4, 30, *np.linspace(0, len(data) - 1, 40).astype(int).tolist()}):
        path.write_bytes(data[:cut])
        assert _verdict(path, X, y) == "refused", cut


@pytest.mark.parametrize("seed", SEEDS)
def test_bit_flipped_and_cut_out_copies_are_refused_or_load_sensibly(saved, tmp_path, seed):
    data, X, y = saved
    rng = np.random.default_rng(seed)
    path = tmp_path / "damaged.npz"
    for case in range(60):
        # 40 single-bit flips, then 20 cut-out runs of 1 to 7 bytes.
        damaged = bit_flipped(data, rng, 1) if case < 40 else cut_out(data, rng, 1 + case % 7)
        path.write_bytes(damaged)
        _verdict(path, X, y)


def _header_edits(header: dict) -> list[dict]:
    edits = []
    for key in list(header):
        edits.append({k: v for k, v in header.items() if k != key})
    for version in (99, 0, -1, "1", None, True, 1.5):
        edits.append({**header, "version": version})
    for name in (
        "os:system",
        "builtins:eval",
        "lamina.plugins.bayes.gaussian:Nope",
        "lamina.nowhere:X",
        "lamina.plugins.bayes.gaussian:GaussianNB.__init__",
        42,
    ):
        edits.append({**header, "class": name})
    edits.append({**header, "params": {**header["params"], "bogus": 1}})
    edits.append({**header, "params": []})
    for key in header["params"]:
        for value in ("x", -1, [1, 2], {"a": 1}):
            edits.append({**header, "params": {**header["params"], key: value}})
    for key in header["state"]:
        edits.append({**header, "state": {k: v for k, v in header["state"].items() if k != key}})
        for entry in (
            {"array": "missing"},
            {"value": None},
            {"value": "text"},
            {"list": ["nope"]},
            5,
            {"object": "os:system", "value": {}},
            {"objects": "lamina.errors:InputError", "value": [1]},
            {"array": "x", "value": 1},
        ):
            edits.append({**header, "state": {**header["state"], key: entry}})
    return edits


def test_edited_headers_are_refused_or_load_sensibly(saved, tmp_path):
    data, X, y = saved
    header, arrays = model_members(data)
    path = tmp_path / "edited.npz"
    verdicts = []
    for edited in _header_edits(header):
        path.write_bytes(model_bytes(edited, arrays))
        verdicts.append(_verdict(path, X, y))
    assert verdicts.count("refused") > len(verdicts) // 2


def test_edited_arrays_are_refused_or_load_sensibly(saved, tmp_path):
    data, X, y = saved
    header, arrays = model_members(data)
    path = tmp_path / "edited.npz"
    refused = 0
    for name, array in arrays.items():
        for edited in array_edits(array):
            path.write_bytes(model_bytes(header, {**arrays, name: edited}))
            refused += _verdict(path, X, y) == "refused"
    assert refused


def test_nan_and_negative_variances_and_wrong_shapes_are_named(tmp_path):
    X, y = _data(GaussianNB)
    path = tmp_path / "g.npz"
    GaussianNB().fit(X, y).save(path)
    header, arrays = model_members(path.read_bytes())
    for value, message in (
        (np.nan, r"var_ of GaussianNB holds NaN"),
        (-1.0, r"var_ of GaussianNB must be > 0"),
    ):
        var = arrays["a:var_"].copy()
        var[0, 0] = value
        path.write_bytes(model_bytes(header, {**arrays, "a:var_": var}))
        with pytest.raises(InputError, match=message):
            load_model(path)
    path.write_bytes(model_bytes(header, {**arrays, "a:theta_": arrays["a:theta_"][:, :2]}))
    with pytest.raises(InputError, match=r"theta_ of GaussianNB has shape \(3, 2\), expected"):
        load_model(path)
    path.write_bytes(model_bytes({**header, "version": 99}, arrays))
    with pytest.raises(InputError, match="format version 99 is not one this lamina reads"):
        load_model(path)
    path.write_bytes(
        model_bytes({**header, "class": "lamina.plugins.bayes.gaussian:Unknown"}, arrays)
    )
    with pytest.raises(InputError, match="names unknown class"):
        load_model(path)


def test_empty_folder_garbage_and_pickles_are_refused(tmp_path):
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="is empty"):
        load_model(empty)
    with pytest.raises(InputError, match="is a folder"):
        load_model(tmp_path)
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(InputError, match="not a lamina model file"):
        load_model(tmp_path / "junk.npz")
    X, y = _data(GaussianNB)
    path = tmp_path / "g.npz"
    GaussianNB().fit(X, y).save(path)
    header, arrays = model_members(path.read_bytes())
    path.write_bytes(model_bytes(header, {**arrays, "a:theta_": np.array([object()])}))
    with pytest.raises(InputError, match="holds Python objects"):
        load_model(path)


def test_a_member_declaring_a_huge_array_is_refused_before_allocating(tmp_path):
    X, y = _data(GaussianNB)
    path = tmp_path / "g.npz"
    GaussianNB().fit(X, y).save(path)
    huge = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        huge, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)}
    )
    huge.write(b"\0" * 64)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("a:huge.npy", huge.getvalue())
    with pytest.raises(InputError, match="declares 8000000000000 bytes of data but holds 64"):
        load_model(path)


def test_memory_guard_applies_to_model_files(tmp_path, monkeypatch):
    X, y = _data(GaussianNB)
    path = tmp_path / "g.npz"
    GaussianNB().fit(X, y).save(path)
    monkeypatch.setenv("LAMINA_MEMORY_LIMIT", "64")
    with pytest.raises(MemoryLimitError, match=r"g\.npz"):
        load_model(path)


def test_a_model_file_from_before_lamina_store_names_the_file_and_the_fix(tmp_path):
    """Version 1 (state entries {"array": ...} / {"value": ...}, issue 16) is refused
    with one line naming the file and saying how to get a file this lamina reads."""
    path = tmp_path / "old.npz"
    header = {
        "format": "lamina-model",
        "version": 1,
        "class": "lamina.plugins.bayes.gaussian:GaussianNB",
        "params": {"priors": None, "var_smoothing": 1e-9},
        "state": {"theta_": {"array": "theta_"}, "n_features_in_": {"value": 2}},
    }
    path.write_bytes(model_bytes(header, {"a:theta_": np.zeros((2, 2))}))
    with pytest.raises(InputError) as caught:
        load_model(path)
    message = str(caught.value)
    assert str(path) in message and "\n" not in message
    assert "format version 1 is not one this lamina reads (2)" in message
    assert "save it again" in message


def test_a_model_is_rebuilt_through_the_public_from_state(tmp_path):
    # load_model rebuilds through BaseLearner.from_state (no protected learner methods
    # called from model_file), and from_state refuses what save never writes.
    X, y = _data(GaussianNB)
    path = tmp_path / "g.npz"
    fitted = GaussianNB(var_smoothing=1e-6).fit(X, y)
    fitted.save(path)
    header, arrays = model_members(path.read_bytes())
    state = {name: value for name, value in vars(fitted).items() if name.endswith("_")}
    rebuilt = GaussianNB.from_state(fitted.get_params(), state)
    np.testing.assert_array_equal(rebuilt.predict_proba(X), load_model(path).predict_proba(X))
    np.testing.assert_array_equal(rebuilt.predict_proba(X), fitted.predict_proba(X))
    for stray in ("__dict__", "__class__", "_private", "not_fitted", "a b_"):
        with pytest.raises(InputError, match=f"state names an attribute '{stray}', which Gaus"):
            GaussianNB.from_state({}, {**state, stray: {}})
        edited = {**header, "state": {**header["state"], stray: {"__dict__": {}}}}
        path.write_bytes(model_bytes(edited, arrays))
        with pytest.raises(InputError, match=f"g.npz': state names an attribute '{stray}'"):
            load_model(path)
    with pytest.raises(InputError, match=r"GaussianNB has no parameter\(s\) \['alpha'\]"):
        GaussianNB.from_state({"alpha": 1.0}, state)
    with pytest.raises(InputError, match="fitted n_features_in_ must be a positive integer"):
        GaussianNB.from_state({}, {**state, "n_features_in_": 0})


class _GaussianWithSpread(GaussianNB):
    """A learner with a computed fitted-looking property, as the torch learners'
    ``n_parameters_``."""

    @property
    def spread_(self) -> float:
        return float(np.max(self.var_))

    def centre_(self) -> float:
        return float(np.mean(self.theta_))


def test_state_may_not_name_what_the_class_defines(tmp_path):
    # A property or method ending in "_" is no attribute save writes: setting it
    # raised a bare AttributeError (a property) or replaced the method.
    X, y = _data(GaussianNB)
    fitted = _GaussianWithSpread().fit(X, y)
    state = {name: value for name, value in vars(fitted).items() if name.endswith("_")}
    for name in ("spread_", "centre_"):
        with pytest.raises(InputError, match=f"names an attribute '{name}', which _Gaussian"):
            _GaussianWithSpread.from_state({}, {**state, name: 3.0})
    path = tmp_path / "s.npz"
    fitted.save(path)
    assert load_model(path).spread_ == fitted.spread_


def test_model_file_calls_no_protected_method_of_a_learner():
    import ast
    import inspect

    from lamina.learn import model_file

    tree = ast.parse(inspect.getsource(model_file))
    protected = [
        f"line {node.lineno}: {ast.unparse(node)}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
    ]
    assert protected == []
