"""Without torch the plugin still loads, reports itself unavailable with the install
hint, keeps ``--help`` working and fails with a PluginError when used."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

import lamina
from lamina.errors import PluginError

HINT = "pip install 'lamina[torch]'"
COMPONENTS = ("mlp-regressor", "mlp-classifier", "relu-interpolant", "random-features")


@pytest.fixture
def without_torch(lamina_hide_modules):
    lamina_hide_modules("torch")


def test_components_unavailable_with_install_hint(without_torch):
    host = lamina.get_host()
    record = host.plugins["torch_mlp"]
    assert record.status == "unavailable"
    assert HINT in record.error
    for name in COMPONENTS:
        info = host.get("learner", name)
        assert not info.available and info.install_hint == HINT
        with pytest.raises(PluginError, match=HINT.replace("[", r"\[").replace("]", r"\]")):
            lamina.create("learner", name)


def test_command_help_works_and_a_run_fails_with_the_hint(without_torch):
    from lamina.cli import main

    runner = CliRunner()
    assert runner.invoke(main, ["approximate", "--help"]).exit_code == 0
    result = runner.invoke(main, ["approximate", "sin(x)", "--method", "constructive"])
    assert result.exit_code == 1
    assert HINT in result.stderr


def test_no_torch_import_at_all_in_a_fresh_process():
    # sys.modules["torch"] = None makes any `import torch` raise ImportError, so
    # this proves that listing, help and the expression parser never import it.
    script = textwrap.dedent(
        """
        import json, sys
        sys.modules["torch"] = None
        from click.testing import CliRunner
        from lamina.cli import main
        import lamina.plugins.torch_mlp.expression
        runner = CliRunner()
        out = {
            "help": runner.invoke(main, ["--help"]).exit_code,
            "approximate_help": runner.invoke(main, ["approximate", "--help"]).exit_code,
            "plugins": json.loads(runner.invoke(main, ["plugins", "--json"]).stdout),
        }
        run = runner.invoke(main, ["approximate", "sin(x)", "--method", "constructive"])
        out["run"] = [run.exit_code, run.stderr]
        print(json.dumps(out))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["help"] == 0 and out["approximate_help"] == 0
    record = next(p for p in out["plugins"] if p["name"] == "torch_mlp")
    assert record["status"] == "unavailable" and HINT in record["error"]
    assert out["run"][0] == 1 and HINT in out["run"][1]
