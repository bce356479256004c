"""A safe parser for the functions ``lamina approximate`` fits: numpy, never ``eval``.

The text is parsed with :func:`ast.parse` and only a whitelist of node types
is accepted: numbers, the variables, ``pi``/``e``, arithmetic, comparisons and
calls of whitelisted numpy functions by bare name. Attribute access,
subscripts, keywords, strings, lambdas and everything else are rejected before
anything is evaluated, and every number becomes a float64 so ``9**9**9`` is
``inf``, not a huge integer computation.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lamina.errors import InputError
from lamina.limits import MAX_EXPRESSION_LENGTH

__all__ = ["FUNCTIONS", "Expression", "franke", "parse_domain", "parse_expression"]


def franke(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Franke's (1979) bivariate test function on [0, 1]^2."""
    return (
        0.75 * np.exp(-((9 * x - 2) ** 2) / 4 - ((9 * y - 2) ** 2) / 4)
        + 0.75 * np.exp(-((9 * x + 1) ** 2) / 49 - (9 * y + 1) / 10)
        + 0.5 * np.exp(-((9 * x - 7) ** 2) / 4 - ((9 * y - 3) ** 2) / 4)
        - 0.2 * np.exp(-((9 * x - 4) ** 2) - (9 * y - 7) ** 2)
    )


#: Function names an expression may call, with their arity.
FUNCTIONS: dict[str, tuple[Callable[..., np.ndarray], int]] = {
    "sin": (np.sin, 1),
    "cos": (np.cos, 1),
    "tan": (np.tan, 1),
    "arcsin": (np.arcsin, 1),
    "arccos": (np.arccos, 1),
    "arctan": (np.arctan, 1),
    "sinh": (np.sinh, 1),
    "cosh": (np.cosh, 1),
    "tanh": (np.tanh, 1),
    "exp": (np.exp, 1),
    "log": (np.log, 1),
    "log1p": (np.log1p, 1),
    "sqrt": (np.sqrt, 1),
    "abs": (np.abs, 1),
    "sign": (np.sign, 1),
    "floor": (np.floor, 1),
    "ceil": (np.ceil, 1),
    "sinc": (np.sinc, 1),
    "arctan2": (np.arctan2, 2),
    "hypot": (np.hypot, 2),
    "minimum": (np.minimum, 2),
    "maximum": (np.maximum, 2),
    "min": (np.minimum, 2),
    "max": (np.maximum, 2),
    "where": (np.where, 3),
    "franke": (franke, 2),
}

CONSTANTS = {"pi": np.pi, "e": np.e}

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.Mod: np.mod,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


@dataclass(frozen=True)
class Expression:
    """A parsed function of ``variables``; call it with one array per variable."""

    text: str
    variables: tuple[str, ...]
    tree: ast.Expression

    def __call__(self, *values: np.ndarray) -> np.ndarray:
        if len(values) != len(self.variables):
            raise InputError(
                f"expression {self.text!r} takes {len(self.variables)} variable(s) "
                f"({', '.join(self.variables)}), got {len(values)}"
            )
        arrays = [np.asarray(v, dtype=np.float64) for v in values]
        scope = dict(zip(self.variables, arrays, strict=True))
        with np.errstate(all="ignore"):
            result = _evaluate(self.tree.body, scope)
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        return np.broadcast_to(np.asarray(result, dtype=np.float64), shape).copy()

    def on(self, X: np.ndarray) -> np.ndarray:
        """Evaluate at the rows of ``X`` (n, len(variables)), checking the values are finite."""
        values = self(*(X[:, j] for j in range(X.shape[1])))
        if not np.all(np.isfinite(values)):
            where = X[np.flatnonzero(~np.isfinite(values))[0]]
            raise InputError(
                f"expression {self.text!r} is not finite at {tuple(float(v) for v in where)}; "
                "choose a domain where the function is continuous"
            )
        return values


def parse_expression(text: str, variables: Sequence[str] = ("x",)) -> Expression:
    """Parse ``text`` into an :class:`Expression` of ``variables``.

    Raises
    ------
    InputError
        Syntax errors, unknown names (with the allowed ones listed) and any
        construct outside the whitelist.

    Examples
    --------
    >>> f = parse_expression("sin(3*x) + x**2")
    >>> float(f(np.array(0.5)))
    1.2474949866040546
    """
    if not isinstance(text, str) or not text.strip():
        raise InputError("the expression is empty; give a function such as 'sin(3*x) + x**2'")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise InputError(
            f"the expression has {len(text)} characters; at most {MAX_EXPRESSION_LENGTH} "
            "(lamina.limits.MAX_EXPRESSION_LENGTH)"
        )
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as error:
        raise InputError(f"expression {text!r} is not valid syntax: {error.msg}") from None
    names = tuple(variables)
    for node in ast.walk(tree):
        _check_node(node, text, names)
    return Expression(text, names, tree)


