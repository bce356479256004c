"""The exceptions lamina raises; every one derives from :class:`LaminaError`."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "ComponentNotFound",
    "ConfigError",
    "InputError",
    "LaminaError",
    "PluginError",
    "shorten_list",
]


def shorten_list(items: Iterable[object], *, limit: int = 8) -> str:
    """Items for an error message: at most ``limit`` of them, then how many more.

    A message lists what was expected; ten thousand column names would bury it.

    >>> shorten_list(["a", "b"])
    'a, b'
    >>> shorten_list([f"c{i}" for i in range(10_000)], limit=3)
    'c0, c1, c2 and 9,997 more'
    """
    values = [str(item) for item in items]
    shown = ", ".join(values[:limit])
    return shown + (f" and {len(values) - limit:,} more" if len(values) > limit else "")


class LaminaError(Exception):
    """Base class of every error lamina raises on purpose."""

    #: Exit status of the command line when this error ends a command.
    exit_code = 1


class InputError(LaminaError, ValueError):
    """Bad data or parameters: names the argument, what was expected and what came."""

    exit_code = 2


class PluginError(LaminaError):
    """A plugin failed to load or register; names the plugin and its distribution."""


class ComponentNotFound(LaminaError, LookupError):
    """No component of that kind and name is registered."""

    exit_code = 2

    def __init__(self, kind: str, name: str, available: Iterable[str]) -> None:
        available = sorted(available)
        close = difflib.get_close_matches(name, available, n=3, cutoff=0.5)
        message = f"no {kind} named {name!r}"
        if close:
            message += f"; did you mean {', '.join(map(repr, close))}?"
        elif available:
            message += f"; available: {', '.join(available)}"
        else:
            message += f"; no {kind} is registered"
        super().__init__(message)
        self.kind = kind
        self.name = name
        self.suggestions = close


class ConfigError(LaminaError):
    """A pipeline, scene or settings file is wrong; names the file, line or key."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        where = ""
        if file is not None:
            where = str(file)
            if line is not None:
                where += f":{line}"
        if key is not None:
            where += f" [{key}]" if where else f"[{key}]"
        super().__init__(f"{where}: {message}" if where else message)
        self.file = file
        self.line = line
        self.key = key
