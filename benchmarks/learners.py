"""Learners side by side with their peers.

* Naive Bayes vs scikit-learn on synthetic data (Gaussian and multinomial):
  fit and predict time, agreement of the predictions.
* CN2 vs Orange3's ``CN2Learner`` / ``CN2UnorderedLearner`` (driven in its own
  virtual environment as a subprocess; Orange is GPL and pins old numpy, so it
  never enters lamina's environment) and scikit-learn's decision tree:
  10-fold accuracy on the same folds and fit time, on iris, lenses, titanic,
  zoo, Orange's heart_disease (read from the Orange venv, never copied),
  scikit-learn's bundled breast-cancer (Wisconsin) table and synthetic sets of
  1,000 / 5,000 / 20,000 rows. Tables of 5,000+ rows run the first
  ``--large-folds`` (default 2) of the ten folds: Orange needs minutes per fit.

Usage::

    python benchmarks/learners.py [--quick] [--json] [--orange-python PATH]
        [--repeat 1] [--sizes 1000,5000,20000] [--large-folds 2] [--skip-nb] [--skip-cn2]
        [--tables iris,lenses,titanic,zoo,heart_disease,breast-cancer-wisconsin]

``--orange-python`` (or ``LAMINA_ORANGE_PYTHON``) names the Python of a venv with
``pip install orange3``; without it the Orange columns stay empty.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lamina.learn.cv import stratified_folds
from lamina.learn.datasets import Dataset, load_dataset, read_csv
from lamina.plugins.bayes.discrete import MultinomialNB
from lamina.plugins.bayes.gaussian import GaussianNB
from lamina.plugins.cn2.cn2 import CN2Classifier

ORANGE_SCRIPT = r"""
import json, sys, time
import numpy as np
import Orange
from Orange.data import ContinuousVariable, DiscreteVariable, Domain, Table
from Orange.classification.rules import CN2Learner, CN2UnorderedLearner
job = json.load(open(sys.argv[1]))
if job.get("export"):
    data = Table(job["export"])
    names = [v.name for v in data.domain.attributes] + [data.domain.class_var.name]
    with open(job["csv"], "w") as out:
        out.write(",".join(n.replace(",", " ") for n in names) + "\n")
        for row in data:
            cells = [str(row[v]) if not np.isnan(row[v]) else "?" for v in data.domain.attributes]
            out.write(",".join(cells + [str(row.get_class())]) + "\n")
    print(json.dumps({"categorical": [v.name for v in data.domain.attributes if v.is_discrete]}))
    sys.exit(0)
X = job["X"]; y = job["y"]; cat = job["categorical"]
attributes = []
columns = []
for j, name in enumerate(job["names"]):
    col = [row[j] for row in X]
    if cat[j]:
        values = sorted({v for v in col if v is not None})
        attributes.append(DiscreteVariable(name, values=values))
        columns.append([values.index(v) if v is not None else np.nan for v in col])
    else:
        attributes.append(ContinuousVariable(name))
        columns.append([np.nan if v is None else v for v in col])
classes = sorted(set(y))
domain = Domain(attributes, DiscreteVariable("class", values=classes))
table = Table.from_numpy(domain, np.array(columns, dtype=float).T, np.array([classes.index(v) for v in y], dtype=float))
result = {}
for label, learner in (("ordered", CN2Learner), ("unordered", CN2UnorderedLearner)):
    accuracy, seconds, cpu, rules, probabilities = [], 0.0, 0.0, [], []
    for train, test in job["folds"]:
        best, best_cpu = float("inf"), float("inf")
        for _ in range(job["repeat"]):
            start, start_cpu = time.perf_counter(), time.process_time()
            model = learner()(table[train])
            best_cpu = min(best_cpu, time.process_time() - start_cpu)
            best = min(best, time.perf_counter() - start)
        seconds, cpu = seconds + best, cpu + best_cpu
        accuracy.append(float(np.mean(model(table[test]) == table[test].Y)))
        probabilities += model(table[test], model.Probs).tolist()
        rules.append(len(model.rule_list))
    result[label] = {"accuracy": float(np.mean(accuracy)), "fit_seconds": seconds, "fit_cpu_seconds": cpu, "rules": float(np.mean(rules)), "probabilities": probabilities}
