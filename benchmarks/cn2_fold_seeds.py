"""CN2 accuracy and ROC AUC beside Orange's over fold seeds and column orders.

``learners.py`` measures everything on the folds of seed 0, with the columns in
the table's order. On small tables one seed's folds decide ROC AUC by a few
examples (zoo: 101 rows, classes of 4 and 5), and the order of the columns
decides which of several equally good rules Orange keeps (its beam search keeps
the first one generated, in column order; lamina prefers the larger coverage):
zoo's Orange AUC is 0.9948 in the table's order and 0.9438-0.9903 in seven
shuffled ones, on the same folds. So a gap between lamina and Orange is judged
here against its spread: the same 10-fold protocol (lenses: leave one out;
pooled out-of-fold probabilities, one-vs-rest macro ROC AUC by
``learners._auc``) repeated for each fold seed and each column order (the
first is the table's own, the others seeded shuffles), both learners on the
same folds and columns, at their default settings. Reported per table and mode:
each case's values, their means, and the mean and sample standard deviation of
lamina minus Orange; and the means in the table's own column order.

Usage::

    python benchmarks/cn2_fold_seeds.py [--orange-python PATH] [--seeds 0,1,2]
        [--column-orders 1]
        [--tables iris,lenses,titanic,zoo,heart_disease,breast-cancer-wisconsin]
        [--sizes 1000] [--json]

``--orange-python`` (or ``LAMINA_ORANGE_PYTHON``): as for ``learners.py``; without
it only lamina's columns are filled.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

import numpy as np
from learners import (
    CN2_TABLES,
    _all_classes,
    _auc,
    _orange,
    cn2_fold_count,
    cn2_tables,
    orange_job,
    synthetic,
)

from lamina.learn.cv import stratified_folds
from lamina.learn.datasets import Dataset
from lamina.plugins.cn2.cn2 import CN2Classifier

MODES = ("ordered", "unordered")


def lamina_scores(data: Dataset, folds: list, ordered: bool) -> tuple[float, float]:
    """Mean fold accuracy and pooled ROC AUC of lamina's CN2 at its defaults."""
    accuracy, probabilities = [], []
    for train, test in folds:
        model = CN2Classifier(
            ordered=ordered, categorical_features=data.categorical_features or None
        ).fit(data.X[train], data.y[train], feature_names=data.feature_names)
        accuracy.append(model.score(data.X[test], data.y[test]))
        probabilities.append(_all_classes(model, data.X[test], data.classes))
    pooled = np.concatenate([test for _, test in folds])
    return float(np.mean(accuracy)), _auc(data.y[pooled], np.vstack(probabilities), data.classes)


def orange_scores(data: Dataset, folds: list, python: str | None) -> dict | None:
    """Orange's mean fold accuracy and pooled ROC AUC per mode, on the same folds."""
    result = _orange(python, orange_job(data, folds, 1))
    if result is None:
        return None
    pooled = np.concatenate([test for _, test in folds])
    return {
        mode: (
            result[mode]["accuracy"],
            _auc(data.y[pooled], np.asarray(result[mode]["probabilities"]), data.classes),
        )
        for mode in MODES
    }


def column_orders(data: Dataset, count: int) -> list[Dataset]:
    """The table in its own column order, then ``count - 1`` seeded shuffles."""
    rng = np.random.default_rng(0)
    tables = [data]
    for _ in range(count - 1):
        order = rng.permutation(data.n_features)
        tables.append(
            dataclasses.replace(
                data,
                X=data.X[:, order],
                feature_names=tuple(data.feature_names[j] for j in order),
                categorical=tuple(data.categorical[j] for j in order),
            )
        )
    return tables


