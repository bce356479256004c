"""The plugin host: loads the ``lamina`` entry points, isolates failures, and
keeps the registry of components by kind and name."""

from __future__ import annotations

import importlib.metadata as metadata
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from lamina import hookspecs
from lamina.errors import ComponentNotFound, InputError, PluginError
from lamina.params import validate_parameters
from lamina.registry import ComponentInfo, KindRegistry, OperationInfo, OperationRegistry
from lamina.types import KINDS

__all__ = ["ENTRY_POINT_GROUP", "Host", "PluginInfo", "components", "create", "get_host"]

ENTRY_POINT_GROUP = "lamina"
_IN_PROCESS = "<in-process>"


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
            "components": [{"kind": c.kind, "name": c.name} for c in self.components],
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
        self.disabled = (
            set(disabled) if disabled is not None else _env_list("LAMINA_DISABLE_PLUGINS")
        )
        self.strict = _env_flag("LAMINA_STRICT_PLUGINS") if strict is None else strict
        if entry_points is None:
            entry_points = metadata.entry_points(group=ENTRY_POINT_GROUP)
        # Built-ins first, then by name: the first registration of a name wins,
        # so the outcome of a clash never depends on installation order.
        ordered = sorted(
            entry_points,
            key=lambda ep: (_distribution(ep)[0] != "lamina", ep.name),
        )
        for entry_point in ordered:
            self._load_entry_point(entry_point)
        self.raise_if_strict()

    # -- loading -----------------------------------------------------------
    def _load_entry_point(self, entry_point: metadata.EntryPoint) -> None:
        distribution, version = _distribution(entry_point)
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
        try:
            module = entry_point.load()
        except Exception as error:
            self._fail(info, f"import failed: {type(error).__name__}: {error}")
            return
        self._register_module(info, module)

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
        except pluggy.PluginValidationError as error:
            self._fail(info, f"invalid hook implementation: {error}")
            return
        except Exception as error:
            self._fail(info, f"registration failed: {type(error).__name__}: {error}")
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
        for kind, hook_name in hookspecs.KIND_HOOKS.items():
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                if impl.plugin is module:
                    self._call_kind_hook(info, kind, hook_name, impl.function)
        for impl in self.pm.hook.lamina_register_operations.get_hookimpls():
            if impl.plugin is module:
                self._call_operations_hook(info, impl.function)
        requires_missing = info.components and all(not c.available for c in info.components)
        if info.status == "loaded" and requires_missing:
            info.status = "unavailable"
            info.errors.append(info.components[0].install_hint)

    def _call_kind_hook(self, info: PluginInfo, kind: str, hook_name: str, function: Any) -> None:
        registry = KindRegistry(
            kind, plugin=info.name, distribution=info.distribution, version=info.version
        )
        try:
            function(registry=registry)
        except Exception as error:
            self._fail(info, f"hook {hook_name} raised {type(error).__name__}: {error}")
            return
        for component in registry.staged:
            existing = self._components[kind].get(component.name)
            if existing is not None:
                self._fail(
                    info,
                    f"{kind} {component.name!r} is already provided by plugin "
                    f"{existing.plugin!r} ({existing.distribution} {existing.version}); "
                    f"this one from {info.distribution} {info.version} is ignored",
                )
                continue
            self._components[kind][component.name] = component
            info.components.append(component)

    def _call_operations_hook(self, info: PluginInfo, function: Any) -> None:
        registry = OperationRegistry(
            plugin=info.name, distribution=info.distribution, version=info.version
        )
        try:
            function(registry=registry)
        except Exception as error:
            self._fail(
                info, f"hook lamina_register_operations raised {type(error).__name__}: {error}"
            )
            return
        for operation in registry.staged:
            existing = self._operations.get(operation.name)
            if existing is not None:
                self._fail(
                    info,
                    f"operation {operation.name!r} is already provided by plugin "
                    f"{existing.plugin!r} ({existing.distribution} {existing.version}); "
                    f"this one from {info.distribution} {info.version} is ignored",
                )
                continue
            self._operations[operation.name] = operation
            info.operations.append(operation)

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

    # -- facade over the hooks ---------------------------------------------
    def add_commands(self, cli: Any) -> None:
        """Let every loaded plugin add its subcommands to ``cli`` (failures recorded)."""
        for impl in self.pm.hook.lamina_register_commands.get_hookimpls():
            info = next(p for p in self.plugins.values() if p.module is impl.plugin)
            try:
                impl.function(cli=cli)
            except Exception as error:
                self._fail(
                    info, f"hook lamina_register_commands raised {type(error).__name__}: {error}"
                )

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