print(json.dumps(result))
"""


def _time(function, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def _time_cpu(function, repeat: int) -> tuple[float, float]:
    """Best wall and best CPU seconds (this process) of ``repeat`` calls. On a shared
    machine the CPU time leaves out the waits for a core that other jobs cause."""
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        function()
        best_cpu = min(best_cpu, time.process_time() - start_cpu)
        best = min(best, time.perf_counter() - start)
    return best, best_cpu


def bench_naive_bayes(n: int, d: int, repeat: int) -> list[dict]:
    from sklearn import naive_bayes as sk

    rng = np.random.default_rng(0)
    rows = []
    y = rng.integers(0, 2, n)
    gaussian = rng.normal(size=(n, d)) + 0.05 * y[:, None]
    counts = rng.poisson(3.0, (n, d)).astype(np.int32)
    counts[y == 1, : d // 10] += rng.poisson(0.3, (int(np.sum(y == 1)), d // 10)).astype(np.int32)
    for label, X, ours, theirs in (
        ("gaussian-nb", gaussian, GaussianNB(), sk.GaussianNB()),
        ("multinomial-nb (int32 counts)", counts, MultinomialNB(), sk.MultinomialNB()),
        (
            "multinomial-nb (float64 counts)",
            counts.astype(np.float64),
            MultinomialNB(),
            sk.MultinomialNB(),
        ),
    ):
        fit_ours, _ = _time(lambda o=ours, X=X: o.fit(X, y), repeat)
        fit_theirs, _ = _time(lambda t=theirs, X=X: t.fit(X, y), repeat)
        predict_ours, p_ours = _time(lambda o=ours, X=X: o.predict(X), repeat)
        predict_theirs, p_theirs = _time(lambda t=theirs, X=X: t.predict(X), repeat)
        rows.append(
            {
                "case": f"{label} {n}x{d}",
                "lamina_fit_s": fit_ours,
                "sklearn_fit_s": fit_theirs,
                "lamina_predict_s": predict_ours,
                "sklearn_predict_s": predict_theirs,
                "speedup_fit_predict": (fit_theirs + predict_theirs) / (fit_ours + predict_ours),
                "identical_predictions": bool(np.array_equal(p_ours, p_theirs)),
                "disagreements": int(np.sum(p_ours != p_theirs)),
            }
        )
    return rows


def synthetic(n: int, seed: int = 0) -> Dataset:
    """10 discrete attributes x 4 values, 2 classes, 10% label noise."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 4, (n, 10)).astype(str).astype(object)
    clean = (
        ((X[:, 0] == "1") & (X[:, 1] != "2"))
        | (X[:, 2] == "3")
        | ((X[:, 3] == "0") & (X[:, 4] == "0"))
    )
    y = np.where(clean ^ (rng.random(n) < 0.1), "pos", "neg")
    return Dataset(f"synthetic-{n}", X, y, tuple(f"a{j}" for j in range(10)), "class", (True,) * 10)


def breast_cancer() -> Dataset:
    """The Wisconsin diagnostic breast-cancer table bundled with scikit-learn
    (569 rows, 30 numeric attributes; UCI, CC BY 4.0). Orange 3.40 ships no
    breast-cancer table, so this one stands in for the row the issue names."""
    from sklearn.datasets import load_breast_cancer

    table = load_breast_cancer()
    return Dataset(
        "breast-cancer-wisconsin",
        table.data.astype(object),
        table.target_names[table.target].astype(str),
        tuple(str(n).replace(" ", "_") for n in table.feature_names),
        "diagnosis",
        (False,) * table.data.shape[1],
    )


def _orange(python: str | None, job: dict) -> dict | None:
    if not python:
        return None
    with tempfile.TemporaryDirectory() as folder:
        script, data = Path(folder) / "orange_cn2.py", Path(folder) / "job.json"
        script.write_text(ORANGE_SCRIPT)
        data.write_text(json.dumps(job))
        one_thread = {
            k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
        }
        done = subprocess.run(
            [python, str(script), str(data)],
            capture_output=True,
            text=True,
            timeout=3600,
            env={**os.environ, **one_thread},
        )
        if done.returncode:
            print(f"Orange failed: {done.stderr[-500:]}", file=sys.stderr)
            return None
        return json.loads(done.stdout.strip().splitlines()[-1])


