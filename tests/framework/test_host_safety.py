"""Issue 16, items 1-3: no plugin can hijack a command, end the host, or stall
it unnoticed. Each plugin is a real installed distribution in a temporary site."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from lamina import Host
from lamina import host as host_module
from lamina.cli import main
from lamina.kinds import builtin_kinds

from . import fake_plugins as fake

_FAKE_MODULES = (
    "good_plugin",
    "exits_on_import",
    "exits_in_hook",
    "sleeps_on_import",
    "takes_resize",
    "takes_resize_cli",
)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    for module in _FAKE_MODULES:  # each test imports its own copy
        monkeypatch.delitem(sys.modules, module, raising=False)
    monkeypatch.delenv("LAMINA_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("LAMINA_STRICT_PLUGINS", raising=False)
    fake.install(tmp_path, "good-dist", "1.2", {"good_plugin": fake.GOOD})
    fake.install(
        tmp_path,
        "rude-dist",
        "0.3",
        {"exits_on_import": fake.EXITS_ON_IMPORT, "exits_in_hook": fake.EXITS_IN_HOOK},
    )
    fake.install(tmp_path, "slow-dist", "0.1", {"sleeps_on_import": fake.SLEEPS_ON_IMPORT})
    fake.install(tmp_path, "hijack-dist", "6.6", {"takes_resize": fake.TAKES_RESIZE})
    (tmp_path / "takes_resize_cli.py").write_text(fake.TAKES_RESIZE_CLI)
    return tmp_path


def _host_with_builtins(site: Path) -> Host:
    """Every installed plugin: the built-ins (``resize`` among them) and, since
    ``site`` is on ``sys.path``, the fakes, found as any distribution is."""
    assert str(site) in sys.path
    return Host()


@pytest.fixture
def cli_host(site: Path, monkeypatch: pytest.MonkeyPatch) -> Host:
    host = _host_with_builtins(site)
    monkeypatch.setattr(host_module, "_host", host)
    return host


def test_system_exit_on_import_or_in_a_hook_is_recorded(site: Path) -> None:
    host = Host(entry_points=fake.entry_points(site))
    on_import = host.plugins["exits-on-import"]
    assert on_import.status == "failed" and "SystemExit(3)" in on_import.error
    in_hook = host.plugins["exits-in-hook"]
    assert in_hook.status == "failed"
    assert "lamina_register_interpolators" in in_hook.error and "SystemExit" in in_hook.error
    assert host.get("interpolator", "doubler").distribution == "good-dist"


@pytest.mark.parametrize("exception", ["SystemExit(0)", "GeneratorExit()", "BaseException('x')"])
def test_every_base_exception_is_isolated(exception: str, tmp_path: Path) -> None:
    fake.install(tmp_path, "odd-dist", "1", {"odd": f"raise {exception}\n"})
    record = Host(entry_points=fake.entry_points(tmp_path)).plugins["odd"]
    assert record.status == "failed" and "import failed" in record.error


def test_keyboard_interrupt_still_stops(tmp_path: Path) -> None:
    # In a child process: pytest treats a KeyboardInterrupt as the end of the session.
    fake.install(tmp_path, "ctrl-c-dist", "1", {"ctrl_c": fake.INTERRUPTS_ON_IMPORT})
    code = (
        "import sys; from lamina import Host; from tests.framework import fake_plugins as f\n"
        "try:\n    Host(entry_points=f.entry_points(__import__('pathlib').Path(sys.argv[1])))\n"
        "except KeyboardInterrupt:\n    print('STOPPED')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parents[2],
    )
    assert done.stdout == "STOPPED\n", done.stderr[-2000:]


def test_help_survives_a_plugin_that_exits(cli_host: Host) -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    assert "resize" in result.stdout and "shout" in result.stdout


def test_slow_plugin_is_timed_and_named_in_a_warning(
    site: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(host_module, "SLOW_LOAD_SECONDS", 0.1)
    with caplog.at_level(logging.WARNING, logger="lamina"):
        host = Host(entry_points=fake.entry_points(site))
    slow = host.plugins["sleeps-on-import"]
    assert slow.load_seconds is not None and slow.load_seconds >= 0.2
    assert all(p.load_seconds is not None for p in host.plugins.values())
    warned = [r.getMessage() for r in caplog.records if "sleeps-on-import" in r.getMessage()]
    assert len(warned) == 1
    assert "slow-dist 0.1" in warned[0] and "LAMINA_DISABLE_PLUGINS=sleeps-on-import" in warned[0]
    assert not [r for r in caplog.records if "good-plugin" in r.getMessage()]


def test_command_clash_keeps_the_builtin_and_names_both_distributions(site: Path) -> None:
    host = _host_with_builtins(site)
    # resize is the interpolator kind's generic command: the host's own.
    assert host.command("resize").distribution == "lamina"
    assert host.command("resize").plugin == "lamina"
    record = host.plugins["takes-resize"]
    assert record.status == "failed"
    assert "command 'resize'" in record.error
    assert "lamina" in record.error and "hijack-dist 6.6" in record.error
    # The plugin's other command is still served.
    assert [c.name for c in record.commands] == ["shout"]


_KIND_COMMANDS = {name: target for kind in builtin_kinds() for name, target, _ in kind.commands}


@pytest.mark.parametrize("name", sorted({**host_module.HOST_COMMANDS, **_KIND_COMMANDS}))
def test_no_plugin_takes_a_host_command(name: str, tmp_path: Path) -> None:
    source = f"from lamina import hookimpl\n@hookimpl\ndef lamina_register_commands(cli):\n    cli.add({name!r}, 'm:c')\n"
    fake.install(tmp_path, "greedy-dist", "1", {"greedy": source})
    host = Host(entry_points=fake.entry_points(tmp_path))
    own = host_module.HOST_COMMANDS[name][0] if name in host_module.HOST_COMMANDS else None
    assert host.command(name).target == (own or _KIND_COMMANDS[name])
    assert "greedy-dist 1" in host.plugins["greedy"].error


def test_cli_runs_the_builtin_resize_and_the_plugins_own_command(cli_host: Host) -> None:
    runner = CliRunner()
    resize = runner.invoke(main, ["resize", "--help"])
    assert resize.exit_code == 0 and "hijacked" not in resize.output
    assert "--interpolator" in resize.output
    shout = runner.invoke(main, ["shout"])
    assert (shout.exit_code, shout.stdout) == (0, "HELLO\n")


def test_plugins_lists_clashes_timings_and_commands(cli_host: Host) -> None:
    result = CliRunner().invoke(main, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    records = {r["name"]: r for r in json.loads(result.stdout)}
    assert records["takes-resize"]["status"] == "failed"
    assert "hijack-dist" in records["takes-resize"]["error"]
    assert records["takes-resize"]["commands"] == ["shout"]
    assert "resize" not in records["interpolate"]["commands"]  # the interpolator kind's
    assert records["sleeps-on-import"]["load_seconds"] >= 0.2
    table = CliRunner().invoke(main, ["plugins"])
    assert table.exit_code == 0 and "cmd:shout" in table.stdout


def test_a_broken_command_module_is_one_line(cli_host: Host, site: Path) -> None:
    (site / "takes_resize_cli.py").write_text("raise SystemExit('no')\n")
    result = CliRunner().invoke(main, ["shout"])
    assert result.exit_code == 1
    assert result.stderr.strip().startswith("lamina: error: command 'shout' from plugin")
