"""Checks every component must pass, and helpers the per-kind checks share."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from lamina.errors import InputError
from lamina.kinds import Kind, Tags
from lamina.params import factory_signature
from lamina.registry import NAME, ComponentInfo, resolve_target
from lamina.testing._runner import Check

__all__ = ["build", "checks", "expect_input_error", "unchanged"]


def build(info: ComponentInfo, **params: Any) -> Any:
    """A component built with its defaults (and ``random_state=0`` when it has one)."""
    names = {p.name for p in info.parameters}
    if "random_state" in names and "random_state" not in params:
        params["random_state"] = 0
    checked = {k: v for k, v in params.items() if k in names}
    return info.load()(**checked)


@contextmanager
def unchanged(*arrays: Any) -> Iterator[None]:
    """Assert that the block leaves every array argument exactly as it was."""
    before = [copy.deepcopy(a) for a in arrays]
    yield
    for index, (old, new) in enumerate(zip(before, arrays, strict=True)):
        assert _same(old, new), f"input argument {index} was modified in place"


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, np.ndarray):
        return (
            old.dtype == new.dtype
            and old.shape == new.shape
            and np.array_equal(old, new, equal_nan=old.dtype.kind == "f")
        )
    if hasattr(old, "__dataclass_fields__"):
        return all(
            _same(getattr(old, name), getattr(new, name)) for name in old.__dataclass_fields__
        )
    return bool(old == new)


def expect_input_error(call: Callable[[], Any], what: str) -> None:
    """Assert ``call()`` raises :class:`lamina.InputError` (not a bare exception)."""
    try:
        call()
    except InputError:
        return
    except Exception as error:
        raise AssertionError(
            f"{what}: raised {type(error).__name__} ({error}) instead of lamina.InputError"
        ) from error
    raise AssertionError(f"{what}: no error raised")


def check_registration(info: ComponentInfo) -> None:
    assert NAME.match(info.name), f"name {info.name!r} is not lower-case kebab/snake case"
    assert info.summary.strip(), "summary is empty: `lamina components` shows it"
    assert isinstance(info.tags, Tags), "tags are not a lamina.Tags"
    assert info.plugin and info.distribution, "plugin or distribution not recorded"
    assert callable(info.load()), "factory does not resolve to a callable"


def check_parameters_introspectable(info: ComponentInfo) -> None:
    for p in factory_signature(info.load()):
        assert p.kind == p.KEYWORD_ONLY, f"parameter {p.name!r} is not keyword-only"
        assert p.annotation is not p.empty, f"parameter {p.name!r} has no type hint"
        assert p.default is not p.empty, f"parameter {p.name!r} has no default"
    for parameter in info.parameters:
        assert parameter.type_name, f"parameter {parameter.name!r} has no readable type"


def check_builds_with_defaults(info: ComponentInfo) -> None:
    component = build(info)
    assert component is not None


def check_implements_protocol(info: ComponentInfo, *, protocol: str) -> None:
    expected = resolve_target(protocol, what=f"the protocol of kind {info.kind!r}")
    component = build(info)
    methods = [name for name, value in vars(expected).items() if callable(value)]
    missing = [
        name for name in methods if not name.startswith("_") and not hasattr(component, name)
    ]
    assert not missing, f"{type(component).__name__} has no {', '.join(missing)} ({protocol})"
    assert isinstance(component, expected), f"{type(component).__name__} is not a {protocol}"


def checks(info: ComponentInfo, kind: Kind) -> list[Check]:
    """The checks every component passes, whatever its ``kind``."""
    return [
        Check("registration", check_registration),
        Check("parameters_introspectable", check_parameters_introspectable),
        Check("builds_with_defaults", check_builds_with_defaults),
        Check(
            "implements_protocol",
            functools.partial(check_implements_protocol, protocol=kind.protocol),
        ),
    ]