def orange_job(data: Dataset, folds: list, repeats: int) -> dict:
    """What the Orange subprocess fits: the table (missing values as null), the folds
    and how many timed fits per fold."""
    return {
        "X": [
            [None if (v is None or (isinstance(v, float) and np.isnan(v))) else v for v in row]
            for row in data.X.tolist()
        ],
        "y": data.y.tolist(),
        "names": list(data.feature_names),
        "categorical": list(data.categorical),
        "folds": [[tr.tolist(), te.tolist()] for tr, te in folds],
        "repeat": repeats,
    }


def _orange_table(python: str | None, name: str) -> Dataset | None:
    """A table shipped with Orange (read there, never copied into lamina)."""
    if not python:
        return None
    folder = tempfile.mkdtemp()
    csv = Path(folder) / f"{name}.csv"
    info = _orange(python, {"export": name, "csv": str(csv)})
    if info is None:
        return None
    header = csv.read_text().splitlines()[0].split(",")
    return read_csv(csv, target=header[-1], categorical=info["categorical"], name=name)


#: lamina's defaults, and the settings Orange's CN2Learner / CN2UnorderedLearner use
#: (beam 10, ``!=`` tests, rules of up to 5 conditions, no significance tests:
#: Orange's default and parent alpha are 1; unordered rules keep the distribution of
#: the examples left when learned), so the accuracy must can be judged like for like.
ORANGE_SETTINGS = {
    "alpha": 1.0,
    "parent_alpha": 1.0,
    "beam_width": 10,
    "max_rule_length": 5,
    "negations": True,
    "rule_distribution": "remaining",
}
#: The CN2 tables: lamina's bundled ones, Orange's heart_disease (read from the Orange
#: venv) and scikit-learn's Wisconsin breast-cancer table, which stands in for the
#: breast-cancer table Orange 3.40 does not ship.
CN2_TABLES = ("iris", "lenses", "titanic", "zoo", "heart_disease", "breast-cancer-wisconsin")


def cn2_fold_count(data: Dataset) -> int:
    """Folds of the CN2 comparison: leave one out on lenses (24 rows), ten elsewhere."""
    return 24 if data.name == "lenses" else 10


def cn2_tables(names: list[str], orange_python: str | None) -> list[Dataset]:
    """The named tables of :data:`CN2_TABLES` (heart_disease only with Orange's venv)."""
    unknown = sorted(set(names) - set(CN2_TABLES))
    if unknown:
        raise ValueError(f"unknown --tables {unknown}; choose from {','.join(CN2_TABLES)}")
    tables = []
    for name in names:
        if name == "heart_disease":
            heart = _orange_table(orange_python, "heart_disease")
            tables += [heart] if heart is not None else []
        elif name == "breast-cancer-wisconsin":
            tables.append(breast_cancer())
        else:
            tables.append(load_dataset(name))
    return tables


LAMINA_VARIANTS = (
    ("ordered", True, {}),
    ("unordered", False, {}),
    ("ordered_as_orange", True, ORANGE_SETTINGS),
    ("unordered_as_orange", False, ORANGE_SETTINGS),
)


#: A fresh process's first CN2 fits (titanic, unordered): the first pays for
#: importing numba and loading the compiled search (compiling it, the first time
#: after an installation); the benchmark's timed fits come after that warm-up.
FIRST_FIT_SCRIPT = r"""
import json, time
from lamina.learn.datasets import load_dataset
from lamina.plugins.cn2.cn2 import CN2Classifier
data = load_dataset("titanic")
seconds = []
for _ in range(2):
    start, start_cpu = time.perf_counter(), time.process_time()
    CN2Classifier(ordered=False).fit(data.X, data.y, feature_names=data.feature_names)
    seconds += [time.perf_counter() - start, time.process_time() - start_cpu]
print(json.dumps(dict(zip(("first_fit_s", "first_fit_cpu_s", "next_fit_s", "next_fit_cpu_s"), seconds))))
"""


def bench_cn2_first_fit() -> dict:
    """:data:`FIRST_FIT_SCRIPT` in a new Python process."""
    done = subprocess.run(
        [sys.executable, "-c", FIRST_FIT_SCRIPT], capture_output=True, text=True, check=True
    )
    return {"case": "titanic, unordered, fresh process", **json.loads(done.stdout)}


