"""Registration, the ``lamina learn`` / ``lamina datasets`` commands, and saved models."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import lamina
from lamina.cli import main
from lamina.learn.model_file import load_model

NAMES = [
    "gaussian-nb",
    "multinomial-nb",
    "complement-nb",
    "bernoulli-nb",
    "categorical-nb",
    "mixed-nb",
]


@pytest.mark.parametrize("name", NAMES)
def test_registered_with_tags(name):
    info = lamina.get_host().get("learner", name)
    assert info.tags.learner_type == "classifier" and info.tags.deterministic
    model = lamina.create("learner", name)
    assert isinstance(model, lamina.Learner)


def test_create_coerces_command_line_strings():
    model = lamina.create("learner", "gaussian-nb", var_smoothing="1e-3")
    assert model.var_smoothing == 1e-3


def test_learn_json_reports_accuracy_and_times():
    result = CliRunner().invoke(
        main, ["learn", "gaussian-nb", "--data", "iris", "--cv", "5", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["accuracy_mean"] > 0.9 and len(report["folds"]) == 5
    assert report["fit_seconds"] >= 0 and report["majority_baseline"] == pytest.approx(1 / 3)


def test_learn_on_a_csv_with_a_test_file_and_save(tmp_path):
    rng = np.random.default_rng(0)
    rows = ["colour,size,label"] + [
        f"{'red' if rng.random() < 0.8 - 0.6 * (i % 2) else 'blue'},{rng.normal() + i % 2:.3f},{'ab'[i % 2]}"
        for i in range(200)
    ]
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    train.write_text("\n".join(rows[:151]) + "\n")
    test.write_text("\n".join([rows[0], *rows[151:]]) + "\n")
    model_path = tmp_path / "model.npz"
    result = CliRunner().invoke(
        main,
        [
            "learn",
            "mixed-nb",
            "--data",
            str(train),
            "--target",
            "label",
            "--test",
            str(test),
            "--save",
            str(model_path),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["accuracy_mean"] > 0.6
    loaded = load_model(model_path)
    assert loaded.categorical_.tolist() == [True, False]


def test_learn_errors_name_the_problem():
    runner = CliRunner()
    result = runner.invoke(main, ["learn", "gaussian-nb", "--data", "iris", "--target", "colour"])
    assert result.exit_code == 2 and "no target column 'colour'" in result.output
    result = runner.invoke(main, ["learn", "gaussian-nb", "--data", "titanic"])
    assert result.exit_code == 2 and "categorical column(s) status" in result.output
    result = runner.invoke(
        main, ["learn", "gaussian-nb", "--data", "iris", "--set", "var_smoothing=-1"]
    )
    assert result.exit_code == 2 and "var_smoothing" in result.output


def test_datasets_command():
    result = CliRunner().invoke(main, ["datasets", "--json"])
    assert result.exit_code == 0
    assert {"iris", "lenses", "titanic", "zoo"} <= set(json.loads(result.stdout))
    result = CliRunner().invoke(main, ["datasets", "titanic", "--json"])
    assert json.loads(result.stdout)["classes"] == {"no": 1490, "yes": 711}


def test_saved_models_reload_with_identical_predictions(tmp_path):
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    counts = np.round(X * 10).astype(int)
    for name in NAMES:
        model = lamina.create("learner", name)
        data = X if name in ("gaussian-nb", "mixed-nb") else counts
        model.fit(data, y)
        path = tmp_path / f"{name}.npz"
        model.save(path)
        back = load_model(path)
        np.testing.assert_array_equal(back.predict_proba(data), model.predict_proba(data))
