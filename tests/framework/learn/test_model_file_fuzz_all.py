"""Damaged model files of EVERY registered learner (issue #16 item 7).

For each learner registered with lamina that can be saved, a small model is
fitted on tiny data and saved; truncated, bit-flipped, cut-out and edited copies
(state entries deleted or replaced, JSON leaves given hostile values, arrays
given NaN, infinity, negative, huge values, wrong shapes and dtypes, members
deleted) are thrown at :func:`lamina.learn.model_file.load_model`. The only accepted
outcomes are:

* one single-line :class:`lamina.InputError` naming the file, at load; or
* a model that loads and whose ``predict`` / ``predict_proba`` (classifiers,
  regressors) or ``transform`` (generative learners) on valid data runs
  without error and returns finite values of the shape the undamaged model
  gives (probabilities summing to 1, labels among ``classes_``).

A model that loads and then crashes or predicts NaN fails the test: damage
must be caught by the learner's ``_check_state``, at load.

Seeded and bounded (a few seconds per learner). Deterministic edits
(every truncation point of a grid, every state entry and array member) always
run; ``LAMINA_MODEL_FUZZ_ROUNDS`` (default 1) sets how many seeded rounds of
random bit flips, cut-out runs and leaf edits run on top — raise it for a longer search.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import zipfile
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import lamina
from lamina.errors import InputError
from lamina.learn.model_file import load_model
from lamina.testing.damage import bit_flipped, cut_out

from .model_files import array_edits, loaded_or_refused, model_bytes, model_members

ROUNDS = int(os.environ.get("LAMINA_MODEL_FUZZ_ROUNDS", "1"))

#: Models with more array members than this (networks: many weight arrays, each
#: checked by the same code) get this many sampled edits per member and round.
SAMPLED_EDITS = 6

#: Settings that keep fits tiny, applied where a learner has the parameter.
FAST = {
    "max_iter": 5,
    "width": 6,
    "hidden": (6,),
    "latent_dim": 2,
    "max_epochs": 2,
    "n_features": 12,
    "device": "cpu",
    "random_state": 0,
}

_HOSTILE = [None, -1, 0, 10**12, -(10**12), 1.5, 1e308, float("nan"), "x", "", [], {}, True, [1, 2]]


def _learners() -> list[Any]:
    return [info for info in lamina.components("learner")]


def _data(info: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """Tiny, well separated data in the form the learner takes."""
    rng = np.random.default_rng(3)
    kind, data = info.tags.learner_type, info.tags.input_data
    if kind == "generative" or data == "binary":
        y = np.repeat(np.arange(3), 16)
        p = np.array(
            [[0.9, 0.1, 0.1, 0.5, 0.2], [0.1, 0.9, 0.1, 0.5, 0.8], [0.1, 0.1, 0.9, 0.5, 0.5]]
        )
        X = (rng.random((len(y), 5)) < p[y]).astype(float)
        return X, None if kind == "generative" else np.array(["ant", "bee", "cat"])[y]
    if kind == "regressor":
        X = rng.uniform(-2, 2, (40, 2))
        return X, np.sin(X[:, 0]) + 0.5 * X[:, 1]
    y = np.repeat(np.arange(3), 16)
    if data in ("counts", "categorical"):
        X = rng.poisson(np.array([[6, 1, 1, 2], [1, 6, 1, 2], [1, 1, 6, 2]])[y]).astype(float)
        X = np.minimum(X, 5) if data == "categorical" else X
    elif data == "mixed":
        X = np.empty((len(y), 3), dtype=object)
        X[:, 0] = rng.normal(size=len(y)) + 2.0 * y
        X[:, 1] = np.array(["red", "green", "blue"])[np.where(rng.random(len(y)) < 0.8, y, 0)]
        X[:, 2] = rng.normal(size=len(y))
    else:
        X = rng.normal(size=(len(y), 4)) + 2.0 * y[:, None]
    return X, np.array(["ant", "bee", "cat"])[y]


def _outputs(model: Any, kind: str, X: np.ndarray) -> dict[str, np.ndarray]:
    if kind == "generative":
        out = {"transform": np.asarray(model.transform(X))}
        if hasattr(model, "score_samples"):
            out["score_samples"] = np.asarray(model.score_samples(X))
        return out
    out = {"predict": np.asarray(model.predict(X))}
    if kind == "classifier" and hasattr(model, "predict_proba"):
        out["predict_proba"] = np.asarray(model.predict_proba(X))
    return out


def _save_fitted(info: Any, path: Any) -> np.ndarray:
    """Fit the learner (tiny settings, tiny data) and save it to ``path``; return its X.
    Skips the test when the learner needs a missing library or cannot be saved."""
    for module in info.tags.requires:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{info.name} needs {module}")
    names = {p.name for p in info.parameters}
    learner = info.load()(**{k: v for k, v in FAST.items() if k in names})
    if not hasattr(learner, "save"):
        pytest.skip(f"{info.name} cannot be saved")
    X, y = _data(info)
    (learner.fit(X) if y is None else learner.fit(X, y)).save(path)
    return X


@pytest.fixture(scope="module", params=_learners(), ids=lambda info: info.name)
def saved(request, tmp_path_factory):
    info = request.param
    path = tmp_path_factory.mktemp(info.name) / "model.npz"
    X = _save_fitted(info, path)
    kind = info.tags.learner_type
    reference = {k: v.shape for k, v in _outputs(load_model(path), kind, X).items()}
    return path.read_bytes(), X, kind, reference


def _verdict(path: Any, X: np.ndarray, kind: str, reference: dict[str, tuple[int, ...]]) -> str:
    """'refused' or 'loaded'; fails the test on any other outcome."""
    model = loaded_or_refused(path)
    if model is None:
        return "refused"
    try:
        outputs = _outputs(model, kind, X)
    except Exception as error:  # the point of the test: nothing may escape after a load
        raise AssertionError(
            f"a damaged file loaded, then {type(error).__name__} at prediction: {error}"
        ) from error
    for name, value in outputs.items():
        assert value.shape == reference[name], f"{name} shape {value.shape} != {reference[name]}"
        if value.dtype.kind in "fc":
            assert np.all(np.isfinite(value)), f"{name} is not finite after a damaged load"
    if "predict_proba" in outputs:
        assert np.allclose(outputs["predict_proba"].sum(axis=1), 1.0)
    if kind == "classifier":
        assert set(outputs["predict"].tolist()) <= set(model.classes_.tolist())
    return "loaded"


# -- the file's parts -------------------------------------------------------------------------
def _leaves(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict) and value:
        return [p for k, v in value.items() for p in _leaves(v, (*prefix, k))]
    if isinstance(value, list) and value:
        return [p for i, v in enumerate(value) for p in _leaves(v, (*prefix, i))]
    return [prefix]


def _replaced(document: dict[str, Any], where: tuple[Any, ...], value: Any) -> dict[str, Any]:
    edited = copy.deepcopy(document)
    node = edited
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    return edited


def _copies(data: bytes) -> Iterator[tuple[str, bytes]]:
    """Damaged copies of a model file: deterministic edits, then ``ROUNDS`` seeded rounds."""
    for cut in sorted({0, 1, 30, *np.linspace(2, len(data) - 1, 12).astype(int).tolist()}):
        yield f"truncated at {cut}", data[:cut]
    header, arrays = model_members(data)
    for key in header["state"]:
        state = {k: v for k, v in header["state"].items() if k != key}
        yield f"state {key!r} deleted", model_bytes({**header, "state": state}, arrays)
    sample = np.random.default_rng(len(data))
    for name, array in arrays.items():
        yield (
            f"member {name!r} deleted",
            model_bytes(header, {k: v for k, v in arrays.items() if k != name}),
        )
        edits = list(enumerate(array_edits(array)))
        if len(arrays) > SAMPLED_EDITS:
            chosen = sample.permutation(len(edits))[: SAMPLED_EDITS * ROUNDS]
            edits = [edits[int(k)] for k in sorted(chosen)]
        for i, edited in edits:
            yield f"member {name!r} edit {i}", model_bytes(header, {**arrays, name: edited})
    leaves = [p for p in _leaves({"params": header["params"], "state": header["state"]}) if p]
    for seed in range(ROUNDS):
        rng = np.random.default_rng(seed)
        for flip in range(40):
            yield f"seed {seed} bit flip {flip}", bit_flipped(data, rng, 1)
        for cut in range(10):
            yield f"seed {seed} cut-out {cut}", cut_out(data, rng, 1 + cut % 7)
        for where in rng.permutation(len(leaves))[: 4 * len(header["state"]) + 20]:
            path = leaves[int(where)]
            value = _HOSTILE[int(rng.integers(len(_HOSTILE)))]
            edited = _replaced({"params": header["params"], "state": header["state"]}, path, value)
            yield f"seed {seed} {path} = {value!r}", model_bytes({**header, **edited}, arrays)


def test_damaged_model_files_are_refused_at_load_or_predict_sensibly(saved, tmp_path):
    data, X, kind, reference = saved
    path = tmp_path / "damaged.npz"
    verdicts = []
    for label, damaged in _copies(data):
        path.write_bytes(damaged)
        try:
            verdicts.append(_verdict(path, X, kind, reference))
        except AssertionError as error:
            raise AssertionError(f"{label}: {error}") from None
    assert verdicts.count("refused") > len(verdicts) // 2, verdicts.count("refused")


def test_undamaged_copy_loads(saved, tmp_path):
    data, X, kind, reference = saved
    path = tmp_path / "model.npz"
    path.write_bytes(data)
    assert _verdict(path, X, kind, reference) == "loaded"
    with zipfile.ZipFile(path) as archive:
        assert "__header__.npy" in archive.namelist()


@pytest.mark.parametrize(
    ("name", "key", "message"),
    [
        ("mlp-classifier", "x_mean_", r"fitted x_mean_ of MLPClassifier must be a numeric array"),
        ("cn2", "categorical_", r"fitted categorical_ must be 3 booleans"),
        ("random-features", "coef_", r"fitted coef_ of RandomFeatures must be a numeric array"),
        ("vae", "_eval_seed", r"fitted _eval_seed must be a whole number"),
    ],
)
def test_a_deleted_fitted_value_is_named_at_load(name, key, message, tmp_path):
    """The cases first seen loading and then crashing at predict (issue #16 item 7)."""
    path = tmp_path / "model.npz"
    _save_fitted(next(info for info in _learners() if info.name == name), path)
    header, arrays = model_members(path.read_bytes())
    state = {k: v for k, v in header["state"].items() if k != key}
    path.write_bytes(model_bytes({**header, "state": state}, arrays))
    with pytest.raises(InputError, match=message) as caught:
        load_model(path)
    assert str(path) in str(caught.value)