def _check_node(node: ast.AST, text: str, variables: tuple[str, ...]) -> None:
    allowed_names = sorted({*variables, *CONSTANTS})
    if isinstance(node, ast.Expression | ast.Load | ast.operator | ast.unaryop | ast.cmpop):
        if isinstance(node, ast.operator) and type(node) not in _BINARY:
            raise InputError(f"expression {text!r}: operator {type(node).__name__} is not allowed")
        if isinstance(node, ast.cmpop) and type(node) not in _COMPARE:
            raise InputError(
                f"expression {text!r}: comparison {type(node).__name__} is not allowed"
            )
        if isinstance(node, ast.unaryop) and type(node) not in _UNARY:
            raise InputError(f"expression {text!r}: operator {type(node).__name__} is not allowed")
        return
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise InputError(f"expression {text!r}: only numbers are allowed, not {node.value!r}")
        return
    if isinstance(node, ast.Name):
        if node.id not in variables and node.id not in CONSTANTS and node.id not in FUNCTIONS:
            raise InputError(
                f"expression {text!r}: unknown name {node.id!r}; variables and constants: "
                f"{', '.join(allowed_names)}; functions: {', '.join(sorted(FUNCTIONS))}"
            )
        return
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            called = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise InputError(
                f"expression {text!r}: {called!r} is not an allowed function; "
                f"functions: {', '.join(sorted(FUNCTIONS))}"
            )
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise InputError(
                f"expression {text!r}: {node.func.id}() takes positional arguments only"
            )
        arity = FUNCTIONS[node.func.id][1]
        if len(node.args) != arity:
            raise InputError(
                f"expression {text!r}: {node.func.id}() takes {arity} argument(s), "
                f"got {len(node.args)}"
            )
        return
    if isinstance(node, ast.BinOp | ast.UnaryOp | ast.Compare | ast.IfExp):
        return
    raise InputError(
        f"expression {text!r}: {type(node).__name__} ({ast.unparse(node)!r}) is not allowed; "
        "use numbers, variables, + - * / ** %, comparisons and the listed functions"
    )


def _evaluate(node: ast.AST, scope: dict[str, np.ndarray]) -> np.ndarray | np.float64:
    # _check_node let through only numbers, known names, known calls and operators.
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return np.float64(node.value)
    if isinstance(node, ast.Name):
        if node.id in scope:
            return scope[node.id]
        if node.id in CONSTANTS:
            return np.float64(CONSTANTS[node.id])
        raise InputError(f"{node.id!r} is a function; call it with arguments")
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_evaluate(node.left, scope), _evaluate(node.right, scope))
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_evaluate(node.operand, scope))
    if isinstance(node, ast.Compare):
        left = _evaluate(node.left, scope)
        result = np.bool_(True)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _evaluate(comparator, scope)
            result = np.logical_and(result, _COMPARE[type(op)](left, right))
            left = right
        return result.astype(np.float64)
    if isinstance(node, ast.IfExp):
        condition = _evaluate(node.test, scope) != 0
        return np.where(condition, _evaluate(node.body, scope), _evaluate(node.orelse, scope))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        function = FUNCTIONS[node.func.id][0]
        return function(*(_evaluate(a, scope) for a in node.args))
    raise InputError(f"cannot evaluate {type(node).__name__}")  # unreachable after _check_node


def parse_domain(text: str, dims: int) -> list[tuple[float, float]]:
    """``"-2:2"`` (every axis) or ``"-2:2,0:1"`` (one interval per axis) -> bounds."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if len(parts) == 1:
        parts = parts * dims
    if len(parts) != dims:
        raise InputError(f"--domain {text!r} gives {len(parts)} intervals for {dims} dimension(s)")
    bounds = []
    for part in parts:
        low, sep, high = part.partition(":")
        try:
            lo, hi = float(low), float(high)
        except ValueError:
            raise InputError(
                f"--domain interval {part!r} must look like LOW:HIGH, e.g. -2:2"
            ) from None
        if not sep or not (np.isfinite(lo) and np.isfinite(hi)) or not lo < hi:
            raise InputError(f"--domain interval {part!r} needs finite LOW < HIGH")
        bounds.append((lo, hi))
    return bounds
