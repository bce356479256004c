"""The ``lamina`` command line: host commands plus whatever plugins add."""

from __future__ import annotations

import sys
from typing import Any

import click

import lamina
from lamina.errors import LaminaError

__all__ = ["main"]


class LaminaGroup(click.Group):
    """A click group that turns :class:`LaminaError` into one line on stderr and
    exit status 2 (bad input or usage) or 1 (a failed run); ``--traceback`` shows
    the stack. Plugin commands are added on first use."""

    _plugins_added = False

    def _add_plugin_commands(self, ctx: click.Context | None = None) -> None:
        if not self._plugins_added:
            self._plugins_added = True
            lamina.get_host().add_commands(self)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._guarded(self._add_plugin_commands)
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            self._guarded(self._add_plugin_commands)
        return super().get_command(ctx, cmd_name)

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


def _fail(error: LaminaError, *, traceback: bool) -> None:
    if traceback:
        import traceback as tb

        tb.print_exception(error, file=sys.stderr)
    click.echo(f"lamina: error: {error}", err=True)
    sys.exit(error.exit_code)


@click.group(cls=LaminaGroup)
@click.version_option(lamina.__version__, prog_name="lamina")
@click.option("--traceback", is_flag=True, help="Show the full stack on errors.")
def main(traceback: bool) -> None:
    """lamina: imaging and learning components from plugins."""


def _register_host_commands() -> None:
    from lamina import host_commands, learn_commands
    from lamina.pipeline import cli as pipeline_cli

    commands = [*host_commands.COMMANDS, learn_commands.learn, learn_commands.datasets]
    for command in [*commands, pipeline_cli.run, pipeline_cli.demo]:
        main.add_command(command)


_register_host_commands()
