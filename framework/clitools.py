"""Helpers for plugin commands: shared options, ``--set`` parsing, JSON and tables."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from lamina.errors import InputError
from lamina.io import dumps_json
from lamina.limits import MAX_IMAGE_SIDE

__all__ = [
    "OutputFile",
    "check_output_file",
    "check_output_folder",
    "count_option_type",
    "emit_json",
    "json_option",
    "parse_settings",
    "parse_size",
    "print_table",
    "set_option",
    "stdout_console",
]

F = TypeVar("F", bound=Callable[..., Any])

# Tables go to stdout as data: never truncate them to a pipe's default 80 columns.
stdout_console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)


def json_option(function: F) -> F:
    """``--json``: print one JSON document on stdout instead of a table."""
    return click.option(
        "--json", "as_json", is_flag=True, help="Print one JSON document on stdout."
    )(function)


def set_option(function: F) -> F:
    """``--set KEY=VALUE`` (repeatable): component parameters, typed by the component."""
    return click.option(
        "--set",
        "settings",
        multiple=True,
        metavar="KEY=VALUE",
        help="Set a component parameter (repeatable); `lamina describe` lists them.",
    )(function)


def parse_settings(settings: Iterable[str]) -> dict[str, str]:
    """``["k=v", ...]`` -> ``{"k": "v"}``; values stay strings and are typed by
    :func:`lamina.create` against the component's signature."""
    result = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set expects KEY=VALUE, got {item!r}")
        result[key.strip()] = value.strip()
    return result


def parse_size(text: str) -> tuple[int, int]:
    """``"WxH"`` -> ``(height, width)``, each side in 1..:data:`lamina.limits.MAX_IMAGE_SIDE`.

    >>> parse_size("640x480")
    (480, 640)
    """
    width, sep, height = text.lower().partition("x")
    try:
        w, h = int(width), int(height)
    except ValueError:
        raise InputError(f"size {text!r} must look like WIDTHxHEIGHT, e.g. 640x480") from None
    if not sep or not (0 < w <= MAX_IMAGE_SIDE and 0 < h <= MAX_IMAGE_SIDE):
        raise InputError(
            f"size {text!r} must be WIDTHxHEIGHT with each side in 1..{MAX_IMAGE_SIDE} "
            "(lamina.limits.MAX_IMAGE_SIDE)"
        )
    return h, w


def check_output_file(path: str | Path, *, name: str = "output") -> Path:
    """Refuse an output file whose folder is missing; lamina never creates
    folders the user did not name (as ``cp`` and ``curl -o`` do not).

    >>> check_output_file("/nonexistent_dir/x.png")
    Traceback (most recent call last):
    ...
    lamina.errors.InputError: output '/nonexistent_dir/x.png': folder '/nonexistent_dir' does not exist; create it first
    """
    target = Path(path)
    folder = target.parent
    if not folder.is_dir():
        problem = "is not a folder" if folder.exists() else "does not exist; create it first"
        raise InputError(f"{name} {str(target)!r}: folder {str(folder)!r} {problem}")
    if target.is_dir():
        raise InputError(f"{name} {str(target)!r} is a folder; name a file")
    return target


def check_output_folder(path: str | Path, *, name: str = "output folder") -> Path:
    """Refuse an output folder that is a file or whose parent is missing; the
    folder itself is created when written to (only that one level)."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise InputError(f"{name} {str(target)!r} is a file; name a folder")
    if not target.exists():
        check_output_file(target, name=name)
    return target


class OutputFile(click.ParamType):
    """A click type for output file options: :func:`check_output_file` at parse time."""

    name = "file"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        option = param.opts[-1] if param is not None and param.opts else "output"
        return check_output_file(value, name=option)


def count_option_type(minimum: int = 1) -> click.IntRange:
    """An integer option of at least ``minimum``: 0 is refused, never read as "default".

    >>> count_option_type(2).convert("3", None, None)
    3
    """
    return click.IntRange(min=minimum)


def emit_json(data: Any) -> None:
    """Print ``data`` as one JSON document on stdout."""
    click.echo(dumps_json(data))


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Print a rich table on stdout."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(_cell(value) for value in row))
    stdout_console.print(table)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)
