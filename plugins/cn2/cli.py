"""``lamina rules``: learn CN2 rules from a table and print them, or apply a saved rule file."""

from __future__ import annotations

from typing import Any

import click
import numpy as np

import lamina
from lamina.clitools import (
    check_output_file,
    emit_json,
    json_option,
    parse_settings,
    set_option,
    stdout_console,
)
from lamina.io import atomic_write
from lamina.learn.datasets import read_table, table_options

__all__ = ["rules"]


@click.command()
@table_options
@click.option(
    "--output",
    "output",
    default=None,
    metavar="RULES.json",
    help="Write the fitted model (rules, columns, categories) as JSON.",
)
@click.option(
    "--load",
    "load_path",
    default=None,
    metavar="RULES.json",
    help="Use the rules in this file instead of learning; report accuracy on --data.",
)
@set_option
@json_option
def rules(
    data: str,
    target: str | None,
    categorical: str,
    numeric: str,
    ignore: str | None,
    output: str | None,
    load_path: str | None,
    settings: tuple[str, ...],
    as_json: bool,
) -> None:
    """Print CN2's rule list for a table (default rule last), with class counts.

    Example: lamina rules --data titanic --set ordered=false
    """
    from lamina.plugins.cn2.cn2 import CN2Classifier

    if output is not None:
        check_output_file(output, name="--output")
    dataset = read_table(data, target, categorical, numeric, ignore)
    X = dataset.X
    if load_path is not None:
        # Rules are applied by column name: a table with its columns in another
        # order (or with extra ones) gets the same predictions.
        model = CN2Classifier.from_file(load_path)
        X = model.align_columns(X, dataset.feature_names, source=f"rule file {load_path!r}")
    else:
        params: dict[str, Any] = dict(parse_settings(settings))
        params.setdefault("categorical_features", dataset.categorical_features or None)
        model = lamina.create("learner", "cn2", **params)
        model.validate_params()
        model.fit(dataset.X, dataset.y, feature_names=list(dataset.feature_names))
    accuracy = float(np.mean(model.predict(X) == dataset.y))
    if output is not None:
        with atomic_write(output, "w") as handle:
            handle.write(model.to_json() + "\n")
    if as_json:
        emit_json(
            {
                "data": dataset.name,
                "ordered": bool(model.ordered),
                "accuracy_on_data": accuracy,
                "rules": [dict(rule.to_dict(), text=str(rule)) for rule in model.rules_],
                "ranking_rules": [
                    dict(rule.to_dict(), text=str(rule)) for rule in model.ranking_rules_
                ],
            }
        )
        return
    kind = "decision list" if model.ordered else "unordered rule set"
    stdout_console.print(
        f"# CN2 {kind}: {len(model.rules_)} rules for {dataset.target!r} on {dataset.name} "
        f"({dataset.n_samples} rows); accuracy on these rows {accuracy:.4f}",
        markup=False,
        highlight=False,
    )
    click.echo(model.export_text())
