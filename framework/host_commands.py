"""The host's own subcommands: plugins, components, describe, check."""

from __future__ import annotations

from pathlib import Path

import click

import lamina
from lamina.clitools import emit_json, json_option, print_table, stdout_console
from lamina.scaffold import template_kinds, write_plugin

__all__ = ["check", "components", "describe", "new_plugin", "plugins"]


class KindChoice(click.Choice):
    """A kind of component: the host's kinds, read when the command line is parsed
    (a plugin may add kinds), optionally only those ``lamina new-plugin`` can write."""

    def __init__(self, *, with_template: bool = False) -> None:
        # Not click.Choice.__init__: it stores fixed choices, and these are the host's.
        self.case_sensitive = True
        self.with_template = with_template

    @property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]
        if self.with_template:
            return tuple(template_kinds())
        return tuple(kind.name for kind in lamina.get_host().kinds())


_STATUS_STYLE = {"loaded": "green", "failed": "red", "disabled": "yellow", "unavailable": "yellow"}


@click.command()
@json_option
def plugins(as_json: bool) -> None:
    """List every plugin: distribution, version, status, load time, error and what it adds."""
    records = list(lamina.get_host().plugins.values())
    if as_json:
        emit_json([p.as_dict() for p in records])
        return
    print_table(
        "lamina plugins",
        ["plugin", "distribution", "version", "status", "load s", "adds", "error"],
        (
            (
                p.name,
                p.distribution,
                p.version,
                f"[{_STATUS_STYLE[p.status]}]{p.status}[/]",
                "" if p.load_seconds is None else f"{p.load_seconds:.3f}",
                ", ".join(
                    [f"kind:{k.name}" for k in p.kinds]
                    + [c.name for c in p.components]
                    + [f"op:{o.name}" for o in p.operations]
                    + [f"cmd:{c.name}" for c in p.commands]
                ),
                p.error,
            )
            for p in records
        ),
    )


@click.command()
@click.argument("kind", required=False, type=KindChoice())
@json_option
def components(kind: str | None, as_json: bool) -> None:
    """List registered components, optionally of one KIND."""
    found = lamina.components(kind)
    if as_json:
        emit_json([c.as_dict() for c in found])
        return
    print_table(
        "lamina components",
        ["kind", "name", "plugin", "summary"],
        (
            (
                c.kind,
                c.name,
                c.plugin,
                c.summary if c.available else f"unavailable: {c.install_hint}",
            )
            for c in found
        ),
    )


@click.command()
@click.argument("kind", type=KindChoice())
@click.argument("name")
@json_option
def describe(kind: str, name: str, as_json: bool) -> None:
    """Show one component: summary, parameters with types and defaults, tags."""
    info = lamina.get_host().get(kind, name)
    if as_json:
        emit_json(info.as_dict(with_parameters=True))
        return
    stdout_console.print(f"[bold]{kind} {name}[/] — {info.summary}")
    stdout_console.print(f"plugin {info.plugin} ({info.distribution} {info.version})")
    if not info.available:
        stdout_console.print(f"[yellow]unavailable[/]: {info.install_hint}")
        return
    print_table(
        "parameters",
        ["name", "type", "default"],
        (
            (p.name, p.type_name, "(required)" if p.required else repr(p.default))
            for p in info.parameters
        ),
    )
    tags = ", ".join(f"{k}={v}" for k, v in info.tags.as_dict().items())
    stdout_console.print(f"tags: {tags}")


@click.command()
@click.argument("plugin_names", nargs=-1, metavar="[PLUGIN]...")
@json_option
def check(plugin_names: tuple[str, ...], as_json: bool) -> None:
    """Run the conformance suite on PLUGINs (default: every plugin); exit 1 on a failure."""
    from lamina.progress import track
    from lamina.testing import check_plugin

    host = lamina.get_host()
    names = plugin_names or tuple(
        name for name, record in host.plugins.items() if record.status != "disabled"
    )
    results = [
        r for name in track(names, description="checking plugins") for r in check_plugin(name)
    ]
    failed = [r for r in results if r.status == "failed"]
    if as_json:
        emit_json({"passed": not failed, "results": [r.as_dict() for r in results]})
    else:
        style = {"passed": "green", "failed": "red", "skipped": "yellow", "xfail": "yellow"}
        print_table(
            "lamina check",
            ["kind", "component", "check", "status", "message"],
            (
                (r.kind, r.component, r.check, f"[{style[r.status]}]{r.status}[/]", r.message)
                for r in results
            ),
        )
        counts = {s: sum(r.status == s for r in results) for s in style}
        stdout_console.print(", ".join(f"{n} {s}" for s, n in counts.items() if n))
    if failed:
        raise SystemExit(1)


@click.command("new-plugin")
@click.argument("name")
@click.option(
    "--kind",
    required=True,
    type=KindChoice(with_template=True),
    help="The kind of component the plugin starts with.",
)
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(),
    show_default="the current folder",
    help="Folder to write the package lamina-NAME into.",
)
def new_plugin(name: str, kind: str, output: Path) -> None:
    """Write a plugin package NAME with one component of KIND, ready to install and check.

    \b
    Example:
      lamina new-plugin sharp-resize --kind interpolator
      pip install -e lamina-sharp-resize && lamina check sharp-resize
    """
    folder = write_plugin(name, kind=kind, output=output)
    click.echo(str(folder))
    click.echo(f"next: pip install -e {folder} && lamina check {name}", err=True)
