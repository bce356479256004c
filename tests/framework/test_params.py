"""Parameters are typed from the factory signature, and strings from the CLI are coerced."""

from __future__ import annotations

from typing import Literal

import pytest

from lamina import InputError
from lamina.params import (
    Parameterized,
    coerce_value,
    factory_parameters,
    validate_parameters,
)


class Example:
    def __init__(
        self,
        *,
        k: int = 4,
        alpha: float = 0.5,
        mode: Literal["fast", "exact"] = "exact",
        size: tuple[int, ...] = (3, 3),
        limit: int | None = None,
        verbose: bool = False,
    ) -> None:
        pass


def test_parameters_with_types_and_defaults() -> None:
    described = {p.name: (p.type_name, p.default) for p in factory_parameters(Example)}
    assert described["k"] == ("int", 4)
    assert described["mode"][1] == "exact" and "Literal" in described["mode"][0]


@pytest.mark.parametrize(
    ("value", "annotation", "expected"),
    [
        ("5", int, 5),
        ("0.25", float, 0.25),
        (2, float, 2.0),
        ("yes", bool, True),
        ("off", bool, False),
        ("fast", Literal["fast", "exact"], "fast"),
        ("4x5", tuple[int, ...], (4, 5)),
        ("none", int | None, None),
        ("7", int | None, 7),
        ("a,b", tuple[str, ...], ("a", "b")),
    ],
)
def test_coercion(value: object, annotation: object, expected: object) -> None:
    assert coerce_value(value, annotation) == expected


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"kk": 1}, "no parameter 'kk'"),
        ({"k": "four"}, "'k'.*expects int"),
        ({"k": True}, "expects int"),
        ({"mode": "slow"}, "one of 'fast', 'exact'"),
        ({"verbose": "maybe"}, "expects bool"),
    ],
)
def test_bad_values_name_the_parameter(values: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        validate_parameters(factory_parameters(Example), values, what="thing 'x'")


class _Checked(Parameterized):
    """Checks and derives in ``__init__``, as interpolators and renderers do."""

    def __init__(self, *, size: int = 2, inner: Parameterized | None = None) -> None:
        if size < 1:
            raise InputError(f"size must be >= 1, got {size}")
        self.size = size
        self.inner = inner
        self.area_ = size * size


class _Inner(Parameterized):
    def __init__(self, *, depth: int = 1) -> None:
        self.depth = depth


def test_parameterized_set_params_checks_and_derives_again() -> None:
    component = _Checked(inner=_Inner())
    assert component.set_params(size=3) is component
    assert (component.size, component.area_) == (3, 9)
    with pytest.raises(InputError, match="size must be >= 1"):
        component.set_params(size=0)
    with pytest.raises(InputError, match=r"Invalid parameter 'colour'.*'inner', 'size'"):
        component.set_params(colour=1)
    component.set_params(inner__depth=4)
    assert component.get_params()["inner__depth"] == 4
    assert component.get_params(deep=False) == {"inner": component.inner, "size": 3}


def test_parameterized_repr_shows_what_differs_from_defaults() -> None:
    assert repr(_Checked()) == "_Checked()"
    assert repr(_Checked(size=5)) == "_Checked(size=5)"
    # 2.0 == 2 but is not the default's type: shown, as scikit-learn does
    assert repr(_Checked(size=2.0)) == "_Checked(size=2.0)"  # type: ignore[arg-type]
    assert repr(_Checked(inner=_Inner(depth=3))) == "_Checked(inner=_Inner(depth=3))"


def test_parameterized_refuses_star_args() -> None:
    class Loose(Parameterized):
        def __init__(self, *args: int) -> None:
            self.args = args

    with pytest.raises(TypeError, match="must not take \\*args"):
        Loose().get_params()
