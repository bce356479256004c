"""The plugin host: loads the ``lamina`` entry points, isolates failures, and
keeps the registry of components by kind and name."""

from __future__ import annotations

import importlib.metadata as metadata
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from lamina import hookspecs
from lamina.errors import ComponentNotFound, InputError, PluginError
from lamina.params import validate_parameters
from lamina.registry import (
    CommandInfo,
    CommandRegistry,
    ComponentInfo,
    KindRegistry,
    OperationInfo,
    OperationRegistry,
)
from lamina.types import KINDS

__all__ = [
    "ENTRY_POINT_GROUP",
    "HOST_COMMANDS",
    "SLOW_LOAD_SECONDS",
    "Host",
    "PluginInfo",
    "components",
    "create",
    "get_host",
]

ENTRY_POINT_GROUP = "lamina"
_IN_PROCESS = "<in-process>"

#: A plugin whose import and registration take longer than this is named in a
#: warning: every command, ``--help`` included, waits for it.
SLOW_LOAD_SECONDS = 1.0

#: The host's own commands: name -> ("module:attr", one-line help). They are
#: registered before any plugin, so no plugin can take their names.
HOST_COMMANDS: dict[str, tuple[str, str]] = {
    "plugins": (
        "lamina.host_commands:plugins",
        "List every plugin: distribution, version, status, load time, error and what it adds.",
    ),
    "components": (
        "lamina.host_commands:components",
        "List registered components, optionally of one KIND.",
    ),
    "describe": (
        "lamina.host_commands:describe",
        "Show one component: summary, parameters with types and defaults, tags.",
    ),
    "check": (
        "lamina.host_commands:check",
        "Run the conformance suite on PLUGINs (default: every plugin); exit 1 on a failure.",
    ),
    "learn": (
        "lamina.learn_commands:learn",
        "Accuracy, fit and predict time of LEARNER on a table (stratified k-fold or a test file).",
    ),
    "datasets": (
        "lamina.learn_commands:datasets",
        "List the bundled example tables, or describe table NAME.",
    ),
    "run": (
        "lamina.pipeline.cli:run",
        "Run a pipeline: validate all of it, then execute, reusing stored results.",
    ),
    "demo": (
        "lamina.pipeline.cli:demo",
        "Run the bundled demo: all four kinds of component end to end, with a report.",
    ),
    "cache": (
        "lamina.pipeline.cli:cache",
        "Inspect or prune the stored results of an output folder.",
    ),
    "new-plugin": (
        "lamina.host_commands:new_plugin",
        "Write a plugin package NAME with one component of KIND, ready to install and check.",
    ),
}


@dataclass
class PluginInfo:
    """One plugin: where it came from, whether it loaded, and what went wrong."""

    name: str
    distribution: str
    version: str
    status: str = "loaded"  # loaded | failed | disabled | unavailable
    errors: list[str] = field(default_factory=list)
    components: list[ComponentInfo] = field(default_factory=list)
    operations: list[OperationInfo] = field(default_factory=list)
    commands: list[CommandInfo] = field(default_factory=list)
    load_seconds: float | None = None  # import plus registration hooks
    module: Any = None

    @property
    def error(self) -> str | None:
        return "; ".join(self.errors) or None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "status": self.status,
            "error": self.error,
            "load_seconds": self.load_seconds,
            "components": [{"kind": c.kind, "name": c.name} for c in self.components],
            "operations": [o.name for o in self.operations],
            "commands": [c.name for c in self.commands],
        }


def _env_list(name: str) -> set[str]:
    return {item.strip() for item in os.environ.get(name, "").split(",") if item.strip()}


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


