"""CN2 accuracy and ROC AUC beside Orange's over several cross-validation fold seeds.

``learners.py`` measures everything on the folds of seed 0. On small tables one
seed's folds decide ROC AUC by a few examples (zoo: 101 rows, classes of 4 and 5),
so a gap between lamina and Orange is judged here against its spread: the same
10-fold protocol (lenses: leave one out; pooled out-of-fold probabilities,
one-vs-rest macro ROC AUC by ``learners._auc``) repeated for each fold seed, both
learners on the same folds, at their default settings. Reported per table and
mode: each seed's values, their means, and the mean and sample standard deviation
of lamina minus Orange.

Usage::

    python benchmarks/cn2_fold_seeds.py [--orange-python PATH] [--seeds 0,1,2]
        [--tables iris,lenses,titanic,zoo,heart_disease,breast-cancer-wisconsin]
        [--sizes 1000] [--json]

``--orange-python`` (or ``LAMINA_ORANGE_PYTHON``): as for ``learners.py``; without
it only lamina's columns are filled.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
from learners import (
    CN2_TABLES,
    _all_classes,
    _auc,
    _orange,
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


def spread(data: Dataset, seeds: list[int], python: str | None) -> list[dict]:
    """One row per mode: per-seed accuracy and AUC of both learners and the gap's
    mean and sample standard deviation over the seeds."""
    n_folds = 24 if data.name == "lenses" else 10
    ours: dict[str, list[tuple[float, float]]] = {mode: [] for mode in MODES}
    theirs: dict[str, list[tuple[float, float]]] = {mode: [] for mode in MODES}
    for seed in seeds:
        folds = stratified_folds(data.y, n_folds, random_state=seed)
        for mode in MODES:
            ours[mode].append(lamina_scores(data, folds, mode == "ordered"))
        orange = orange_scores(data, folds, python)
        for mode in MODES:
            theirs[mode].append(orange[mode] if orange else (np.nan, np.nan))
    rows = []
    for mode in MODES:
        row: dict = {"case": f"{data.name} ({data.n_samples} rows)", "mode": mode, "seeds": seeds}
        for index, key in enumerate(("acc", "auc")):
            lamina = np.array([v[index] for v in ours[mode]])
            orange = np.array([v[index] for v in theirs[mode]])
            gap = lamina - orange
            row |= {
                f"lamina_{key}": lamina.tolist(),
                f"orange_{key}": orange.tolist(),
                f"lamina_{key}_mean": float(lamina.mean()),
                f"orange_{key}_mean": float(orange.mean()),
                f"{key}_gap_mean": float(gap.mean()),
                f"{key}_gap_sd": float(gap.std(ddof=1)) if len(seeds) > 1 else 0.0,
                f"{key}_gap_seeds_below": int(np.sum(gap < 0)),
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
    rows = [row for data in tables for row in spread(data, seeds, args.orange_python)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"# CN2 over fold seeds {seeds}: mean (lamina - Orange mean gap +- sd, seeds below)\n")
    print("| table | mode | accuracy lamina / Orange | gap | ROC AUC lamina / Orange | gap |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        cells = [r["case"], r["mode"]]
        for key, digits in (("acc", 3), ("auc", 4)):
            cells.append(
                f"{r[f'lamina_{key}_mean']:.{digits}f} / {r[f'orange_{key}_mean']:.{digits}f}"
            )
            cells.append(
                f"{r[f'{key}_gap_mean']:+.{digits}f} +- {r[f'{key}_gap_sd']:.{digits}f} "
                f"({r[f'{key}_gap_seeds_below']} of {len(seeds)} below)"
            )
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
