"""Helpers for commands: shared options, ``--set`` parsing, sizes, output paths, JSON
and tables, and how the ``lamina`` root exits (one-line errors, Ctrl-C)."""

from __future__ import annotations

import contextlib
import functools
import math
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from lamina.errors import InputError
from lamina.journal import discard_partial_writes, writes_mark, writes_since
from lamina.limits import LIMITS, MAX_IMAGE_SIDE
from lamina.startup import end_startup_guard

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "ERROR_LINE_LIMIT",
    "STOP_GRACE",
    "Terminated",
    "check_output_file",
    "check_output_folder",
    "emit_json",
    "error_line",
    "finite_float",
    "json_option",
    "limited",
    "parse_settings",
    "parse_size",
    "print_table",
    "set_option",
    "standalone",
    "stdout_console",
]

F = TypeVar("F", bound=Callable[..., Any])


#: rich's console for tables on stdout; made on first use by ``__getattr__``.
stdout_console: Console


@functools.cache
def _stdout_console() -> Console:
    from rich.console import Console

    # Tables go to stdout as data: never truncate them to a pipe's default 80 columns.
    return Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)


def __getattr__(name: str) -> Any:
    # ``stdout_console`` is made on first use: rich is not imported at every start-up.
    if name == "stdout_console":
        return _stdout_console()
    raise AttributeError(f"module 'lamina.clitools' has no attribute {name!r}")


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


class _NamesLimit:
    """Mixed into a click range whose maximum is a :mod:`lamina.limits` entry, so that
    a value out of range is refused naming the entry."""

    limit: str
    base: click.ParamType

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return super().convert(value, param, ctx)  # type: ignore[misc]
        except click.BadParameter as error:
            number = self.base.convert(value, param, ctx)  # not a number: click's message
            if not math.isfinite(number) or number <= LIMITS[self.limit].value:
                raise
            raise click.BadParameter(
                f"{error.message.rstrip('.')} (lamina.limits.{self.limit}).", ctx=ctx, param=param
            ) from None


class _FiniteFloat(click.FloatRange):
    """A click float range that refuses NaN and infinity first: click's ranges let
    NaN through (every comparison with it is false), and an open top lets in ``inf``.
    Without bounds it is a plain ``FLOAT`` in help texts (no ``[x<=None]``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.min is None and self.max is None:
            self.name = "float"

    def _describe_range(self) -> str:
        if self.min is None and self.max is None:
            return ""
        return super()._describe_range()

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return super().convert(number, param, ctx)


class _LimitedInt(_NamesLimit, click.IntRange):
    base = click.INT


class _LimitedFloat(_NamesLimit, _FiniteFloat):
    base = click.FLOAT


def finite_float(
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> click.FloatRange:
    """A click type for a float option: a finite number in ``low``..``high`` (either
    bound optional, open or closed); NaN and infinity are refused naming the option.
    Every float option of lamina's commands uses it (or :func:`limited`).

    >>> finite_float(0, low_open=True).convert("nan", None, None)
    Traceback (most recent call last):
    ...
    click.exceptions.BadParameter: 'nan' is not a finite number
    """
    return _FiniteFloat(low, high, min_open=low_open, max_open=high_open)


def limited(limit: str, *, low: float = 1, low_open: bool = False, floats: bool = False) -> Any:
    """A click type for an option bounded by ``lamina.limits.<limit>``: ``low``..the limit,
    integers (or ``floats``); a refusal names the limit.

    >>> limited("MAX_WORKERS").max
    64
    """
    if limit not in LIMITS:
        raise KeyError(f"no limit {limit!r} in lamina.limits")
    top = LIMITS[limit].value
    result: _LimitedInt | _LimitedFloat = (
        _LimitedFloat(low, top, min_open=low_open)
        if floats
        else _LimitedInt(int(low), int(top), min_open=low_open)
    )
    result.limit = limit
    return result


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


def emit_json(data: Any) -> None:
    """Print ``data`` as one JSON document on stdout."""
    from lamina.io import dumps_json  # numpy-aware; imported by the commands that print JSON

    click.echo(dumps_json(data))


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Print a rich table on stdout."""
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(_cell(value) for value in row))
    _stdout_console().print(table)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


#: Longest error line printed on stderr; ``--traceback`` still shows the whole message.
ERROR_LINE_LIMIT = 800


