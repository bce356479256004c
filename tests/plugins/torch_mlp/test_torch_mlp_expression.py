"""The safe expression parser of ``lamina approximate`` (no torch needed)."""

from __future__ import annotations

import numpy as np
import pytest

from lamina.errors import InputError
from lamina.plugins.torch_mlp.expression import franke, parse_domain, parse_expression


@pytest.mark.parametrize(
    ("text", "reference"),
    [
        ("sin(3*x) + x**2", lambda x: np.sin(3 * x) + x**2),
        ("exp(-x**2) * cos(pi * x)", lambda x: np.exp(-(x**2)) * np.cos(np.pi * x)),
        ("abs(x) - 0.5 * max(x, 0.25)", lambda x: np.abs(x) - 0.5 * np.maximum(x, 0.25)),
        ("where(x > 0, sqrt(abs(x)), -x)", lambda x: np.where(x > 0, np.sqrt(np.abs(x)), -x)),
        ("x if x < 0.5 else 1 - x", lambda x: np.where(x < 0.5, x, 1 - x)),
        ("-x % 0.3 + e", lambda x: np.mod(-x, 0.3) + np.e),
        ("-1 < x <= 0.5", lambda x: ((x > -1) & (x <= 0.5)).astype(float)),
    ],
)
def test_expressions_match_numpy(text, reference):
    x = np.linspace(-2, 2, 101)
    np.testing.assert_allclose(parse_expression(text)(x), reference(x), rtol=1e-15, atol=1e-15)


def test_two_variables_and_franke():
    f = parse_expression("franke(x, y) + x*y", ("x", "y"))
    x, y = np.meshgrid(np.linspace(0, 1, 5), np.linspace(0, 1, 7))
    np.testing.assert_allclose(f(x, y), franke(x, y) + x * y)
    # Franke's function at the origin, from its definition.
    expected = (
        0.75 * np.exp(-1 - 1)
        + 0.75 * np.exp(-1 / 49 - 0.1)
        + 0.5 * np.exp(-49 / 4 - 9 / 4)
        - 0.2 * np.exp(-16 - 49)
    )
    assert franke(np.array(0.0), np.array(0.0)) == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("__import__('os').system('true')", "not an allowed function"),
        ("x.__class__", "Attribute"),
        ("(lambda: 1)()", "not an allowed function"),
        ("[x][0]", "not allowed"),
        ("'abc'", "only numbers"),
        ("open('/etc/passwd')", "not an allowed function"),
        ("sin(x=1)", "positional arguments only"),
        ("sin(x, x)", "takes 1 argument"),
        ("z + 1", "unknown name 'z'"),
        ("x == 1", "comparison Eq"),
        ("x @ x", "operator MatMult"),
        ("sin(*[x])", "positional arguments only"),
        ("x +", "not valid syntax"),
        ("", "empty"),
        ("True + x", "only numbers"),
    ],
)
def test_unsafe_or_unknown_is_rejected_before_evaluation(text, fragment):
    with pytest.raises(InputError, match=None) as raised:
        parse_expression(text)
    assert fragment in str(raised.value)


def test_huge_powers_are_floats_not_bignums():
    with np.errstate(all="ignore"):
        assert np.isinf(parse_expression("9**9**9 + x")(np.array(1.0)))


def test_non_finite_on_domain_is_an_input_error():
    f = parse_expression("log(x)")
    with pytest.raises(InputError, match="not finite"):
        f.on(np.array([[-1.0], [1.0]]))


def test_domain_parsing():
    assert parse_domain("-2:2", 2) == [(-2.0, 2.0), (-2.0, 2.0)]
    assert parse_domain("0:1, -1:3", 2) == [(0.0, 1.0), (-1.0, 3.0)]
    for bad in ("2:-2", "a:b", "0:1,0:1,0:1", "1", "0:inf"):
        with pytest.raises(InputError):
            parse_domain(bad, 2)
