"""The wheel holds every subpackage on disk, and only under the ``lamina`` name."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAPPING = {"framework": "lamina", "plugins": "lamina.plugins", "kernels": "lamina.kernels"}


def packages_on_disk() -> set[str]:
    found = set()
    for folder, prefix in MAPPING.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((prefix, *relative)))
    return found


def data_folders_on_disk() -> set[str]:
    """Folders without ``__init__.py`` inside a package: shipped as package data."""
    found = set()
    for folder, prefix in MAPPING.items():
        for path in (ROOT / folder).rglob("*"):
            if path.is_dir() and path.name != "__pycache__" and not (path / "__init__.py").exists():
                found.add(".".join((prefix, *path.relative_to(ROOT / folder).parts)))
    return found


def test_top_level_layout() -> None:
    expected = {"framework", "plugins", "kernels", "tests", "examples", "benchmarks", "docs"}
    expected |= {"pyproject.toml", "Makefile", "README.md", ".ci"}
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    top = {path.split("/")[0] for path in tracked} - {".gitignore"}
    assert top == expected
    assert (ROOT / ".ci" / "run").is_file()


def test_package_list_matches_folders() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert config["tool"]["setuptools"]["package-dir"] == {v: k for k, v in MAPPING.items()}
    listed = set(config["tool"]["setuptools"]["packages"])
    assert listed == packages_on_disk() | data_folders_on_disk()


@pytest.mark.slow
def test_wheel_contains_every_subpackage(tmp_path: Path) -> None:
    # Build from a copy: setuptools writes lamina.egg-info into the source tree, and a
    # stale one beside the tests would shadow the installed entry points.
    source = tmp_path / "src"
    shutil.copytree(
        ROOT, source, ignore=shutil.ignore_patterns(".venv", ".git", "*.egg-info", "build")
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-v",
            "-w",
            str(tmp_path),
            str(source),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    # A clean first screen (issue 14): setuptools has nothing to warn about.
    assert "BuildBackendWarning" not in done.stdout + done.stderr
    (wheel,) = tmp_path.glob("lamina-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    in_wheel = {n.rsplit("/", 1)[0].replace("/", ".") for n in names if n.endswith("/__init__.py")}
    assert in_wheel == packages_on_disk()
    assert not any(n.startswith(("framework/", "plugins/", "kernels/")) for n in names)
    assert any(n.endswith("entry_points.txt") for n in names)
    assert "lamina/py.typed" in names  # type checkers read lamina's hints (PEP 561)
    for data in data_folders_on_disk():
        folder = data.replace(".", "/") + "/"
        assert any(n.startswith(folder) and n.endswith(".csv") for n in names), data
    # Every bundled table ships, with its manifest and licence notes (issue 14).
    manifest = json.loads((ROOT / "framework/learn/data/datasets.json").read_text())
    shipped = {f"lamina/learn/data/{e['file']}" for e in manifest.values()}
    shipped |= {"lamina/learn/data/datasets.json", "lamina/learn/data/README.md"}
    assert shipped <= set(names), shipped - set(names)


@pytest.mark.parametrize("bare", ["framework", "plugins", "kernels"])
def test_folders_are_not_importable_bare(bare: str, tmp_path: Path) -> None:
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({bare!r}) is not None)"
    assert subprocess.run([sys.executable, "-c", code], cwd=tmp_path).returncode == 0
