"""Parameters are typed from the factory signature, and strings from the CLI are coerced."""

from __future__ import annotations

from typing import Literal

import pytest

from lamina import InputError
from lamina.params import coerce_value, factory_parameters, validate_parameters


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
