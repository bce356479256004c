"""``lamina learn`` (cross-validated accuracy and timings of any learner on a
table) and ``lamina datasets`` (the bundled example tables)."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import click
import numpy as np

import lamina
from lamina.clitools import (
    check_output_file,
    emit_json,
    json_option,
    parse_settings,
    print_table,
    set_option,
)
from lamina.errors import InputError, shorten_list
from lamina.learn import cv
from lamina.learn.base import clone_learner
from lamina.learn.datasets import (
    Dataset,
    list_datasets,
    load_dataset,
    read_table,
    table_options,
)
from lamina.progress import progress_bar

__all__ = ["datasets", "learn", "prepare_learner"]


def prepare_learner(
    name: str, settings: tuple[str, ...], dataset: Dataset
) -> tuple[Any, dict[str, Any], np.ndarray]:
    """Build learner ``name`` with ``--set`` values, tell it which columns are
    categorical, and return it with its fit keywords and the matching ``X``."""
    info = lamina.get_host().get("learner", name)
    params: dict[str, Any] = dict(parse_settings(settings))
    parameters = {p.name for p in info.parameters}
    if "categorical_features" in parameters and "categorical_features" not in params:
        params["categorical_features"] = dataset.categorical_features or None
    learner = lamina.create("learner", name, **params)
    if hasattr(learner, "validate_params"):
        learner.validate_params()
    fit_keywords: dict[str, Any] = {}
    if "feature_names" in inspect.signature(learner.fit).parameters:
        fit_keywords["feature_names"] = list(dataset.feature_names)
    X = dataset.X if info.tags.input_data in ("mixed", "categorical") else dataset.numeric()
    return learner, fit_keywords, X


def _missing_value_error(
    error: InputError, dataset: Dataset, X: np.ndarray, learner: str
) -> InputError:
    """A learner's refusal of NaN or infinity, pointed at the file's line instead of
    the fold's row (a fold's row numbers mean nothing to someone looking at the file)."""
    text = str(error)
    if ("NaN" not in text and "infinity" not in text) or X.dtype.kind != "f":
        return error
    bad = ~np.isfinite(X)
    if not bad.any():
        return error
    row, column = (int(i) for i in np.argwhere(bad)[0])
    line = f", line {int(dataset.lines[row])}" if dataset.lines is not None else ""
    where = f"table {dataset.name!r}{line}: column {dataset.feature_names[column]!r}"
    if np.isnan(X[row, column]):
        return InputError(
            f"{where} is missing a value (data row {row + 1}) and {learner} does not accept "
            "missing values; fill or drop such rows, or use a learner that does (mixed-nb, cn2)"
        )
    return InputError(
        f"{where} holds {X[row, column]} (data row {row + 1}); {learner} needs finite "
        "numbers: fix or drop that row"
    )


def _column_difference(test: Dataset, data: Dataset) -> str:
    """How --test's columns differ from --data's, in a line whatever their number."""
    ours, theirs = list(test.feature_names), list(data.feature_names)
    missing = [name for name in theirs if name not in set(ours)]
    extra = [name for name in ours if name not in set(theirs)]
    if not missing and not extra:
        index = next(i for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) if a != b)
        return (
            f"has --data's columns in another order: column {index + 1} is {ours[index]!r}, "
            f"--data's is {theirs[index]!r}"
        )
    parts = (
        [f"lacks {len(missing):,} of --data's columns ({shorten_list(missing)})"] if missing else []
    )
    if extra:
        parts.append(f"has {len(extra):,} columns --data lacks ({shorten_list(extra)})")
    return "; ".join(parts)


@click.command()
@click.argument("learner")
@table_options
@click.option("--cv", "folds", type=int, default=10, show_default=True, help="Stratified folds.")
@click.option(
    "--test",
    "test_file",
    default=None,
    metavar="FILE.csv",
    help="Train on --data, test on this file instead of cross-validating.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the fold shuffle.")
@click.option(
    "--save",
    "save_path",
    default=None,
    metavar="MODEL.npz",
    help="Also fit on all of --data and save the model (no pickle).",
)
@set_option
@json_option
def learn(
    learner: str,
    data: str,
    target: str | None,
    categorical: str,
    numeric: str,
    ignore: str | None,
    folds: int,
    test_file: str | None,
    seed: int,
    save_path: str | None,
    settings: tuple[str, ...],
    as_json: bool,
) -> None:
    """Accuracy, fit and predict time of LEARNER on a table (stratified k-fold or a test file).

    Example: lamina learn cn2 --data titanic --cv 10 --set beam_width=8
    """
    if save_path is not None:
        check_output_file(save_path, name="--save")
    dataset = read_table(data, target, categorical, numeric, ignore)
    model, fit_keywords, X = prepare_learner(learner, settings, dataset)
    results: list[cv.FoldScore] = []
    if test_file is not None:
        test = read_table(test_file, dataset.target, categorical, numeric, ignore)
        if list(test.feature_names) != list(dataset.feature_names):
            raise InputError(f"--test {test_file!r} {_column_difference(test, dataset)}")
        _, _, X_test = prepare_learner(learner, settings, test)
        try:
            results.append(
                cv.evaluate(model, X, dataset.y, X_test, test.y, fit_keywords=fit_keywords)
            )
        except InputError as error:
            error = _missing_value_error(error, dataset, X, learner)
            raise _missing_value_error(error, test, X_test, learner) from None
        protocol = f"train on {dataset.name}, test on {test.name}"
    else:
        with progress_bar() as progress:
            task = progress.add_task(f"{learner} on {dataset.name}", total=folds, status="")

            def advance(scores: list[cv.FoldScore]) -> None:
                accuracy = np.mean([s.accuracy for s in scores])
                progress.update(task, advance=1, status=f"acc {accuracy:.3f}")

            try:
                results = cv.cross_validate(
                    model,
                    X,
                    dataset.y,
                    folds=folds,
                    seed=seed,
                    fit_keywords=fit_keywords,
                    on_fold=advance,
                )
            except InputError as error:
                raise _missing_value_error(error, dataset, X, learner) from None
        protocol = f"{folds}-fold stratified cross-validation (seed {seed})"
    accuracy = np.array([r.accuracy for r in results])
    majority = cv.majority_baseline(dataset.y)
    report = {
        "learner": learner,
        "params": {k: v for k, v in model.get_params().items() if not hasattr(v, "get_params")},
        "data": dataset.name,
        "samples": dataset.n_samples,
        "features": dataset.n_features,
        "protocol": protocol,
        "accuracy_mean": float(accuracy.mean()),
        "accuracy_std": float(accuracy.std()),
        "majority_baseline": majority,
        "fit_seconds": float(sum(r.fit_seconds for r in results)),
        "predict_seconds": float(sum(r.predict_seconds for r in results)),
        "folds": [dataclasses.asdict(r) for r in results],
    }
    if save_path is not None:
        final = clone_learner(model).fit(X, dataset.y, **fit_keywords)
        final.save(save_path)
        report["saved"] = save_path
    if as_json:
        emit_json(report)
        return
    print_table(
        f"{learner} on {dataset.name} ({protocol})",
        ["accuracy", "std", "majority", "fit s", "predict s"],
        [
            (
                f"{report['accuracy_mean']:.4f}",
                f"{report['accuracy_std']:.4f}",
                f"{majority:.4f}",
                report["fit_seconds"],
                report["predict_seconds"],
            )
        ],
    )


@click.command()
@click.argument("name", required=False)
@json_option
def datasets(name: str | None, as_json: bool) -> None:
    """List the bundled example tables, or describe table NAME."""
    if name is not None:
        summary = load_dataset(name).summary()
        if as_json:
            emit_json(summary)
            return
        print_table(
            f"dataset {name}",
            ["property", "value"],
            [
                (
                    k,
                    ", ".join(f"{a}: {b}" for a, b in v.items())
                    if isinstance(v, dict)
                    else (", ".join(v) if isinstance(v, list) else v),
                )
                for k, v in summary.items()
            ],
        )
        return
    found = list_datasets()
    if as_json:
        emit_json(found)
        return
    print_table(
        "bundled datasets",
        ["name", "target", "licence", "description"],
        [
            (n, e["target"], e.get("licence", ""), e.get("description", ""))
            for n, e in found.items()
        ],
    )
