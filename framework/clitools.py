"""Helpers for plugin commands: shared options, ``--set`` parsing, JSON and tables."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from lamina.errors import InputError
from lamina.io import dumps_json

__all__ = [
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
    """``"WxH"`` -> ``(height, width)``, both positive and at most 32768."""
    width, sep, height = text.lower().partition("x")
    try:
        w, h = int(width), int(height)
    except ValueError:
        raise InputError(f"size {text!r} must look like WIDTHxHEIGHT, e.g. 640x480") from None
    if not sep or not (0 < w <= 32768 and 0 < h <= 32768):
        raise InputError(f"size {text!r} must be WIDTHxHEIGHT with each side in 1..32768")
    return h, w


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