def bench_cn2(
    datasets: list[Dataset], orange_python: str | None, large_folds: int, repeat: int
) -> list[dict]:
    """CN2 beside Orange and a decision tree. Each fit is timed in wall and CPU
    seconds, the best of ``repeat`` runs on tables under 5,000 rows, lamina and
    Orange alike (both single-threaded: Orange runs with one BLAS/OpenMP thread),
    so that the CPU speed-up measures the two learners rather than the load of a
    shared machine. Orange's import is outside its timed fits; so are, after one
    untimed fit, numba's import and the loading of lamina's compiled search
    (:func:`bench_cn2_first_fit` measures those)."""
    from sklearn.preprocessing import OrdinalEncoder
    from sklearn.tree import DecisionTreeClassifier

    lenses = load_dataset("lenses")
    CN2Classifier().fit(lenses.X, lenses.y)
    rows = []
    for data in datasets:
        n_folds = cn2_fold_count(data)
        folds = stratified_folds(data.y, n_folds, random_state=0)
        repeats = repeat
        if data.n_samples >= 5000:
            # Orange needs minutes per fit here: the first folds of the ten, the same for all.
            folds, repeats = folds[:large_folds], 1
        row: dict = {
            "case": f"{data.name} ({data.n_samples} rows)",
            "folds": f"{len(folds)} of {n_folds}",
            "majority": float(max(np.mean(data.y == c) for c in data.classes)),
        }
        # ROC AUC on the out-of-fold probabilities of all folds pooled (a leave-one-out
        # fold holds one class only), one-vs-rest and macro-averaged over classes.
        pooled = np.concatenate([test for _, test in folds])
        for label, ordered, settings in LAMINA_VARIANTS:
            accuracy, seconds, cpu, rules, probabilities = [], 0.0, 0.0, [], []
            for train, test in folds:
                model = CN2Classifier(
                    ordered=ordered,
                    categorical_features=data.categorical_features or None,
                    **settings,
                )
                X_train, y_train = data.X[train], data.y[train]
                fit_seconds, fit_cpu = _time_cpu(
                    lambda m=model, X=X_train, y=y_train, names=data.feature_names: m.fit(
                        X, y, feature_names=names
                    ),
                    repeats,
                )
                seconds, cpu = seconds + fit_seconds, cpu + fit_cpu
                accuracy.append(model.score(data.X[test], data.y[test]))
                probabilities.append(_all_classes(model, data.X[test], data.classes))
                rules.append(len(model.rules_))
            row[f"lamina_{label}_acc"] = float(np.mean(accuracy))
            row[f"lamina_{label}_auc"] = _auc(
                data.y[pooled], np.vstack(probabilities), data.classes
            )
            row[f"lamina_{label}_fit_s"] = seconds
            row[f"lamina_{label}_fit_cpu_s"] = cpu
            row[f"lamina_{label}_rules"] = float(np.mean(rules))
        encoded = (
            OrdinalEncoder(encoded_missing_value=-1).fit_transform(data.X.astype(str))
            if any(data.categorical)
            else data.X.astype(float)
        )
        if not any(data.categorical):
            encoded = np.where(np.isnan(encoded), -1e9, encoded)
        trees = [
            DecisionTreeClassifier(random_state=0).fit(encoded[tr], data.y[tr]) for tr, _ in folds
        ]
        row["tree_acc"] = float(
            np.mean(
                [
                    tree.score(encoded[te], data.y[te])
                    for tree, (_, te) in zip(trees, folds, strict=True)
                ]
            )
        )
        row["tree_auc"] = _auc(
            data.y[pooled],
            np.vstack(
                [
                    _all_classes(t, encoded[te], data.classes)
                    for t, (_, te) in zip(trees, folds, strict=True)
                ]
            ),
            data.classes,
        )
        orange = _orange(orange_python, orange_job(data, folds, repeats))
        for label in ("ordered", "unordered"):
            if orange:
                row[f"orange_{label}_acc"] = orange[label]["accuracy"]
                row[f"orange_{label}_fit_s"] = orange[label]["fit_seconds"]
                row[f"orange_{label}_fit_cpu_s"] = orange[label]["fit_cpu_seconds"]
                row[f"orange_{label}_rules"] = orange[label]["rules"]
                row[f"orange_{label}_auc"] = _auc(
                    data.y[pooled], np.asarray(orange[label]["probabilities"]), data.classes
                )
                for variant in (label, f"{label}_as_orange"):
                    row[f"speedup_{variant}"] = (
                        orange[label]["fit_seconds"] / row[f"lamina_{variant}_fit_s"]
                    )
                    row[f"speedup_cpu_{variant}"] = (
                        orange[label]["fit_cpu_seconds"] / row[f"lamina_{variant}_fit_cpu_s"]
                    )
                    row[f"gap_pp_{variant}"] = 100 * (
                        row[f"lamina_{variant}_acc"] - orange[label]["accuracy"]
                    )
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    return rows