class Host:
    """A pluggy plugin manager plus the component registry built from its hooks.

    Parameters
    ----------
    entry_points : iterable of importlib.metadata.EntryPoint, optional
        The plugins to load; by default every entry point of group ``lamina``.
    disabled : iterable of str, optional
        Plugin names not to load; by default ``LAMINA_DISABLE_PLUGINS``.
    strict : bool, optional
        Raise :class:`PluginError` on any load problem; by default
        ``LAMINA_STRICT_PLUGINS``.
    """

    def __init__(
        self,
        *,
        entry_points: Iterable[metadata.EntryPoint] | None = None,
        disabled: Iterable[str] | None = None,
        strict: bool | None = None,
    ) -> None:
        self.pm = pluggy.PluginManager("lamina")
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self._components: dict[str, dict[str, ComponentInfo]] = {kind: {} for kind in KINDS}
        self._operations: dict[str, OperationInfo] = {}
        self._commands: dict[str, CommandInfo] = _host_commands()
        self.disabled = (
            set(disabled) if disabled is not None else _env_list("LAMINA_DISABLE_PLUGINS")
        )
        self.strict = _env_flag("LAMINA_STRICT_PLUGINS") if strict is None else strict
        if entry_points is None:
            entry_points = metadata.entry_points(group=ENTRY_POINT_GROUP)
        # Each distribution's metadata is parsed once: it holds the whole README.
        owners: dict[int, tuple[str, str]] = {}

        def owner(entry_point: metadata.EntryPoint) -> tuple[str, str]:
            key = id(getattr(entry_point, "dist", None))
            if key not in owners:
                owners[key] = _distribution(entry_point)
            return owners[key]

        described = [(ep, *owner(ep)) for ep in entry_points]
        # Built-ins first, then by name: the first registration of a name wins,
        # so the outcome of a clash never depends on installation order.
        described.sort(key=lambda item: (item[1] != "lamina", item[0].name))
        for entry_point, distribution, version in described:
            self._load_entry_point(entry_point, distribution, version)
        self.raise_if_strict()

    # -- loading -----------------------------------------------------------
    def _load_entry_point(
        self, entry_point: metadata.EntryPoint, distribution: str, version: str
    ) -> None:
        if entry_point.name in self.disabled:
            self.plugins[entry_point.name] = PluginInfo(
                entry_point.name, distribution, version, status="disabled"
            )
            return
        info = PluginInfo(entry_point.name, distribution, version)
        if entry_point.name in self.plugins:
            first = self.plugins[entry_point.name]
            self.plugins[f"{entry_point.name} ({distribution})"] = info
            self._fail(
                info,
                f"plugin name {entry_point.name!r} is already taken by "
                f"{first.distribution} {first.version}",
            )
            return
        self.plugins[entry_point.name] = info
        started = time.perf_counter()
        try:
            module = entry_point.load()
        except KeyboardInterrupt:
            raise
        except BaseException as error:  # SystemExit too: a plugin cannot end the host
            self._fail(info, f"import failed: {_describe(error)}")
        else:
            self._register_module(info, module)
        info.load_seconds = time.perf_counter() - started
        if info.load_seconds > SLOW_LOAD_SECONDS:
            import logging  # only now: logging costs every start-up a few milliseconds

            logging.getLogger("lamina").warning(
                "lamina: warning: plugin %r (%s %s) took %.1f s to load and every command "
                "waits for it; LAMINA_DISABLE_PLUGINS=%s skips it",
                info.name,
                info.distribution,
                info.version,
                info.load_seconds,
                info.name,
            )

    def register(
        self,
        plugin: Any,
        *,
        name: str,
        distribution: str = _IN_PROCESS,
        version: str = "",
    ) -> PluginInfo:
        """Register an already imported plugin object (module or instance) by hand,
        with the same isolation as an entry point. Returns its record."""
        info = PluginInfo(name, distribution, version)
        if name in self.plugins:
            self._fail(info, f"plugin name {name!r} is already taken")
            return info
        self.plugins[name] = info
        if name in self.disabled:
            info.status = "disabled"
            return info
        self._register_module(info, plugin)
        return info

    def _register_module(self, info: PluginInfo, module: Any) -> None:
        try:
            self.pm.register(module, name=info.name)
        except KeyboardInterrupt:
            raise
        except pluggy.PluginValidationError as error:
            self._fail(info, f"invalid hook implementation: {error}")
            return
        except BaseException as error:
            self._fail(info, f"registration failed: {_describe(error)}")
            return
        info.module = module
        unknown = [
            caller.name for caller in self.pm.get_hookcallers(module) or [] if caller.spec is None
        ]
        if unknown:
            self.pm.unregister(module)
            known = ", ".join(sorted(n for n in dir(self.pm.hook) if n.startswith("lamina_")))
            self._fail(info, f"unknown hook(s) {', '.join(unknown)}; lamina's hooks are: {known}")
            return
        owner = {"plugin": info.name, "distribution": info.distribution, "version": info.version}
        for kind, hook_name in hookspecs.KIND_HOOKS.items():
            staged = self._call_hook(info, hook_name, "registry", KindRegistry(kind, **owner))
            self._commit(info, kind, self._components[kind], staged, info.components)
        staged = self._call_hook(
            info, "lamina_register_operations", "registry", OperationRegistry(**owner)
        )
        self._commit(info, "operation", self._operations, staged, info.operations)
        staged = self._call_hook(info, "lamina_register_commands", "cli", CommandRegistry(**owner))
        self._commit(info, "command", self._commands, staged, info.commands)
        requires_missing = info.components and all(not c.available for c in info.components)
        if info.status == "loaded" and requires_missing:
            info.status = "unavailable"
            info.errors.append(info.components[0].install_hint)

    def _call_hook(self, info: PluginInfo, hook_name: str, argument: str, registry: Any) -> list:
        """Call ``info``'s implementation of ``hook_name`` with a fresh ``registry``;
        return what it staged, or nothing when it raised (anything but Ctrl-C)."""
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            if impl.plugin is not info.module:
                continue
            try:
                impl.function(**{argument: registry})
            except KeyboardInterrupt:
                raise
            except BaseException as error:
                self._fail(info, f"hook {hook_name} raised {_describe(error)}")
                return []
        return list(registry.staged)

    def _commit(
        self, info: PluginInfo, what: str, table: dict[str, Any], staged: list, into: list
    ) -> None:
        """Add ``staged`` records to ``table``: a name already there keeps its first
        provider, and the clash is recorded on ``info`` with both distributions."""
        for record in staged:
            existing = table.get(record.name)
            if existing is not None:
                self._fail(
                    info,
                    f"{what} {record.name!r} is already provided by plugin "
                    f"{existing.plugin!r} ({existing.distribution} {existing.version}); "
                    f"this one from {info.distribution} {info.version} is ignored",
                )
                continue
            table[record.name] = record
            into.append(record)

    def _fail(self, info: PluginInfo, message: str) -> None:
        info.status = "failed"
        info.errors.append(message)

    def raise_if_strict(self) -> None:
        """In strict mode, turn every recorded load problem into a :class:`PluginError`."""
        if not self.strict:
            return
        problems = [
            f"plugin {p.name!r} ({p.distribution} {p.version}): {p.error}"
            for p in self.plugins.values()
            if p.status == "failed"
        ]
        if problems:
            raise PluginError("LAMINA_STRICT_PLUGINS is set and " + "; ".join(problems))

    # -- queries -----------------------------------------------------------
    def components(self, kind: str | None = None) -> list[ComponentInfo]:
        """Registered components, optionally of one ``kind``, sorted by kind and name."""
        kinds = KINDS if kind is None else (_check_kind(kind),)
        return [c for k in kinds for _, c in sorted(self._components[k].items())]

    def get(self, kind: str, name: str) -> ComponentInfo:
        """The component ``name`` of ``kind``; :class:`ComponentNotFound` suggests close names."""
        try:
            return self._components[_check_kind(kind)][name]
        except KeyError:
            raise ComponentNotFound(kind, name, self._components[kind]) from None

    def commands(self) -> list[CommandInfo]:
        """The ``lamina`` subcommands, the host's and the plugins', sorted by name."""
        return [command for _, command in sorted(self._commands.items())]

    def command(self, name: str) -> CommandInfo:
        """The subcommand ``name``; :class:`ComponentNotFound` suggests close names."""
        try:
            return self._commands[name]
        except KeyError:
            raise ComponentNotFound("command", name, self._commands) from None

    def operations(self) -> list[OperationInfo]:
        """Registered pipeline operations, sorted by name."""
        return [op for _, op in sorted(self._operations.items())]

    def operation(self, name: str) -> OperationInfo:
        """The pipeline operation ``name``; :class:`ComponentNotFound` suggests close names."""
        try:
            return self._operations[name]
        except KeyError:
            raise ComponentNotFound("operation", name, self._operations) from None

    def create(self, kind: str, name: str, **params: Any) -> Any:
        """Build component ``name`` with ``params`` validated against its signature."""
        info = self.get(kind, name)
        factory = info.load()
        checked = validate_parameters(info.parameters, params, what=f"{kind} {name!r}")
        return factory(**checked)


