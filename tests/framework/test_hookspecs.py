"""Every hookspec is documented, and the check for it can fail."""

from __future__ import annotations

import inspect
from types import ModuleType

import pluggy
import pytest

from lamina import Host, hookspecs
from lamina.kinds import Kind, builtin_kinds


def undocumented_hookspecs(module: ModuleType) -> list[str]:
    """Names of functions marked as lamina hookspecs that have no docstring."""
    marker = "lamina_spec"
    return [
        name
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if hasattr(function, marker) and not (function.__doc__ or "").strip()
    ]


def test_every_hookspec_is_documented() -> None:
    specs = [
        n for n, f in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(f, "lamina_spec")
    ]
    assert specs == [
        "lamina_register_commands",
        "lamina_register_kinds",
        "lamina_register_operations",
    ]
    assert undocumented_hookspecs(hookspecs) == []


@pytest.mark.parametrize("kind", builtin_kinds(), ids=lambda kind: kind.name)
def test_every_kind_hookspec_is_documented_and_known_to_the_host(kind: Kind) -> None:
    namespace = kind.hookspec()
    assert undocumented_hookspecs(namespace) == []  # type: ignore[arg-type]
    assert [n for n in dir(namespace) if n.startswith("lamina_")] == [kind.hook]
    assert kind.hook in {caller.name for caller in Host(entry_points=[]).pm.hook.__dict__.values()}


def test_an_undocumented_hookspec_is_caught() -> None:
    module = ModuleType("fake_specs")
    spec = pluggy.HookspecMarker("lamina")

    def lamina_register_widgets(registry):  # type: ignore[no-untyped-def]
        pass

    module.lamina_register_widgets = spec(lamina_register_widgets)
    assert undocumented_hookspecs(module) == ["lamina_register_widgets"]
