"""The host's command line: listings, JSON, exit codes, and a light start-up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import lamina
from lamina import host as host_module
from lamina.cli import main

from .broken_components import BrokenPlugin


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0 and lamina.__version__ in result.output


def test_plugins_json_shape(runner: CliRunner) -> None:
    result = runner.invoke(main, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert isinstance(records, list) and records
    for record in records:
        assert set(record) == {
            "name",
            "distribution",
            "version",
            "status",
            "error",
            "load_seconds",
            "components",
            "operations",
            "commands",
            "kinds",
        }
        assert record["status"] in {"loaded", "failed", "disabled", "unavailable"}
        for component in record["components"]:
            assert set(component) == {"kind", "name"}
    names = {r["name"] for r in records}
    assert {"oit", "interpolate", "subpixel", "bayes", "cn2"} <= names


def test_components_json_lists_registered(runner: CliRunner) -> None:
    result = runner.invoke(main, ["components", "interpolator", "--json"])
    assert result.exit_code == 0, result.output
    listed = {c["name"] for c in json.loads(result.stdout)}
    assert listed == {c.name for c in lamina.components("interpolator")}


def test_describe_shows_parameters(runner: CliRunner) -> None:
    info = lamina.components()[0]
    result = runner.invoke(main, ["describe", info.kind, info.name, "--json"])
    assert result.exit_code == 0, result.output
    described = json.loads(result.stdout)
    if info.available:
        assert [p["name"] for p in described["parameters"]] == [p.name for p in info.parameters]


def test_unknown_component_exits_2_with_one_line(runner: CliRunner) -> None:
    kind = lamina.components()[0].kind
    result = runner.invoke(main, ["describe", kind, "no-such-thing"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lamina: error: no ")


def test_traceback_flag_shows_the_stack(runner: CliRunner) -> None:
    kind = lamina.components()[0].kind
    result = runner.invoke(main, ["--traceback", "describe", kind, "no-such-thing"])
    assert result.exit_code == 2 and "Traceback" in result.stderr


def test_usage_error_exits_2(runner: CliRunner) -> None:
    assert runner.invoke(main, ["components", "shader"]).exit_code == 2


@pytest.mark.parametrize(
    ("arguments", "heavy"),
    [
        (["--help"], ("torch", "taichi", "numpy", "rich")),
        (["plugins"], ("torch", "taichi", "numpy")),  # rich prints their tables
        (["components"], ("torch", "taichi", "numpy")),
    ],
)
def test_listing_imports_no_command_or_component_module(
    arguments: list[str], heavy: tuple[str, ...]
) -> None:
    """Listings read registration metadata only: beyond each plugin's package,
    no plugin module (CLI, components, operations); not even numpy (issue 14:
    `lamina --help` within 0.2 s, see benchmarks/startup.py)."""
    code = (
        "import sys\n"
        "from lamina.cli import main\n"
        f"try:\n    main({arguments!r})\nexcept SystemExit:\n    pass\n"
        f"heavy = sorted(m for m in {heavy!r} if m in sys.modules)\n"
        "deep = sorted(m for m in sys.modules if m.startswith('lamina.plugins.')"
        " and m.count('.') > 2)\n"
        "print('HEAVY', heavy, 'DEEP', deep, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "HEAVY [] DEEP []" in done.stderr, done.stderr[-2000:]


def test_help_lists_every_command_with_its_summary(runner: CliRunner) -> None:
    result = runner.invoke(main, ["--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for command in lamina.get_host().commands():
        assert f"{command.name}  " in result.stdout
        assert command.summary[:40] in result.stdout, command.name


@pytest.mark.parametrize("name", sorted(host_module.HOST_COMMANDS))
def test_host_command_table_agrees_with_the_commands(name: str) -> None:
    summary = host_module.HOST_COMMANDS[name][1]
    command = lamina.get_host().command(name).load()
    assert command.name == name
    assert command.get_short_help_str(limit=200) == summary


def test_every_plugin_command_resolves_to_a_click_command() -> None:
    for info in lamina.get_host().commands():
        command = info.load()
        assert isinstance(command, click.Command) and command.name == info.name, info.target
        assert info.summary, f"command {info.name!r} has no summary"


def test_check_exits_1_on_a_failing_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    host = lamina.Host(entry_points=[], disabled=(), strict=False)
    host.register(BrokenPlugin(), name="broken", distribution="tests", version="0")
    monkeypatch.setattr(host_module, "_host", host)
    result = CliRunner().invoke(main, ["check", "broken", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["passed"] is False


def test_operations_registered_by_name_match_their_modules() -> None:
    """Operations are registered as "module:attr" (imported when a pipeline runs);
    each resolves, and each plugin's names are exactly its module's table."""
    from lamina.learn import operations as learn_operations
    from lamina.pipeline import operations as pipeline_operations
    from lamina.scene import operations as scene_operations

    host = lamina.get_host()
    for op in host.operations():
        assert callable(op.function), op.name
    for plugin, module in (
        ("pipeline", pipeline_operations),
        ("learn", learn_operations),
        ("scene", scene_operations),
    ):
        registered = {op.name for op in host.plugins[plugin].operations}
        assert registered == set(module.OPERATIONS), plugin
        for name in registered:
            assert host.operation(name).function is module.OPERATIONS[name]


@pytest.mark.slow
def test_taichi_banner_only_with_verbose(tmp_path: Path) -> None:
    """A clean first screen (issue 14): a render prints nothing but its result line;
    ``lamina -v`` adds Taichi's start-up line on stderr, never on stdout."""
    render = ["render", "procedural:nested_spheres:1", "--size", "8x8"]
    runs = {
        flag: subprocess.run(
            [
                sys.executable,
                "-c",
                "from lamina.cli import main; main()",
                *flag,
                *render,
                "-o",
                str(tmp_path / "x.png"),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        for flag in ((), ("-v",))
    }
    for done in runs.values():
        assert done.returncode == 0, done.stderr[-2000:]
        assert "Taichi" not in done.stdout
    assert "Taichi" not in runs[()].stderr
    assert "[Taichi] Starting on arch=" in runs[("-v",)].stderr


@pytest.mark.parametrize("message", ["Unable to allocate 8.00 EiB for an array", ""])
def test_running_out_of_memory_is_one_line_and_exit_1(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, message: str
) -> None:
    # What lamina.memory's checks cannot foresee (another process took the memory)
    # fails the run with one line, never a traceback.
    def exhausted(kind: str | None = None) -> list[object]:
        raise MemoryError(message) if message else MemoryError

    monkeypatch.setattr(lamina, "components", exhausted)
    result = runner.invoke(main, ["components"])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lamina: error: out of memory ("), lines
    assert (message or "an allocation failed") in lines[0] and "LAMINA_MEMORY_LIMIT" in lines[0]
    assert "Traceback" not in result.output
