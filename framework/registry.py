"""Component records and the register callback handed to each plugin hook."""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from lamina.errors import PluginError
from lamina.params import Parameter, factory_parameters

if TYPE_CHECKING:
    from lamina.kinds import Kind, Tags

__all__ = [
    "CommandInfo",
    "CommandRegistry",
    "ComponentInfo",
    "KindRegistry",
    "OperationInfo",
    "OperationRegistry",
    "resolve_target",
]

#: What a component, operation or command name may look like.
NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")

Factory = Callable[..., Any] | str


def resolve_target(target: str, *, what: str) -> Any:
    """Import ``"module:attr"`` and return the attribute; any failure is one
    :class:`PluginError` naming ``what`` (the component or command and its plugin)."""
    module_name, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # SystemExit too: a plugin's module cannot end the host
        raise PluginError(
            f"{what}: cannot load {target!r}: {type(error).__name__}: {error}"
        ) from error


@dataclass
class ComponentInfo:
    """A registered component: who provides it and how to build it."""

    kind: str
    name: str
    factory: Factory
    summary: str
    tags: Tags
    plugin: str
    distribution: str
    version: str
    _resolved: Callable[..., Any] | None = field(default=None, repr=False)

    @property
    def missing_requirements(self) -> tuple[str, ...]:
        """Modules named in ``tags.requires`` that cannot be imported here."""
        return tuple(m for m in self.tags.requires if importlib.util.find_spec(m) is None)

    @property
    def available(self) -> bool:
        return not self.missing_requirements

    @property
    def install_hint(self) -> str:
        missing = self.missing_requirements
        if not missing:
            return ""
        if self.distribution == "lamina":
            return f"pip install 'lamina[{missing[0]}]'"
        return f"pip install {' '.join(missing)}"

    def load(self) -> Callable[..., Any]:
        """Resolve the factory (importing a ``"module:attr"`` string on first use)."""
        if self._resolved is not None:
            return self._resolved
        if not self.available:
            raise PluginError(
                f"{self.kind} {self.name!r} from plugin {self.plugin!r} "
                f"({self.distribution} {self.version}) needs "
                f"{', '.join(self.missing_requirements)}: {self.install_hint}"
            )
        factory = self.factory
        if isinstance(factory, str):
            factory = resolve_target(
                factory,
                what=f"{self.kind} {self.name!r} from plugin {self.plugin!r} "
                f"({self.distribution} {self.version})",
            )
        self._resolved = factory
        return factory

    @cached_property
    def parameters(self) -> list[Parameter]:
        """Keyword parameters of the factory with types and defaults."""
        return factory_parameters(self.load())

    def as_dict(self, *, with_parameters: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind,
            "name": self.name,
            "plugin": self.plugin,
            "distribution": self.distribution,
            "version": self.version,
            "summary": self.summary,
            "tags": self.tags.as_dict(),
            "available": self.available,
        }
        if not self.available:
            data["install_hint"] = self.install_hint
        if with_parameters and self.available:
            data["parameters"] = [p.as_dict() for p in self.parameters]
        return data


class KindRegistry:
    """The ``registry`` a plugin hook receives: ``add`` components of one kind.

    Additions are staged and only committed when the hook returns normally,
    so a hook that raises half-way registers nothing. Tags are checked against
    the kind's (an unknown tag is a ``TypeError``) and the kind's defaults
    filled in.
    """

    def __init__(self, kind: Kind, *, plugin: str, distribution: str, version: str) -> None:
        self.definition = kind
        self.kind = kind.name
        self._owner = (plugin, distribution, version)
        self.staged: list[ComponentInfo] = []

    def add(
        self,
        name: str,
        factory: Factory,
        *,
        summary: str = "",
        tags: Tags | Mapping[str, Any] | None = None,
    ) -> None:
        """Register component ``name`` built by ``factory`` (a callable or ``"module:attr"``)."""
        if not isinstance(name, str) or not NAME.match(name):
            raise ValueError(
                f"component name {name!r} must be lower-case letters, digits, '-', '_' or '.'"
            )
        if isinstance(factory, str):
            if ":" not in factory:
                raise ValueError(f"factory string {factory!r} must look like 'module:attr'")
        elif not callable(factory):
            raise TypeError(f"factory for {name!r} must be callable or 'module:attr'")
        if any(c.name == name for c in self.staged):
            raise ValueError(f"{self.kind} {name!r} is added twice by the same hook")
        plugin, distribution, version = self._owner
        self.staged.append(
            ComponentInfo(
                kind=self.kind,
                name=name,
                factory=factory,
                summary=summary,
                tags=self.definition.tags_for(
                    tags, owner=f"plugin {plugin!r}, {self.kind} {name!r}"
                ),
                plugin=plugin,
                distribution=distribution,
                version=version,
            )
        )