def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise InputError(f"unknown component kind {kind!r}; kinds are: {', '.join(KINDS)}")
    return kind


def _describe(error: BaseException) -> str:
    if isinstance(error, SystemExit):
        return f"SystemExit({error.code!r}): the plugin tried to end the program"
    return f"{type(error).__name__}: {error}"


def _host_commands() -> dict[str, CommandInfo]:
    from lamina import __version__ as version  # lamina/__init__ has read it already

    return {
        name: CommandInfo(name, target, summary, "lamina", "lamina", version)
        for name, (target, summary) in HOST_COMMANDS.items()
    }


def _distribution(entry_point: metadata.EntryPoint) -> tuple[str, str]:
    dist = getattr(entry_point, "dist", None)
    if dist is None:
        return _IN_PROCESS, ""
    return dist.metadata["Name"] or dist.name, dist.version


_host: Host | None = None


def get_host() -> Host:
    """The process-wide host, loaded from the ``lamina`` entry points on first use."""
    global _host
    if _host is None:
        _host = Host()
    return _host


def reset_host() -> None:
    """Forget the process-wide host, so the next :func:`get_host` reloads plugins."""
    global _host
    _host = None


def components(kind: str | None = None) -> list[ComponentInfo]:
    """Registered components of the process-wide host, optionally of one ``kind``."""
    return get_host().components(kind)


def create(kind: str, name: str, **params: Any) -> Any:
    """Build a configured component of the process-wide host.

    Examples
    --------
    >>> import lamina
    >>> interpolator = lamina.create("interpolator", "bicubic")  # doctest: +SKIP
    """
    return get_host().create(kind, name, **params)
