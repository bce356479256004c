"""The pipelines in examples/pipelines run (with smaller settings) and give
answers an independent check agrees with."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from lamina.pipeline import load_pipeline, run_pipeline

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "pipelines"


def prepared(tmp_path: Path, name: str, *edits: tuple[str, str]) -> Path:
    for item in EXAMPLES.iterdir():
        if item.is_file():
            shutil.copy(item, tmp_path / item.name)
    text = (EXAMPLES / name).read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    (tmp_path / name).write_text(text)
    return tmp_path / name


def test_registration_study_recovers_the_known_shifts(tmp_path: Path) -> None:
    result = run_pipeline(
        load_pipeline(prepared(tmp_path, "registration.toml")), tmp_path / "out", progress=False
    )
    scores = {level: result.steps[f"score_{level}"].values[0] for level in ("low", "mid", "high")}
    # The truth is the sweep: estimates within a tenth of a pixel at every level,
    # and the error grows with the noise.
    assert all(s["max_abs_error_px"] < 0.1 for s in scores.values())
    assert scores["low"]["rmse_px"] < scores["high"]["rmse_px"]
    truth = [(t["true_dy"], t["true_dx"]) for t in scores["low"]["table"]]
    points = result.steps["moved"].points
    assert truth == [(p["dy"], p["dx"]) for p in points]


def test_oit_methods_exact_ones_match_the_reference(tmp_path: Path) -> None:
    path = prepared(tmp_path, "oit_methods.toml", *[("size = [64, 64]", "size = [24, 24]")])
    result = run_pipeline(load_pipeline(path), tmp_path / "out", progress=False)
    for step in ("fragment_list_error", "dual_peeling_error"):
        assert all(v["max_abs_error"] < 1e-5 for v in result.steps[step].values), step
    assert any(v["max_abs_error"] > 1e-3 for v in result.steps["early_stop_error"].values)
    assert [p["source"] for p in result.steps["reference"].points] == [
        "procedural:stacked_quads:2",
        "procedural:stacked_quads:6",
        "procedural:stacked_quads:16",
    ]


def test_learner_comparison_beats_the_majority_baseline(tmp_path: Path) -> None:
    path = prepared(
        tmp_path,
        "learners.toml",
        ('["iris", "digits"]', '["iris"]'),
        ('["lenses", "zoo", "titanic"]', '["zoo"]'),
    )
    result = run_pipeline(load_pipeline(path), tmp_path / "out", progress=False)
    for step in ("gaussian_nb", "cn2_numeric", "categorical_nb", "cn2_categorical"):
        for value in result.steps[step].values:
            assert value["accuracy_mean"] > value["majority_baseline"] + 0.2, step
    # Independent reference: scikit-learn's Gaussian naive Bayes on the same folds.
    sklearn = pytest.importorskip("sklearn.naive_bayes")
    from lamina.learn.cv import stratified_folds
    from lamina.learn.datasets import load_dataset

    iris = load_dataset("iris")
    X, y = iris.X.astype(float), iris.y.astype(str)
    accuracy = np.mean(
        [
            np.mean(sklearn.GaussianNB().fit(X[a], y[a]).predict(X[b]) == y[b])
            for a, b in stratified_folds(y, 5, random_state=0)
        ]
    )
    assert result.steps["gaussian_nb"].values[0]["accuracy_mean"] == pytest.approx(
        accuracy, abs=0.02
    )