def error_line(message: str, *, limit: int = ERROR_LINE_LIMIT) -> str:
    """A message as one line of at most about ``limit`` characters: line breaks
    become "; " and the middle of an overlong message is left out, with its length.

    >>> error_line("first\\nsecond")
    'first; second'
    >>> len(error_line("x" * 50_000)) < 900
    True
    """
    text = "; ".join(line.strip() for line in message.splitlines() if line.strip())
    if len(text) <= limit:
        return text
    head, tail = text[: limit * 3 // 4], text[-(limit // 4) :]
    return f"{head} ... [{len(text) - len(head) - len(tail)} characters left out] ... {tail}"


class Terminated(KeyboardInterrupt):
    """SIGTERM under :func:`standalone`: unwinds as Ctrl-C does, so a command keeps
    what finished, and tells it apart (exit status 143, not 130)."""


def standalone(invoke: Callable[[], Any], *, hard_exit: bool = False) -> NoReturn:
    """Run ``invoke`` (a click ``main(standalone_mode=False)``) and exit the lamina way.

    Usage errors are one line on stderr (exit 2, with where to find help);
    Ctrl-C exits 130 and SIGTERM 143, each naming what was finished and kept
    (files written atomically are complete; the one being written is
    discarded), within :data:`STOP_GRACE` seconds even when the work is
    inside a call Python cannot interrupt. With ``hard_exit`` (the real
    command line, not a test's runner) an interrupted process then ends at
    once, without waiting for worker threads' tasks or interpreter teardown.
    """
    mark = writes_mark()
    terminated: list[int] = []

    def on_sigterm(signum: int, frame: Any) -> None:
        terminated.append(signum)
        raise Terminated

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, on_sigterm) if in_main else None
    try:
        end_startup_guard()  # from here Ctrl-C is a KeyboardInterrupt, handled below
        # The wakeup pipe and non-blocking fds it needs are POSIX's.
        watch = in_main and os.name == "posix"
        with _stop_promptly(mark) if watch else contextlib.nullcontext():
            result = invoke()
    except (click.exceptions.Abort, KeyboardInterrupt):
        word, status = _STOPS[signal.SIGTERM if terminated else signal.SIGINT]
        click.echo(
            f"lamina: {word}; {_kept(mark)}; any file still being written was discarded",
            err=True,
        )
        _exit(status, hard=hard_exit)
    except click.ClickException as error:
        message = error.format_message()
        context = getattr(error, "ctx", None)
        if context is not None:
            message += f" (see '{context.command_path} --help')"
        click.echo(f"lamina: error: {error_line(message)}", err=True)
        sys.exit(error.exit_code)
    except SystemExit as stop:  # a command's own "interrupted" error (lamina run)
        if isinstance(stop.code, int) and stop.code in (130, 143):
            _exit(stop.code, hard=hard_exit)
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    sys.exit(result if isinstance(result, int) else 0)


def _exit(status: int, *, hard: bool) -> NoReturn:
    """Exit; ``hard`` skips joining worker threads (a pool's unfinished tasks)
    and interpreter teardown, which can take seconds after an interrupt."""
    if hard:
        discard_partial_writes()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)


#: Seconds a command has, after Ctrl-C or SIGTERM, to stop by itself before it is ended.
STOP_GRACE = 1.0

_STOPS = {signal.SIGINT: ("interrupted", 130), signal.SIGTERM: ("terminated", 143)}


@contextlib.contextmanager
def _stop_promptly(mark: int) -> Iterator[None]:
    """End the process :data:`STOP_GRACE` seconds after Ctrl-C or SIGTERM if it has
    not stopped by then: Python runs signal handlers only between bytecodes, so a
    long kernel, BLAS or C loop would otherwise keep it going. A thread hears the
    signal at once through :func:`signal.set_wakeup_fd`."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    previous = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    finished = threading.Event()

    def watch() -> None:
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            while byte := pipe.read(1):
                if byte[0] in _STOPS and not finished.wait(STOP_GRACE):
                    word, status = _STOPS[signal.Signals(byte[0])]
                    discard_partial_writes()
                    os.write(
                        2,
                        f"lamina: {word}; {_kept(mark)}; the work in progress did not stop "
                        f"within {STOP_GRACE:g} s and was abandoned, its partial files "
                        "removed\n".encode(),
                    )
                    os._exit(status)

    watcher = threading.Thread(target=watch, name="lamina-stop", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        finished.set()
        signal.set_wakeup_fd(previous)
        os.close(write_end)


def _kept(mark: int) -> str:
    count, latest = writes_since(mark)
    if count == 0:
        return "no file was written"
    names = ", ".join(str(path) for path in latest)
    more = f" (the last {len(latest)}: {names})" if count > len(latest) else f": {names}"
    return f"{count} file{'s' if count != 1 else ''} finished and kept{more}"
