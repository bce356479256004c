"""The hooks a lamina plugin may implement; each one receives a register callback."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from lamina.registry import CommandRegistry, KindRegistry, OperationRegistry

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
def lamina_register_commands(cli: CommandRegistry) -> None:
    """Add subcommands to ``lamina`` with ``cli.add(name, "module:attr", summary=...)``.

    The name and one-line summary are all ``lamina --help`` shows, so the
    command's module is imported only when the command runs.
    ``cli.add_command(command)`` takes a built click command instead (its module
    is then imported at every start-up). A name the host or an earlier plugin
    already uses is refused and recorded on this plugin.
    """


#: The hook that registers each kind of component.
KIND_HOOKS: dict[str, str] = {
    "renderer": "lamina_register_renderers",
    "interpolator": "lamina_register_interpolators",
    "position_estimator": "lamina_register_position_estimators",
    "learner": "lamina_register_learners",
}
