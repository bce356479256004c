"""The ``lamina`` command line: host commands plus whatever plugins add."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

import lamina
from lamina.clitools import error_line, standalone
from lamina.errors import LaminaError

__all__ = ["main"]


class LaminaGroup(click.Group):
    """A click group that turns :class:`LaminaError` into one line on stderr and
    exit status 2 (bad input or usage) or 1 (a failed run); ``--traceback`` shows
    the stack.

    Subcommands come from the host's command table (name, one-line help and
    ``"module:attr"``), so listing them imports no command module: a command's
    module is imported only when that command runs.
    """

    def _table(self) -> dict[str, Any]:
        table: dict[str, Any] = {}
        self._guarded(lambda: table.update((c.name, c) for c in lamina.get_host().commands()))
        return table

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self._table()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        info = self._table().get(cmd_name)
        if info is None:
            return None
        loaded: list[click.Command] = []
        self._guarded(lambda: loaded.append(info.load()))
        return loaded[0]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        table = self._table()
        width = formatter.width - 6 - max(map(len, table), default=0)
        # click shortens a command's help to the width; a bare Command does it for us.
        rows = [
            (name, click.Command(name, help=table[name].summary).get_short_help_str(max(width, 45)))
            for name in sorted(table)
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def _guarded(self, function: Any) -> None:
        try:
            function()
        except LaminaError as error:
            _fail(error, traceback="--traceback" in sys.argv)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LaminaError as error:
            _fail(error, traceback=bool(ctx.params.get("traceback")))
        except MemoryError as error:
            # Sizes are checked before allocating (lamina.memory); this is what those
            # checks could not foresee, so the run failed (exit 1), not its input.
            reason = str(error) or "an allocation failed"
            _fail(
                LaminaError(
                    f"out of memory ({reason}); free memory, use smaller inputs, or set "
                    "LAMINA_MEMORY_LIMIT so that lamina refuses such sizes up front"
                ),
                traceback=bool(ctx.params.get("traceback")),
            )
        except OSError as error:
            # Writes through lamina.io say this themselves; a library's own file (a
            # cache, an encoder's temporary file) on a full disk is a failed run too.
            from lamina.io import failed_run

            failure = failed_run(error)
            if failure is None:
                raise
            meaning, fix = failure
            _fail(
                LaminaError(f"{meaning} ({error}); {fix} and run again"),
                traceback=bool(ctx.params.get("traceback")),
            )

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        # Usage errors as one line, Ctrl-C as exit 130 naming what was kept.
        def run() -> Any:
            return super(LaminaGroup, self).main(
                args, prog_name, complete_var, standalone_mode=False, **extra
            )

        if not standalone_mode:
            return run()
        standalone(run, hard_exit=args is None)  # args given: a test's runner


def _fail(error: LaminaError, *, traceback: bool) -> None:
    if traceback:
        import traceback as tb

        tb.print_exception(error, file=sys.stderr)
    click.echo(f"lamina: error: {error_line(str(error))}", err=True)
    sys.exit(error.exit_code)


@click.group(cls=LaminaGroup)
@click.version_option(lamina.__version__, prog_name="lamina")
@click.option("--traceback", is_flag=True, help="Show the full stack on errors.")
@click.option(
    "-v", "--verbose", is_flag=True, help="Log progress details (e.g. Taichi's start-up) to stderr."
)
def main(traceback: bool, verbose: bool) -> None:
    """lamina: imaging and learning components from plugins."""
    if verbose:
        _log_to_stderr()


def _log_to_stderr() -> None:
    """Show the ``lamina`` log's INFO records on stderr (stdout is for data)."""
    import logging

    logger = logging.getLogger("lamina")
    logger.setLevel(logging.INFO)
    if not any(getattr(h, "lamina_verbose", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.lamina_verbose = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
