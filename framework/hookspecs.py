"""The hooks a lamina plugin may implement; each one receives a register callback."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from lamina.registry import KindRegistry, OperationRegistry

__all__ = ["hookimpl", "hookspec"]

hookspec = pluggy.HookspecMarker("lamina")
hookimpl = pluggy.HookimplMarker("lamina")


@hookspec
def lamina_register_renderers(registry: KindRegistry) -> None:
    """Register renderers with ``registry.add(name, factory, summary=..., tags=...)``."""


@hookspec
def lamina_register_interpolators(registry: KindRegistry) -> None:
    """Register interpolators with ``registry.add(name, factory, summary=..., tags=...)``."""


@hookspec
def lamina_register_position_estimators(registry: KindRegistry) -> None:
    """Register position estimators with ``registry.add(name, factory, summary=..., tags=...)``."""


@hookspec
def lamina_register_learners(registry: KindRegistry) -> None:
    """Register learners with ``registry.add(name, factory, summary=..., tags=...)``."""


@hookspec
def lamina_register_operations(registry: OperationRegistry) -> None:
    """Register pipeline operations with ``registry.add(name, function, summary=...)``."""


@hookspec
def lamina_register_commands(cli: click.Group) -> None:
    """Add subcommands to the ``lamina`` command line with ``cli.add_command(...)``."""


#: The hook that registers each kind of component.
KIND_HOOKS: dict[str, str] = {
    "renderer": "lamina_register_renderers",
    "interpolator": "lamina_register_interpolators",
    "position_estimator": "lamina_register_position_estimators",
    "learner": "lamina_register_learners",
}
