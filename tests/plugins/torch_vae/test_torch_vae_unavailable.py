"""Without torch the VAE plugin loads, reports itself unavailable with the install
hint, keeps ``lamina vae --help`` working and fails with a PluginError when used."""

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


@pytest.fixture
def without_torch(lamina_hide_modules):
    lamina_hide_modules("torch")


def test_vae_unavailable_with_install_hint(without_torch):
    host = lamina.get_host()
    assert host.plugins["torch_vae"].status == "unavailable"
    info = host.get("learner", "vae")
    assert not info.available and info.install_hint == HINT
    assert info.as_dict()["install_hint"] == HINT
    with pytest.raises(PluginError, match="needs torch"):
        lamina.create("learner", "vae", latent_dim=2)


def test_vae_command_help_and_failure(without_torch, tmp_path):
    from lamina.cli import main

    runner = CliRunner()
    assert runner.invoke(main, ["vae", "--help"]).exit_code == 0
    result = runner.invoke(main, ["vae", "--epochs", "1", "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert HINT in result.stderr
    assert not (tmp_path / "o").exists()


def test_no_torch_import_in_a_fresh_process(tmp_path):
    script = textwrap.dedent(
        f"""
        import json, sys
        sys.modules["torch"] = None
        from click.testing import CliRunner
        from lamina.cli import main
        from lamina.plugins.torch_vae import data_sources
        images, labels = data_sources.load_digits()
        runner = CliRunner()
        run = runner.invoke(main, ["vae", "--epochs", "1", "--out", {str(tmp_path / "o")!r}])
        print(json.dumps({{
            "help": runner.invoke(main, ["vae", "--help"]).exit_code,
            "plugins": json.loads(runner.invoke(main, ["plugins", "--json"]).stdout),
            "digits": list(images.shape),
            "run": [run.exit_code, run.stderr],
        }}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["help"] == 0 and out["digits"] == [1797, 8, 8, 1]
    record = next(p for p in out["plugins"] if p["name"] == "torch_vae")
    assert record["status"] == "unavailable" and HINT in record["error"]
    assert out["run"][0] == 1 and HINT in out["run"][1]
