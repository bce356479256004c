"""The learner library stands on its own (issue 14): the bundled tables ship with
``lamina.learn``, and the learner commands work whichever learner plugins are disabled.
The import layers themselves are checked in ``tests/framework/test_import_graph.py``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def test_tables_ship_with_learn_not_with_a_plugin() -> None:
    data = ROOT / "framework" / "learn" / "data"
    manifest = json.loads((data / "datasets.json").read_text(encoding="utf-8"))
    assert sorted(manifest) == ["digits", "iris", "lenses", "titanic", "zoo"]
    for name, entry in manifest.items():
        assert (data / entry["file"]).is_file(), name
        assert entry.get("licence") and entry.get("source"), name
    assert not list((ROOT / "plugins").glob("*/data/*.csv"))


@pytest.mark.parametrize(
    "command",
    [
        ["datasets", "--json"],
        ["datasets", "zoo", "--json"],
        ["learn", "gaussian-nb", "--data", "iris", "--cv", "3", "--json"],
        ["learn", "categorical-nb", "--data", "lenses", "--cv", "3", "--json"],
    ],
)
def test_learner_commands_work_without_the_cn2_and_vae_plugins(command: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from lamina.cli import main; main()", *command],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "LAMINA_DISABLE_PLUGINS": "cn2,torch_vae"},
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    if command[:2] == ["datasets", "--json"]:
        assert {"digits", "iris", "lenses", "titanic", "zoo"} <= set(report)
    elif command[0] == "learn":
        assert report["accuracy_mean"] > report["majority_baseline"]
