"""``lamina approximate``: fit a continuous function given as an expression, report errors.

Torch is imported only when a command runs (through :func:`lamina.create`), so
``lamina approximate --help`` works without it and a run without it fails with
the install hint.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
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
from lamina.errors import InputError
from lamina.io import atomic_write
from lamina.limits import MAX_INTERPOLANT_NODES, MAX_LM_PARAMETERS
from lamina.memory import array_bytes, check_allocation
from lamina.plugins.torch_mlp.expression import Expression, parse_domain, parse_expression

__all__ = ["approximate"]

METHODS = ("train", "constructive", "random-features")
VARIABLES = {1: ("x",), 2: ("x", "y")}


def _grid(bounds: list[tuple[float, float]], per_axis: int) -> np.ndarray:
    axes = [np.linspace(lo, hi, per_axis) for lo, hi in bounds]
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)


def _second_derivative_bound(function: Expression, bounds: list[tuple[float, float]]) -> float:
    """Largest |second directional derivative| on a fine grid, by central differences
    (the Hessian's spectral norm in 2-D): the M of the interpolation error bound."""
    per_axis = 4001 if len(bounds) == 1 else 301
    axes = [np.linspace(lo, hi, per_axis) for lo, hi in bounds]
    values = function(*np.meshgrid(*axes, indexing="ij"))
    steps = [a[1] - a[0] for a in axes]
    if len(bounds) == 1:
        return float(np.max(np.abs(np.diff(values, 2) / steps[0] ** 2)))
    fxx = np.diff(values, 2, axis=0)[:, 1:-1] / steps[0] ** 2
    fyy = np.diff(values, 2, axis=1)[1:-1, :] / steps[1] ** 2
    fxy = (values[2:, 2:] - values[2:, :-2] - values[:-2, 2:] + values[:-2, :-2]) / (
        4 * steps[0] * steps[1]
    )
    # Spectral norm of the symmetric 2x2 Hessian [[fxx, fxy], [fxy, fyy]].
    norm = np.abs((fxx + fyy) / 2) + np.sqrt(((fxx - fyy) / 2) ** 2 + fxy**2)
    return float(np.max(norm))


def _fit_one(
    method: str,
    function: Expression,
    bounds: list[tuple[float, float]],
    *,
    width: int,
    depth: int,
    points: int,
    evaluation: np.ndarray,
    truth: np.ndarray,
    options: dict[str, Any],
    second_derivative: float | None,
) -> dict[str, Any]:
    dims = len(bounds)
    start = time.perf_counter()
    bound = None
    if method == "constructive":
        knots = max(2, round(width ** (1.0 / dims)))
        nodes = _grid(bounds, knots)
        model = lamina.create("learner", "relu-interpolant").fit(nodes, function.on(nodes))
        if second_derivative is not None:
            bound = model.error_bound(second_derivative)
        units = model.n_hidden_
    else:
        X = _grid(bounds, points)
        y = function.on(X)
        if method == "random-features":
            params = {"n_features": width, "random_state": options.get("random_state", 0)}
            model = lamina.create("learner", "random-features", **params)
        else:
            params = {"width": width, "depth": depth, **options}
            model = lamina.create("learner", "mlp-regressor", **params)
        model.fit(X, y)
        units = width * (depth if method == "train" else 1)
    seconds = time.perf_counter() - start
    error = model.predict(evaluation) - truth
    return {
        "method": method,
        "width": width,
        "depth": depth if method == "train" else 1,
        "hidden_units": int(units),
        "parameters": int(model.n_parameters_) if hasattr(model, "n_parameters_") else None,
        "sup_error": float(np.max(np.abs(error))),
        "rms_error": float(np.sqrt(np.mean(error**2))),
        "error_bound": bound,
        "seconds": seconds,
    }


def _run_bytes(
    method: str, width: int, depth: int, *, d: int, points: int, grid_points: int, itemsize: int
) -> int:
    """Estimated peak bytes of one run: what scales with --points, --grid, --width
    and --depth (the fixed-size curvature grid and the networks' weights aside)."""
    n_eval = grid_points**d
    # Evaluation points, truth, prediction and error; the prediction's hidden layers
    # (float64, two at a time) or the interpolant's vertex indices and weights.
    evaluation = array_bytes((n_eval, d + 3))
    if method == "constructive":
        nodes = max(2, round(width ** (1.0 / d))) ** d
        # The node grid (meshgrid, stack) and the fit's sorted and unique copies of it.
        return evaluation + array_bytes((nodes, 6 * (d + 1))) + array_bytes((n_eval, 6 * (d + 1)))
    n_train = points**d
    training = array_bytes((n_train, 2 * (d + 1)))  # grid, targets and their scaled copies
    if method == "random-features":
        # The design matrix and least squares' copy of it; the evaluation features.
        return (
            evaluation
            + training
            + array_bytes((n_train, 2 * (width + 1)))
            + array_bytes((n_eval, width + 1))
        )
    # Each hidden layer's input and output and their gradients, in the training dtype.
    return (
        evaluation
        + training
        + array_bytes((n_train, 4 * width * depth), np.dtype(f"f{itemsize}"))
        + array_bytes((n_eval, 2 * width))
    )


def _check_memory(
    runs: list[tuple[str, int | str, int]],
    *,
    d: int,
    points: int,
    grid_points: int,
    itemsize: int,
) -> None:
    """One check before any work: the interpolants within their node limit, and the
    most demanding run within the memory budget."""
    sizes = []
    for method, width, depth in runs:
        # The minimal universal width is at most d_in + d_out + 2 (networks.minimal_width).
        units = d + 3 if width == "minimal" else int(width)
        nodes = max(2, round(units ** (1.0 / d))) ** d if method == "constructive" else 0
        if nodes > MAX_INTERPOLANT_NODES:
            raise InputError(
                f"--width {units:,} asks for a constructive network of {nodes:,} grid nodes; "
                f"at most {MAX_INTERPOLANT_NODES:,} (lamina.limits.MAX_INTERPOLANT_NODES): choose a smaller --width"
            )
        size = _run_bytes(
            method, units, depth, d=d, points=points, grid_points=grid_points, itemsize=itemsize
        )
        sizes.append((size, method, units, depth))
    size, method, units, depth = max(sizes)
    check_allocation(
        size,
        what=(
            f"approximating with {method} (width {units:,}, depth {depth}) on {points:,} "
            f"training and {grid_points:,} evaluation points per axis in {d}-D"
        ),
        fix="choose smaller --points, --grid or --width",
    )


def _int_list(text: str, option: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{option} expects comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise InputError(f"{option} expects positive integers, got {text!r}")
    return values


def _plot(rows: list[dict[str, Any]], sweep: str, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for method in dict.fromkeys(r["method"] for r in rows):
        chosen = [r for r in rows if r["method"] == method]
        axis.plot(
            [r[sweep] for r in chosen],
            [r["sup_error"] for r in chosen],
            "o-",
            label=f"{method} (sup)",
        )
        bounds = [r for r in chosen if r["error_bound"] is not None]
        if bounds:
            axis.plot(
                [r[sweep] for r in bounds],
                [r["error_bound"] for r in bounds],
                "k--",
                lw=1,
                label="interpolation bound",
            )
    axis.set_xscale("log" if sweep == "width" else "linear")
    axis.set_yscale("log")
    axis.set_xlabel("hidden units per layer" if sweep == "width" else "hidden layers")
    axis.set_ylabel("sup-norm error")
    axis.set_title(title, fontsize=10)
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    with atomic_write(path) as handle:
        handle.write(buffer.getvalue())


@click.command()
@click.argument("expression")
@click.option(
    "--domain",
    default="-2:2",
    show_default=True,
    help="LOW:HIGH for every axis, or one interval per axis separated by commas.",
)
@click.option(
    "--dims",
    type=click.Choice(["1", "2"]),
    default="1",
    show_default=True,
    help="Input dimension: variables x, or x and y.",
)
@click.option(
    "--method",
    type=click.Choice(METHODS),
    default=None,
    help="train (MLP), constructive (ReLU interpolation network) or random-features; default train, and all three with --sweep width.",
)
@click.option(
    "--width",
    type=int,
    default=32,
    show_default=True,
    help="Hidden units per layer (constructive: grid nodes; random-features: features).",
)
@click.option(
    "--depth", type=int, default=1, show_default=True, help="Hidden layers of the trained MLP."
)
@click.option(
    "--activation", default="tanh", show_default=True, help="Activation of the trained MLP."
)
@click.option(
    "--solver",
    type=click.Choice(["lm", "lbfgs", "adam"]),
    default="lm",
    show_default=True,
    help=f"Levenberg-Marquardt (networks up to {MAX_LM_PARAMETERS:,} parameters), L-BFGS or Adam.",
)
@click.option(
    "--max-iter",
    type=int,
    default=500,
    show_default=True,
    help="Levenberg-Marquardt or L-BFGS iterations, or Adam epochs.",
)
@click.option(
    "--dtype", type=click.Choice(["float32", "float64"]), default="float64", show_default=True
)
@click.option(
    "--points",
    type=int,
    default=None,
    help="Training points per axis [default: 1001 in 1-D, 41 in 2-D].",
)
@click.option(
    "--grid",
    "grid_points",
    type=int,
    default=None,
    help="Evaluation points per axis [default: 20001 in 1-D, 201 in 2-D].",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--sweep",
    type=click.Choice(["width", "depth"]),
    default=None,
    help="Repeat over --widths (all methods) or --depths (trained nets of --width, default minimal).",
)
@click.option("--widths", default="4,8,16,32,64,128", show_default=True)
@click.option("--depths", default="1,2,3,4,6,8", show_default=True)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="PNG of the sweep [default: approximation-<sweep>.png].",
)
@set_option
@json_option
def approximate(
    expression: str,
    domain: str,
    dims: str,
    method: str | None,
    width: int,
    depth: int,
    activation: str,
    solver: str,
    max_iter: int,
    dtype: str,
    points: int | None,
    grid_points: int | None,
    seed: int,
    sweep: str | None,
    widths: str,
    depths: str,
    plot_path: Path | None,
    settings: tuple[str, ...],
    as_json: bool,
) -> None:
    """Fit the continuous function EXPRESSION and report sup-norm and RMS errors.

    EXPRESSION uses x (and y with --dims 2), numbers, pi, e, + - * / ** and
    numpy functions by name (sin, exp, tanh, sqrt, abs, where, franke, ...);
    it is parsed safely, never evaluated as Python. Examples:

    \b
      lamina approximate "sin(3*x) + x**2" --domain -2:2
      lamina approximate "sin(3*x) + x**2" --sweep width
      lamina approximate "franke(x, y)" --dims 2 --domain 0:1 --method constructive --width 1024
      lamina approximate "abs(x)" --sweep depth --activation relu
    """
    if plot_path is not None:
        check_output_file(plot_path, name="--plot")
    d = int(dims)
    function = parse_expression(expression, VARIABLES[d])
    bounds = parse_domain(domain, d)
    for name, value in (("--width", width), ("--depth", depth), ("--max-iter", max_iter)):
        if value < 1:
            raise InputError(f"{name} must be a positive integer, got {value}")
    # 0 is a mistake to report, not a request for the default.
    points = (1001 if d == 1 else 41) if points is None else points
    grid_points = (20001 if d == 1 else 201) if grid_points is None else grid_points
    for name, value in (("--points", points), ("--grid", grid_points)):
        if value < 2:
            raise InputError(f"{name} needs at least 2 points per axis, got {value}")
    # (method, width or "minimal", depth) of each run
    runs: list[tuple[str, int | str, int]]
    if sweep is None:
        runs = [(method or "train", width, depth)]
    elif sweep == "width":
        methods = [method] if method else list(METHODS)
        runs = [(m, w, depth) for w in _int_list(widths, "--widths") for m in methods]
    else:
        source = click.get_current_context().get_parameter_source("width")
        narrow = "minimal" if source is click.core.ParameterSource.DEFAULT else width
        runs = [("train", narrow, k) for k in _int_list(depths, "--depths")]
    _check_memory(
        runs,
        d=d,
        points=points,
        grid_points=grid_points,
        itemsize=8 if dtype == "float64" else 4,
    )
    evaluation = _grid(bounds, grid_points)
    truth = function.on(evaluation)
    options: dict[str, Any] = {
        "activation": activation,
        "solver": solver,
        "max_iter": max_iter,
        "dtype": dtype,
        "random_state": seed,
        **parse_settings(settings),
    }
    curvature = _second_derivative_bound(function, bounds)
    from lamina.progress import track

    rows = []
    for run_method, run_width, run_depth in track(runs, description="approximating"):
        if isinstance(run_width, str):  # "minimal"
            from lamina.plugins.torch_mlp.networks import minimal_width

            run_width = minimal_width(d, 1, activation)
        rows.append(
            _fit_one(
                run_method,
                function,
                bounds,
                width=run_width,
                depth=run_depth,
                points=points,
                evaluation=evaluation,
                truth=truth,
                options=options,
                second_derivative=curvature,
            )
        )
    title = f"{expression} on {domain}" + (f" ({d}-D)" if d > 1 else "")
    document: dict[str, Any] = {
        "expression": expression,
        "domain": bounds,
        "dims": d,
        "training_points_per_axis": points,
        "evaluation_points": len(evaluation),
        "second_derivative_bound": curvature,
        "results": rows,
    }
    if sweep is not None:
        target = plot_path or Path(f"approximation-{sweep}.png")
        _plot(rows, sweep, title, target)
        document["plot"] = str(target)
        click.echo(f"wrote {target}", err=True)
    if as_json:
        emit_json(document)
        return
    print_table(
        title,
        ["method", "width", "depth", "params", "sup error", "RMS error", "bound", "seconds"],
        (
            (
                r["method"],
                r["width"],
                r["depth"],
                r["parameters"],
                f"{r['sup_error']:.3e}",
                f"{r['rms_error']:.3e}",
                "" if r["error_bound"] is None else f"{r['error_bound']:.3e}",
                f"{r['seconds']:.3f}",
            )
            for r in rows
        ),
    )
