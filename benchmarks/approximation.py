"""Universal approximation in practice: lamina's trained and constructive approximators
beside scikit-learn's MLPRegressor / MLPClassifier, in one run.

Sections
--------
1. Time to reach a sup-norm error of 1e-2 and 1e-3 on sin(3x) + x^2 over
   [-2, 2] (20,001 evaluation points) and on Franke's function over [0, 1]^2
   (201 x 201 points). Trained networks get budgets of 25, 50, 100, ...
   iterations, each run from scratch with the same seed; the time reported is
   that of the first run reaching the target (so at most twice the minimum).
   Constructive approximators double their width instead.
2. Sup-norm error against width (one hidden layer) for 1-D.
3. Sup-norm error against depth at the minimal universal width (tanh: 4).
4. Classification accuracy on the bundled digits (1437/360 split).

    python benchmarks/approximation.py            # full run (a few minutes)
    python benchmarks/approximation.py --quick    # smoke run
    python benchmarks/approximation.py --json

Every method gets the same training points (1,001 in 1-D, 41 x 41 in 2-D);
scikit-learn runs with alpha=0 and tol=0 so that it is not stopped early.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

import lamina
from lamina.clitools import print_table
from lamina.plugins.torch_mlp.expression import franke

TARGETS = (1e-2, 1e-3)


def problems() -> dict[str, dict[str, Any]]:
    line = np.linspace(-2, 2, 1001)[:, None]
    dense = np.linspace(-2, 2, 20001)[:, None]
    axis, fine = np.linspace(0, 1, 41), np.linspace(0, 1, 201)
    grid = np.array(np.meshgrid(axis, axis, indexing="ij")).reshape(2, -1).T
    dense_grid = np.array(np.meshgrid(fine, fine, indexing="ij")).reshape(2, -1).T

    def wave(X: np.ndarray) -> np.ndarray:
        return np.sin(3 * X[:, 0]) + X[:, 0] ** 2

    def franke_rows(X: np.ndarray) -> np.ndarray:
        return franke(X[:, 0], X[:, 1])

    return {
        "sin(3x)+x^2 on [-2,2]": {
            "X": line,
            "E": dense,
            "f": wave,
            "width": 32,
            "bounds": [(-2, 2)],
        },
        "Franke on [0,1]^2": {
            "X": grid,
            "E": dense_grid,
            "f": franke_rows,
            "width": 64,
            "bounds": [(0, 1)] * 2,
        },
    }


def sklearn_regressor(
    solver: str, width: int, depth: int, iterations: int, activation: str = "tanh"
) -> Any:
    from sklearn.neural_network import MLPRegressor

    options: dict[str, Any] = (
        {"max_fun": 10**9} if solver == "lbfgs" else {"n_iter_no_change": 10**9}
    )
    return MLPRegressor(
        hidden_layer_sizes=(width,) * depth,
        activation=activation,
        solver=solver,
        alpha=0.0,
        tol=0.0,
        max_iter=iterations,
        random_state=0,
        **options,
    )


def lamina_regressor(
    solver: str, width: int, depth: int, iterations: int, activation: str = "tanh"
) -> Any:
    return lamina.create(
        "learner",
        "mlp-regressor",
        width=width,
        depth=depth,
        activation=activation,
        solver=solver,
        dtype="float64",
        max_iter=iterations,
        tol=0.0,
        random_state=0,
    )


def measure(build: Callable[[], Any], problem: dict[str, Any]) -> tuple[float, float]:
    """Fit time and sup-norm error on the dense grid."""
    X, E, f = problem["X"], problem["E"], problem["f"]
    model = build()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, f(X))
    seconds = time.perf_counter() - start
    return seconds, float(np.max(np.abs(model.predict(E) - f(E))))


def constructive(name: str, size: int, dims: int) -> Any:
    if name == "relu-interpolant":
        return lamina.create(
            "learner", "relu-interpolant", n_knots=max(2, round(size ** (1 / dims)))
        )
    return lamina.create("learner", "random-features", n_features=size, random_state=0)


def time_to_targets(quick: bool) -> list[dict[str, Any]]:
    cap = 6.0 if quick else 45.0
    rows = []
    for label, problem in problems().items():
        dims, width = problem["X"].shape[1], problem["width"]
        methods: dict[str, tuple[str, Callable[[int], Any]]] = {
            "lamina mlp, Levenberg-Marquardt": (
                "iterations",
                lambda n, w=width: lamina_regressor("lm", w, 1, n),
            ),
            "lamina mlp, L-BFGS float64": (
                "iterations",
                lambda n, w=width: lamina_regressor("lbfgs", w, 1, n),
            ),
            "sklearn MLPRegressor lbfgs": (
                "iterations",
                lambda n, w=width: sklearn_regressor("lbfgs", w, 1, n),
            ),
            "sklearn MLPRegressor adam": (
                "epochs",
                lambda n, w=width: sklearn_regressor("adam", w, 1, n),
            ),
            "lamina relu-interpolant": (
                "hidden units",
                lambda n, d=dims: constructive("relu-interpolant", n, d),
            ),
            "lamina random-features": (
                "hidden units",
                lambda n, d=dims: constructive("random-features", n, d),
            ),
        }
        for method, (unit, build) in methods.items():
            budget = 25 if unit != "hidden units" else 16
            spent, reached, trail = 0.0, {}, []
            last = 0.0
            # Stop before a run that would overrun the cap (each doubles the last one).
            while spent + 2.2 * last < cap and len(reached) < len(TARGETS):
                if unit == "hidden units" and budget > 2**17:
                    break
                if method == "lamina relu-interpolant":
                    # The interpolant is built on its own grid of nodes, where it
                    # evaluates the function, not fitted to the training points.
                    seconds, error = _interpolate_grid(problem, budget)
                else:
                    seconds, error = measure(lambda f=build, b=budget: f(b), problem)
                spent, last = spent + seconds, seconds
                trail.append((budget, seconds, error))
                for target in TARGETS:
                    if error <= target and target not in reached:
                        reached[target] = (seconds, budget)
                budget *= 2
                if quick and len(trail) >= 6:
                    break
            rows.append(
                {
                    "problem": label,
                    "method": method,
                    "budget_unit": unit,
                    "width": width if unit != "hidden units" else None,
                    "best_error": min(e for _, _, e in trail),
                    "tried_seconds": spent,
                    **{
                        f"seconds_to_{t:g}": reached[t][0] if t in reached else None
                        for t in TARGETS
                    },
                    **{
                        f"budget_to_{t:g}": reached[t][1] if t in reached else None for t in TARGETS
                    },
                }
            )
    return rows


def _interpolate_grid(problem: dict[str, Any], nodes: int) -> tuple[float, float]:
    """The interpolant of ``f`` on a uniform grid of about ``nodes`` nodes."""
    dims = len(problem["bounds"])
    per_axis = max(2, round(nodes ** (1 / dims)))
    axes = [np.linspace(lo, hi, per_axis) for lo, hi in problem["bounds"]]
    grid = np.array(np.meshgrid(*axes, indexing="ij")).reshape(dims, -1).T
    start = time.perf_counter()
    model = lamina.create("learner", "relu-interpolant").fit(grid, problem["f"](grid))
    seconds = time.perf_counter() - start
    return seconds, float(np.max(np.abs(model.predict(problem["E"]) - problem["f"](problem["E"]))))


def error_against_width(quick: bool) -> list[dict[str, Any]]:
    problem = problems()["sin(3x)+x^2 on [-2,2]"]
    widths = [4, 16, 64] if quick else [4, 8, 16, 32, 64, 128]
    iterations = 200 if quick else 2000
    builders = {
        "lamina mlp L-BFGS": lambda w: lamina_regressor("lbfgs", w, 1, iterations),
        "lamina mlp LM": lambda w: lamina_regressor("lm", w, 1, iterations // 4),
        "sklearn lbfgs": lambda w: sklearn_regressor("lbfgs", w, 1, iterations),
        "lamina relu-interpolant": None,
        "lamina random-features": lambda w: constructive("random-features", w, 1),
    }
    rows = []
    for width in widths:
        for method, build in builders.items():
            if build is None:
                seconds, error = _interpolate_grid(problem, width)
            else:
                seconds, error = measure(lambda b=build, w=width: b(w), problem)
            rows.append({"width": width, "method": method, "sup_error": error, "seconds": seconds})
    return rows


def error_against_depth(quick: bool) -> list[dict[str, Any]]:
    problem = problems()["sin(3x)+x^2 on [-2,2]"]
    depths = [1, 3] if quick else [1, 2, 3, 4, 6, 8]
    iterations = 200 if quick else 2000
    rows = []
    for activation, width in (("tanh", 4), ("relu", 2)):
        for depth in depths:
            for method, build in (
                ("lamina mlp L-BFGS", lamina_regressor),
                ("sklearn lbfgs", sklearn_regressor),
            ):
                seconds, error = measure(
                    lambda b=build, a=activation, w=width, d=depth: b("lbfgs", w, d, iterations, a),
                    problem,
                )
                rows.append(
                    {
                        "activation": activation,
                        "width": width,
                        "depth": depth,
                        "method": method,
                        "sup_error": error,
                        "seconds": seconds,
                    }
                )
    return rows


def classification(quick: bool) -> list[dict[str, Any]]:
    from sklearn.metrics import log_loss
    from sklearn.neural_network import MLPClassifier

    from lamina.learn.datasets import load_dataset

    digits = load_dataset("digits")
    X, y = digits.numeric() / 16.0, digits.y
    order = np.random.default_rng(0).permutation(len(X))
    train, test = order[:1437], order[1437:]
    iterations = 50 if quick else 200
    models = {
        "lamina mlp-classifier (64, L-BFGS)": lamina.create(
            "learner", "mlp-classifier", width=64, max_iter=iterations, random_state=0
        ),
        "lamina mlp-classifier (64, Adam)": lamina.create(
            "learner",
            "mlp-classifier",
            width=64,
            solver="adam",
            batch_size=200,
            max_iter=iterations,
            random_state=0,
        ),
        "sklearn MLPClassifier (64, lbfgs)": MLPClassifier(
            (64,), solver="lbfgs", max_iter=iterations, random_state=0
        ),
        "sklearn MLPClassifier (64, adam)": MLPClassifier(
            (64,), solver="adam", max_iter=iterations, random_state=0
        ),
        # Both at their defaults, as a user meets them (#15: calibrated probabilities).
        "lamina mlp-classifier (defaults)": lamina.create(
            "learner", "mlp-classifier", random_state=0
        ),
        "sklearn MLPClassifier (defaults)": MLPClassifier(random_state=0),
    }
    rows = []
    for name, model in models.items():
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X[train], y[train])
        seconds = time.perf_counter() - start
        rows.append(
            {
                "model": name,
                "test_accuracy": float(np.mean(model.predict(X[test]) == y[test])),
                "test_log_loss": float(
                    log_loss(y[test], model.predict_proba(X[test]), labels=model.classes_)
                ),
                "seconds": seconds,
            }
        )
    return rows


def _fmt(value: float | None, digits: str = ".3g") -> str:
    return "not reached" if value is None else format(value, digits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small budgets: a smoke run")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    import sklearn
    import torch

    result = {
        "benchmark": "universal-approximation",
        "quick": args.quick,
        "versions": {
            "torch": torch.__version__,
            "sklearn": sklearn.__version__,
            "numpy": np.__version__,
        },
        "machine": platform.processor() or platform.machine(),
        "time_to_target": time_to_targets(args.quick),
        "error_vs_width": error_against_width(args.quick),
        "error_vs_depth": error_against_depth(args.quick),
        "classification": classification(args.quick),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print_table(
        "Time to sup-norm error (seconds; budget in parentheses)",
        ["problem", "method", "to 1e-2", "to 1e-3", "best error", "tried (s)"],
        (
            (
                r["problem"],
                r["method"],
                f"{_fmt(r['seconds_to_0.01'])} ({r['budget_to_0.01'] or '-'})",
                f"{_fmt(r['seconds_to_0.001'])} ({r['budget_to_0.001'] or '-'})",
                f"{r['best_error']:.2e}",
                f"{r['tried_seconds']:.1f}",
            )
            for r in result["time_to_target"]
        ),
    )
    widths = sorted({r["width"] for r in result["error_vs_width"]})
    methods = list(dict.fromkeys(r["method"] for r in result["error_vs_width"]))
    table = {(r["method"], r["width"]): r for r in result["error_vs_width"]}
    print_table(
        "Sup-norm error against width, sin(3x)+x^2, one hidden layer (seconds in parentheses)",
        ["method", *map(str, widths)],
        (
            (m, *(f"{table[m, w]['sup_error']:.1e} ({table[m, w]['seconds']:.2f})" for w in widths))
            for m in methods
        ),
    )
    print_table(
        "Sup-norm error against depth at the minimal width",
        ["activation", "width", "depth", "method", "sup error", "seconds"],
        (
            (
                r["activation"],
                r["width"],
                r["depth"],
                r["method"],
                f"{r['sup_error']:.2e}",
                f"{r['seconds']:.2f}",
            )
            for r in result["error_vs_depth"]
        ),
    )
    print_table(
        "Digits classification (1437 train / 360 test)",
        ["model", "test accuracy", "test log-loss", "fit seconds"],
        (
            (
                r["model"],
                f"{r['test_accuracy']:.3f}",
                f"{r['test_log_loss']:.4f}",
                f"{r['seconds']:.2f}",
            )
            for r in result["classification"]
        ),
    )


if __name__ == "__main__":
    main()
