"""The plugin host: loads the ``lamina`` entry points, isolates failures, and
keeps the registry of kinds, and of components by kind and name."""

from __future__ import annotations

import importlib.metadata as metadata
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from lamina import hookspecs
from lamina.errors import ComponentNotFound, InputError, PluginError
from lamina.kinds import Kind, KindDefinitions, KindInfo, builtin_kinds
from lamina.params import validate_parameters
from lamina.registry import (
    CommandInfo,
    CommandRegistry,
    ComponentInfo,
    KindRegistry,
    OperationInfo,
    OperationRegistry,
)

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
#: registered before any plugin, so no plugin can take their names; so are the
#: generic commands of the built-in kinds (:attr:`lamina.kinds.Kind.commands`).
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
    kinds: list[KindInfo] = field(default_factory=list)
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
            "kinds": [k.name for k in self.kinds],
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
        self._kinds: dict[str, KindInfo] = {}
        self._components: dict[str, dict[str, ComponentInfo]] = {}
        self._operations: dict[str, OperationInfo] = {}
        self._commands: dict[str, CommandInfo] = _host_commands()
        from lamina import __version__ as version  # lamina/__init__ has read it already

        for kind in builtin_kinds():
            self._install_kind(KindInfo(kind, "lamina", "lamina", version))
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
        loaded = [self._load_entry_point(*item) for item in described]
        # Every plugin's kinds before anyone's components: a plugin may register
        # components of a kind that a plugin loaded after it adds.
        attached = [info for info in loaded if info is not None]
        for info in attached:
            self._timed(info, self._add_kinds)
        for info in attached:
            self._timed(info, self._register_hooks)
        for info in self.plugins.values():
            _warn_if_slow(info)
        self.raise_if_strict()

    # -- loading -----------------------------------------------------------
    def _load_entry_point(
        self, entry_point: metadata.EntryPoint, distribution: str, version: str
    ) -> PluginInfo | None:
        """Import the plugin and attach it to pluggy; its record, or ``None`` when it
        is disabled, clashes or failed (recorded)."""
        if entry_point.name in self.disabled:
            self.plugins[entry_point.name] = PluginInfo(
                entry_point.name, distribution, version, status="disabled"
            )
            return None
        info = PluginInfo(entry_point.name, distribution, version)
        if entry_point.name in self.plugins:
            first = self.plugins[entry_point.name]
            self.plugins[f"{entry_point.name} ({distribution})"] = info
            self._fail(
                info,
                f"plugin name {entry_point.name!r} is already taken by "
                f"{first.distribution} {first.version}",
            )
            return None
        self.plugins[entry_point.name] = info
        started = time.perf_counter()
        attached = False
        try:
            module = entry_point.load()
        except KeyboardInterrupt:
            raise
        except BaseException as error:  # SystemExit too: a plugin cannot end the host
            self._fail(info, f"import failed: {_describe(error)}")
        else:
            attached = self._attach(info, module)
        info.load_seconds = time.perf_counter() - started
        return info if attached else None

    def _timed(self, info: PluginInfo, step: Callable[[PluginInfo], None]) -> None:
        """Run ``step(info)`` and add its time to the plugin's load time."""
        started = time.perf_counter()
        step(info)
        info.load_seconds = (info.load_seconds or 0.0) + time.perf_counter() - started

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
        if self._attach(info, plugin):
            self._add_kinds(info)
            self._register_hooks(info)
        return info

    def _attach(self, info: PluginInfo, module: Any) -> bool:
        """Register ``module`` with pluggy; ``False`` (recorded) when it is refused."""
        try:
            self.pm.register(module, name=info.name)
        except KeyboardInterrupt:
            raise
        except pluggy.PluginValidationError as error:
            self._fail(info, f"invalid hook implementation: {error}")
            return False
        except BaseException as error:
            self._fail(info, f"registration failed: {_describe(error)}")
            return False
        info.module = module
        return True

    def _add_kinds(self, info: PluginInfo) -> None:
        """Call the plugin's ``lamina_register_kinds`` and install the kinds it adds."""
        owner = {"plugin": info.name, "distribution": info.distribution, "version": info.version}
        staged = self._call_hook(
            info, "lamina_register_kinds", "registry", KindDefinitions(**owner)
        )
        hooks = {record.kind.hook: name for name, record in self._kinds.items()}
        fresh = []
        for record in staged:
            taken = getattr(self.pm.hook, record.kind.hook, None)
            if record.name not in self._kinds and taken is not None and taken.spec is not None:
                by = f"kind {hooks[record.kind.hook]!r}" if record.kind.hook in hooks else "lamina"
                self._fail(
                    info, f"kind {record.name!r}: its hook {record.kind.hook} is used by {by}"
                )
                continue
            fresh.append(record)
        self._commit(info, "kind", self._kinds, fresh, info.kinds)
        for record in info.kinds:
            self._install_kind(record)
            commands = [
                CommandInfo(name, target, summary, *owner.values())
                for name, target, summary in record.kind.commands
            ]
            self._commit(info, "command", self._commands, commands, info.commands)

    def _install_kind(self, record: KindInfo) -> None:
        """Add a kind's registration hook and its (empty) component table."""
        self._kinds[record.name] = record
        self._components[record.name] = {}
        try:
            self.pm.add_hookspecs(record.kind.hookspec())
        except pluggy.PluginValidationError as error:
            # A plugin attached earlier implements the new hook with other arguments.
            culprit = self.plugins.get(self.pm.get_name(error.plugin) or "")
            if culprit is not None:
                self.pm.unregister(error.plugin)
                self._fail(culprit, f"invalid hook implementation: {error}")

    def _register_hooks(self, info: PluginInfo) -> None:
        """Call the plugin's component, operation and command hooks."""
        if info.module is None or not self.pm.is_registered(info.module):
            return
        unknown = [
            caller.name
            for caller in self.pm.get_hookcallers(info.module) or []
            if caller.spec is None
        ]
        if unknown:
            self.pm.unregister(info.module)
            known = ", ".join(sorted(n for n in dir(self.pm.hook) if n.startswith("lamina_")))
            self._fail(info, f"unknown hook(s) {', '.join(unknown)}; lamina's hooks are: {known}")
            return
        owner = {"plugin": info.name, "distribution": info.distribution, "version": info.version}
        for name, record in self._kinds.items():
            registry = KindRegistry(record.kind, **owner)
            staged = self._call_hook(info, record.kind.hook, "registry", registry)
            self._commit(info, name, self._components[name], staged, info.components)
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
    def kinds(self) -> list[Kind]:
        """The kinds of component, lamina's own first, then those plugins added."""
        return [record.kind for record in self._kinds.values()]

    def kind(self, name: str) -> Kind:
        """The kind ``name``; :class:`InputError` lists the kinds there are."""
        try:
            return self._kinds[name].kind
        except KeyError:
            raise InputError(
                f"unknown component kind {name!r}; kinds are: {', '.join(self._kinds)}"
            ) from None

    def components(self, kind: str | None = None) -> list[ComponentInfo]:
        """Registered components, optionally of one ``kind``, sorted by kind and name."""
        kinds = list(self._kinds) if kind is None else [self.kind(kind).name]
        return [c for k in kinds for _, c in sorted(self._components[k].items())]

    def get(self, kind: str, name: str) -> ComponentInfo:
        """The component ``name`` of ``kind``; :class:`ComponentNotFound` suggests close names."""
        try:
            return self._components[self.kind(kind).name][name]
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


def _describe(error: BaseException) -> str:
    if isinstance(error, SystemExit):
        return f"SystemExit({error.code!r}): the plugin tried to end the program"
    return f"{type(error).__name__}: {error}"


def _host_commands() -> dict[str, CommandInfo]:
    from lamina import __version__ as version  # lamina/__init__ has read it already

    own = [(name, target, summary) for name, (target, summary) in HOST_COMMANDS.items()]
    own += [command for kind in builtin_kinds() for command in kind.commands]
    return {
        name: CommandInfo(name, target, summary, "lamina", "lamina", version)
        for name, target, summary in own
    }


def _warn_if_slow(info: PluginInfo) -> None:
    """Name a plugin whose import and registration took longer than
    :data:`SLOW_LOAD_SECONDS`: every command, ``--help`` included, waits for it."""
    if info.load_seconds is None or info.load_seconds <= SLOW_LOAD_SECONDS:
        return
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
