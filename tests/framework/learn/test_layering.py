"""``core <- learn <- plugins`` (issue 14): the host never imports ``lamina.learn`` at
module level, ``lamina.learn`` imports neither a plugin nor its peer ``lamina.pipeline``,
and the bundled tables and the learner commands work whichever learner plugins are
disabled."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def module_level_imports(path: Path) -> list[str]:
    """Modules imported at module level (outside functions; ``TYPE_CHECKING`` blocks too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    # ast.walk enters function bodies too: drop what they import.
    inner = {
        id(n)
        for f in ast.walk(tree)
        if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
        for n in ast.walk(f)
        if isinstance(n, ast.Import | ast.ImportFrom)
    }
    found = []
    for node in ast.walk(tree):
        if id(node) in inner:
            continue
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append(node.module)
    return found


def test_the_scanner_sees_module_level_imports_only(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "import lamina.learn\nfrom lamina.learn.cv import cv\n"
        "def f():\n    import lamina.plugins.cn2\n"
    )
    assert module_level_imports(source) == ["lamina.learn", "lamina.learn.cv"]


def test_core_does_not_import_learn_at_module_level() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / "framework").rglob("*.py"))
        if "learn" not in path.relative_to(ROOT / "framework").parts[:1]
        for name in module_level_imports(path)
        if name == "lamina.learn" or name.startswith("lamina.learn.")
    ]
    assert not offenders


def test_learn_imports_no_plugin_and_not_its_peer_pipeline() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / "framework" / "learn").rglob("*.py"))
        for name in module_level_imports(path)
        if name.startswith(("lamina.plugins", "lamina.pipeline"))
    ]
    assert not offenders


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


LEARNER_CODE = [
    ROOT / "framework" / "learn",
    *(ROOT / "plugins" / name for name in ("bayes", "cn2", "torch_mlp", "torch_vae")),
]


def test_learner_code_imports_no_private_name_from_another_module() -> None:
    offenders = []
    for folder in LEARNER_CODE:
        for path in sorted(folder.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lamina"):
                    offenders += [
                        f"{path.relative_to(ROOT)}: {node.module}.{alias.name}"
                        for alias in node.names
                        if alias.name.startswith("_")
                    ]
    assert not offenders