def _all_classes(model, X: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """``predict_proba`` with a column for every class of the table (a fold's model
    knows only the classes of its training rows)."""
    proba = np.zeros((len(X), len(classes)))
    proba[:, np.searchsorted(classes, model.classes_)] = model.predict_proba(X)
    return proba


def _auc(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if len(classes) == 2:
        return float(roc_auc_score(y == classes[1], proba[:, 1]))
    present = np.isin(classes, y)  # a class with no row has no ROC curve
    proba = proba[:, present] / proba[:, present].sum(axis=1, keepdims=True)
    return float(roc_auc_score(y, proba, multi_class="ovr", labels=classes[present]))


def _print(title: str, rows: list[dict]) -> None:
    if not rows:
        return
    columns = list(dict.fromkeys(k for r in rows for k in r))
    print(f"\n## {title}\n")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for r in rows:
        cells = [r.get(c, "") for c in columns]
        print(
            "| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in cells) + " |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--orange-python", default=os.environ.get("LAMINA_ORANGE_PYTHON"))
    parser.add_argument("--skip-nb", action="store_true")
    parser.add_argument("--skip-cn2", action="store_true")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="time each CN2 fit (lamina and Orange) as the best of this many runs "
        "on tables under 5,000 rows (default 1)",
    )
    parser.add_argument(
        "--sizes",
        default=None,
        help="rows of the synthetic CN2 tables, comma-separated, none with '' "
        "(default 1000,5000,20000; with --quick 1000)",
    )
    parser.add_argument(
        "--tables",
        default=None,
        help="the CN2 tables to run, comma-separated (default all: "
        f"{','.join(CN2_TABLES)}; heart_disease and breast cancer not with --quick); "
        "the synthetic ones come from --sizes",
    )
    parser.add_argument(
        "--large-folds",
        type=int,
        default=2,
        help="how many of the ten folds to run on tables of 5,000+ rows (default 2)",
    )
    args = parser.parse_args()
    n, repeat = (100_000, 1) if args.quick else (1_000_000, 3)
    sizes = (
        tuple(int(v) for v in args.sizes.split(",") if v)
        if args.sizes is not None
        else (1000,)
        if args.quick
        else (1000, 5000, 20000)
    )
    report: dict = {
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "orange": bool(args.orange_python),
    }
    if not args.skip_nb:
        report["naive_bayes"] = bench_naive_bayes(n, 100, repeat)
    if not args.skip_cn2:
        names = (
            [n for n in args.tables.split(",") if n]
            if args.tables is not None
            else CN2_TABLES[:4]
            if args.quick
            else CN2_TABLES
        )
        try:
            tables = cn2_tables(names, args.orange_python)
        except ValueError as error:
            parser.error(str(error))
        tables += [synthetic(size) for size in sizes]
        report["cn2_first_fit"] = [bench_cn2_first_fit()]
        report["cn2"] = bench_cn2(tables, args.orange_python, args.large_folds, args.repeat)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"# learners benchmark (python {report['python']}, {report['cpus']} CPUs)")
    _print("naive Bayes vs scikit-learn", report.get("naive_bayes", []))
    _print("CN2 vs Orange3 and a scikit-learn decision tree (same folds)", report.get("cn2", []))
    _print("CN2's first fits in a fresh process", report.get("cn2_first_fit", []))


if __name__ == "__main__":
    main()
