"""``lamina new-plugin`` writes a package that installs and passes ``lamina check``."""

from __future__ import annotations

import doctest
import importlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from click.testing import CliRunner

import lamina
from lamina import Camera, InputError, Scene
from lamina.cli import main
from lamina.scaffold import template_kinds, write_plugin

TEMPLATE_KINDS = tuple(template_kinds())


@pytest.mark.slow
def test_every_template_builds_installs_and_passes_check(tmp_path: Path) -> None:
    names = {kind: f"my-{kind.replace('_', '-')}" for kind in TEMPLATE_KINDS}
    folders = [
        CliRunner()
        .invoke(main, ["new-plugin", name, "--kind", kind, "--output", str(tmp_path)])
        .stdout.strip()
        for kind, name in names.items()
    ]
    assert all(Path(folder).is_dir() for folder in folders), folders
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
            *folders,
        ],
        check=True,
        capture_output=True,
    )
    for wheel in wheels.glob("*.whl"):  # installing a wheel is unpacking it
        zipfile.ZipFile(wheel).extractall(site)
    assert (site / "lamina_my_interpolator" / "py.typed").exists()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from lamina.cli import main; main()",
            "check",
            *names.values(),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(site), "LAMINA_STRICT_PLUGINS": "1"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    results = json.loads(done.stdout)["results"]
    assert {r["component"] for r in results} == set(names.values())
    assert {r["status"] for r in results} == {"passed"}


@pytest.mark.parametrize("name", ["..", "../up", "Upper", "a/b", "-lead", "trail-", "", "x y"])
def test_bad_names_write_nothing(name: str, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="NAME"):
        write_plugin(name, kind="interpolator", output=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_existing_target_and_missing_output_are_one_line(tmp_path: Path) -> None:
    write_plugin("twice", kind="learner", output=tmp_path)
    result = CliRunner().invoke(
        main, ["new-plugin", "twice", "--kind", "learner", "--output", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"lamina: error: {str(tmp_path / 'lamina-twice')!r} already exists; "
        "choose another NAME or --output"
    ]
    missing = CliRunner().invoke(
        main, ["new-plugin", "x", "--kind", "learner", "--output", str(tmp_path / "no")]
    )
    assert missing.exit_code == 2 and "is not a folder" in missing.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lamina-twice"]


def test_a_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = Path.write_text
    calls = []

    def fail_on_third(self: Path, *args: object, **kwargs: object) -> int:
        calls.append(self)
        if len(calls) == 3:
            raise OSError("disk full")
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "write_text", fail_on_third)
    with pytest.raises(OSError, match="disk full"):
        write_plugin("half", kind="position_estimator", output=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", TEMPLATE_KINDS)
def test_written_package_is_lint_clean_python(kind: str, tmp_path: Path) -> None:
    folder = write_plugin("lint-me", kind=kind, output=tmp_path)
    for path in folder.rglob("*.py"):
        compile(path.read_text(), str(path), "exec")
    ruff = Path(sys.executable).with_name("ruff")
    if ruff.exists():
        done = subprocess.run(
            [str(ruff), "check", "--no-cache", "--select", "E,F,W,B,UP", str(folder)],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout


def _template_module(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    name = f"tpl-{kind.replace('_', '-')}"
    folder = write_plugin(name, kind=kind, output=tmp_path)
    monkeypatch.syspath_prepend(str(folder / "src"))
    package = f"lamina_{name.replace('-', '_')}"
    monkeypatch.delitem(sys.modules, package, raising=False)
    monkeypatch.delitem(sys.modules, f"{package}.component", raising=False)
    return importlib.import_module(f"{package}.component")


@pytest.mark.parametrize("kind", TEMPLATE_KINDS)
def test_template_examples_run(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = _template_module(kind, tmp_path, monkeypatch)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("seed", range(4))
def test_renderer_template_is_exact_on_stacked_layers(
    seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without interpenetration the painter's order is the true order: the template
    then agrees with lamina's float64 reference renderer (an independent code)."""
    module = _template_module("renderer", tmp_path, monkeypatch)
    rng = np.random.default_rng(seed)
    quads, colors = [], []
    for layer in range(int(rng.integers(2, 5))):
        (x0, y0), (x1, y1) = np.sort(rng.uniform(-1, 1, (2, 2)), axis=0).T
        z = layer * 0.3 - 0.5
        quads.append([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]])
        colors += [rng.uniform(0.1, 0.9, 4)] * 2
    vertices = np.array(quads, float).reshape(-1, 3)
    faces = np.array(
        [[4 * q, 4 * q + 1, 4 * q + 2] for q in range(len(quads))]
        + [[4 * q, 4 * q + 2, 4 * q + 3] for q in range(len(quads))]
    )
    order = np.argsort(np.r_[np.arange(len(quads)), np.arange(len(quads))], kind="stable")
    scene = Scene(
        vertices=vertices,
        faces=faces[order],
        face_colors=np.array(colors),
        background=(0.2, 0.3, 0.4, 1.0),
    )
    camera = Camera(eye=(0.1, 0.2, 5.0), target=(0, 0, 0), projection="orthographic")
    size = (int(rng.integers(8, 40)), int(rng.integers(8, 40)))
    found = module.TplRenderer().render(scene, camera, size)
    expected = lamina.create("renderer", "reference").render(scene, camera, size)
    assert np.array_equal(found.depth_complexity, expected.depth_complexity)
    np.testing.assert_allclose(found.image, expected.image, atol=1e-5)