def spread(data: Dataset, seeds: list[int], orders: int, python: str | None) -> list[dict]:
    """One row per mode: accuracy and AUC of both learners for each (column order,
    fold seed), and the gap's mean and sample standard deviation over them."""
    n_folds = cn2_fold_count(data)
    ours: dict[str, list[tuple[float, float]]] = {mode: [] for mode in MODES}
    theirs: dict[str, list[tuple[float, float]]] = {mode: [] for mode in MODES}
    cases = []
    for order, table in enumerate(column_orders(data, orders)):
        for seed in seeds:
            cases.append((order, seed))
            folds = stratified_folds(table.y, n_folds, random_state=seed)
            for mode in MODES:
                ours[mode].append(lamina_scores(table, folds, mode == "ordered"))
            orange = orange_scores(table, folds, python)
            for mode in MODES:
                theirs[mode].append(orange[mode] if orange else (np.nan, np.nan))
    own_order = np.array([order == 0 for order, _ in cases])
    rows = []
    for mode in MODES:
        row: dict = {
            "case": f"{data.name} ({data.n_samples} rows)",
            "mode": mode,
            "seeds": seeds,
            "column_orders": orders,
        }
        for index, key in enumerate(("acc", "auc")):
            lamina = np.array([v[index] for v in ours[mode]])
            orange = np.array([v[index] for v in theirs[mode]])
            gap = lamina - orange
            row |= {
                f"lamina_{key}": lamina.tolist(),
                f"orange_{key}": orange.tolist(),
                f"lamina_{key}_mean": float(lamina.mean()),
                f"orange_{key}_mean": float(orange.mean()),
                f"lamina_{key}_own_order": float(lamina[own_order].mean()),
                f"orange_{key}_own_order": float(orange[own_order].mean()),
                f"{key}_gap_mean": float(gap.mean()),
                f"{key}_gap_sd": float(gap.std(ddof=1)) if len(gap) > 1 else 0.0,
                f"{key}_gap_cases_below": int(np.sum(gap < 0)),
            }
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orange-python", default=os.environ.get("LAMINA_ORANGE_PYTHON"))
    parser.add_argument("--seeds", default="0,1,2", help="fold seeds (default 0,1,2)")
    parser.add_argument(
        "--column-orders",
        type=int,
        default=1,
        help="column orders per table: its own, then seeded shuffles (default 1)",
    )
    parser.add_argument(
        "--tables", default=",".join(CN2_TABLES), help="comma-separated (default: all)"
    )
    parser.add_argument(
        "--sizes", default="", help="rows of synthetic tables, comma-separated (default none)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    names = [n for n in args.tables.split(",") if n]
    try:
        tables = cn2_tables(names, args.orange_python)
    except ValueError as error:
        parser.error(str(error))
    tables += [synthetic(int(size)) for size in args.sizes.split(",") if size]
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.column_orders < 1:
        parser.error("--column-orders must be at least 1")
    orders = args.column_orders
    rows = [row for data in tables for row in spread(data, seeds, orders, args.orange_python)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    n_cases = len(seeds) * orders
    print(
        f"# CN2 over fold seeds {seeds} x {orders} column order(s): mean over the "
        f"{n_cases} cases (lamina - Orange: mean gap +- sd, cases below), and the "
        "means in the table's own column order\n"
    )
    print(
        "| table | mode | accuracy lamina / Orange | gap | ROC AUC lamina / Orange | gap "
        "| own order: accuracy | own order: ROC AUC |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        cells = [r["case"], r["mode"]]
        for key, digits in (("acc", 3), ("auc", 4)):
            cells.append(
                f"{r[f'lamina_{key}_mean']:.{digits}f} / {r[f'orange_{key}_mean']:.{digits}f}"
            )
            cells.append(
                f"{r[f'{key}_gap_mean']:+.{digits}f} +- {r[f'{key}_gap_sd']:.{digits}f} "
                f"({r[f'{key}_gap_cases_below']} of {n_cases} below)"
            )
        for key, digits in (("acc", 3), ("auc", 4)):
            cells.append(
                f"{r[f'lamina_{key}_own_order']:.{digits}f} / "
                f"{r[f'orange_{key}_own_order']:.{digits}f}"
            )
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
