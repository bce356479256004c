"""Every hookspec is documented, and the check for it can fail."""

from __future__ import annotations

import inspect
from types import ModuleType

import pluggy

from lamina import hookspecs


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
    assert len(specs) == 6
    assert undocumented_hookspecs(hookspecs) == []


def test_an_undocumented_hookspec_is_caught() -> None:
    module = ModuleType("fake_specs")
    spec = pluggy.HookspecMarker("lamina")

    def lamina_register_widgets(registry):  # type: ignore[no-untyped-def]
        pass

    module.lamina_register_widgets = spec(lamina_register_widgets)
    assert undocumented_hookspecs(module) == ["lamina_register_widgets"]
