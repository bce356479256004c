"""The hooks a lamina plugin may implement; each one receives a register callback.

Each kind of component adds its own registration hook, ``lamina_register_<plural>``
(:attr:`lamina.kinds.Kind.hook`): ``lamina_register_renderers``,
``lamina_register_interpolators``, ``lamina_register_position_estimators`` and
``lamina_register_learners`` for the built-in kinds, and one per kind a plugin
adds with :func:`lamina_register_kinds`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from lamina.kinds import KindDefinitions
    from lamina.registry import CommandRegistry, OperationRegistry

__all__ = ["hookimpl", "hookspec"]

hookspec = pluggy.HookspecMarker("lamina")
hookimpl = pluggy.HookimplMarker("lamina")


@hookspec
def lamina_register_kinds(registry: KindDefinitions) -> None:
    """Add kinds of component with ``registry.add(lamina.kinds.Kind(...))``.

    A new kind brings its registration hook (``lamina_register_<plural>``),
    protocol, tags, conformance checks, pipeline result types and generic
    commands; the host handles its components like the built-in kinds'. A kind's
    name is taken by its first provider, as a component's is. The hook runs
    before the plugin's other hooks, so the same plugin may register
    components of the kind it adds.
    """


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