@dataclass
class OperationInfo:
    """A pipeline operation: a function with keyword-only, type-hinted arguments,
    given as a callable or a ``"module:attr"`` string imported on first use."""

    name: str
    target: Callable[..., Any] | str
    summary: str
    plugin: str
    distribution: str
    version: str

    @cached_property
    def function(self) -> Callable[..., Any]:
        """The operation's function (importing a ``"module:attr"`` on first use)."""
        if callable(self.target):
            return self.target
        return resolve_target(
            self.target,
            what=f"operation {self.name!r} from plugin {self.plugin!r} "
            f"({self.distribution} {self.version})",
        )

    @cached_property
    def parameters(self) -> list[Parameter]:
        return factory_parameters(self.function)


class OperationRegistry:
    """The ``registry`` the operations hook receives; staged like :class:`KindRegistry`."""

    def __init__(self, *, plugin: str, distribution: str, version: str) -> None:
        self._owner = (plugin, distribution, version)
        self.staged: list[OperationInfo] = []

    def add(self, name: str, function: Callable[..., Any] | str, *, summary: str = "") -> None:
        """Register operation ``name`` (a callable or ``"module:attr"``); pipeline
        steps call it as ``op = "name"``."""
        if not isinstance(name, str) or not NAME.match(name):
            raise ValueError(
                f"operation name {name!r} must be lower-case letters, digits, '-', '_'"
            )
        if isinstance(function, str):
            if ":" not in function:
                raise ValueError(f"operation {name!r} must be callable or 'module:attr'")
        elif not callable(function):
            raise TypeError(f"operation {name!r} must be callable or 'module:attr'")
        self.staged.append(OperationInfo(name, function, summary, *self._owner))


@dataclass
class CommandInfo:
    """A subcommand of ``lamina``: its name and one-line help, known without
    importing it, and the ``"module:attr"`` (or click command) that runs it."""

    name: str
    target: Any  # "module:attr" or an already built click.Command
    summary: str
    plugin: str
    distribution: str
    version: str

    def load(self) -> Any:
        """The click command, importing its module on first use."""
        if not isinstance(self.target, str):
            return self.target
        command = resolve_target(
            self.target,
            what=f"command {self.name!r} from plugin {self.plugin!r} "
            f"({self.distribution} {self.version})",
        )
        if not callable(getattr(command, "main", None)):
            raise PluginError(
                f"command {self.name!r} from plugin {self.plugin!r}: {self.target!r} "
                f"is a {type(command).__name__}, not a click command"
            )
        self.target = command
        return command

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "plugin": self.plugin, "summary": self.summary}


class CommandRegistry:
    """The ``cli`` the commands hook receives; staged like :class:`KindRegistry`.

    ``add(name, "module:attr", summary=...)`` registers a command whose module is
    imported only when it runs, so ``lamina --help`` stays fast; ``add_command``
    takes an already built click command (its module is then imported at start-up).
    """

    def __init__(self, *, plugin: str, distribution: str, version: str) -> None:
        self._owner = (plugin, distribution, version)
        self.staged: list[CommandInfo] = []

    def add(self, name: str, command: str, *, summary: str = "") -> None:
        """Register command ``name`` run by the click command at ``"module:attr"``."""
        if not isinstance(command, str) or ":" not in command:
            raise ValueError(f"command {name!r} must be a 'module:attr' string, not {command!r}")
        self._stage(name, command, summary)

    def add_command(self, command: Any, name: str | None = None) -> None:
        """Register a built click command (``click.Group.add_command``'s signature)."""
        if not callable(getattr(command, "main", None)):
            raise TypeError(f"add_command expects a click command, not {type(command).__name__}")
        self._stage(name or command.name, command, command.get_short_help_str(limit=80))

    def _stage(self, name: str, target: Any, summary: str) -> None:
        if not isinstance(name, str) or not NAME.match(name):
            raise ValueError(
                f"command name {name!r} must be lower-case letters, digits, '-', '_' or '.'"
            )
        if any(c.name == name for c in self.staged):
            raise ValueError(f"command {name!r} is added twice by the same hook")
        self.staged.append(CommandInfo(name, target, summary, *self._owner))
