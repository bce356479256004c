"""TOML files with line numbers for error messages (``tomllib`` reports none): the one
locator of lamina's TOML files (pipelines, scene files)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from lamina.errors import ConfigError

__all__ = ["TomlFile"]

_HEADER = re.compile(r"^\s*\[(\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r'^\s*("[^"]+"|[\w.-]+)\s*=')
_INNER_KEY = re.compile(r"([\w-]+)\s*=")


class TomlFile:
    """A parsed TOML text that can say on which line a table or key was written.

    ``line("steps.moved.sweep.dy")`` finds the key ``dy`` of table
    ``[steps.moved.sweep]``, a key inside an inline table (``with = { a = 1 }``)
    or, failing those, the nearest enclosing table or key. ``occurrence`` picks
    the n-th ``[[array]]`` table.

    Examples
    --------
    >>> toml = TomlFile('[image]\\nwidth = 3\\n[[mesh]]\\npath = "a"\\n[[mesh]]\\npath = "b"\\n')
    >>> toml.data["mesh"][1]["path"], toml.line("mesh.path", occurrence=1)
    ('b', 6)
    """

    def __init__(
        self,
        text: str,
        *,
        file: str | Path | None = None,
        error_type: type[ConfigError] = ConfigError,
    ) -> None:
        self.file = str(file) if file is not None else None
        #: What :meth:`error` (and a parse error) raises: ConfigError or a subclass.
        self.error_type = error_type
        try:
            self.data: dict[str, Any] = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            found = re.search(r"line (\d+)", str(error))
            line = int(found[1]) if found else None
            if line is None and "end of document" in str(error):
                line = max(len(text.splitlines()), 1)  # e.g. a list never closed
            raise error_type(f"malformed TOML: {error}", file=self.file, line=line) from None
        self._tables: dict[tuple[str, int], int] = {("", 0): 1}
        self._keys: dict[tuple[str, int, str], int] = {}
        counts: dict[str, int] = {}
        table = ("", 0)
        for number, raw in enumerate(text.splitlines(), start=1):
            header = _HEADER.match(raw)
            if header:
                name = header[2].replace('"', "").replace(" ", "")
                occurrence = counts.get(name, 0)
                counts[name] = occurrence + 1
                table = (name, occurrence)
                self._tables.setdefault(table, number)
                continue
            key = _KEY.match(raw)
            if key:
                name = key[1].strip('"')
                self._keys.setdefault((*table, name), number)
                for inner in _INNER_KEY.finditer(raw.split("#", 1)[0][key.end() :]):
                    self._keys.setdefault((*table, f"{name}.{inner[1]}"), number)

    @classmethod
    def read(
        cls,
        path: str | Path,
        *,
        what: str = "file",
        error_type: type[ConfigError] = ConfigError,
    ) -> TomlFile:
        """Read and parse ``path``; ``error_type`` when it cannot be read or parsed."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or error
            raise error_type(f"cannot read {what}: {reason}", file=str(path)) from None
        return cls(text, file=path, error_type=error_type)

    def line(self, path: str, *, occurrence: int = 0) -> int | None:
        """The line of dotted ``path`` (a table, a key, or the nearest enclosing one)."""
        parts = path.split(".") if path else []
        for split in range(len(parts), -1, -1):
            table = ".".join(parts[:split])
            if (table, occurrence) not in self._tables and table:
                continue
            rest = parts[split:]
            while rest:
                found = self._keys.get((table, occurrence, ".".join(rest)))
                if found is not None:
                    return found
                rest = rest[:-1]
            if (table, occurrence) in self._tables:
                return self._tables[(table, occurrence)]
        return None

    def error(
        self, message: str, key: str, *, occurrence: int = 0, name: str | None = None
    ) -> ConfigError:
        """An :attr:`error_type` naming this file, the line of ``key`` and ``name`` (or ``key``)."""
        return self.error_type(
            message, file=self.file, line=self.line(key, occurrence=occurrence), key=name or key
        )
