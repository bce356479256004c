"""The torch plugins' component modules import torch only to fit or predict (issue 14):
describing a learner's parameters and validating a pipeline that uses one (the
demo's cached rerun does nothing else with the VAE) stay free of torch's ~1.5 s
import, while the component module itself is imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("torch")  # without torch the plugins are unavailable, never imported


def _imported_after(arguments: list[str]) -> set[str]:
    """The modules a fresh process holds after ``lamina ARGUMENTS`` (exit 0 required)."""
    code = (
        "import sys\n"
        "from lamina.cli import main\n"
        f"try:\n    main({arguments!r})\nexcept SystemExit as stop:\n    code = stop.code\n"
        "print('EXIT', code, 'MODULES', ' '.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    report = done.stderr.rsplit("EXIT ", 1)[-1]
    assert report.startswith("0 MODULES "), done.stderr[-2000:]
    return set(report.split()[2:])


@pytest.mark.parametrize(
    ("name", "module"),
    [
        ("vae", "lamina.plugins.torch_vae.vae"),
        ("mlp-regressor", "lamina.plugins.torch_mlp.mlp"),
        ("mlp-classifier", "lamina.plugins.torch_mlp.mlp"),
        ("relu-interpolant", "lamina.plugins.torch_mlp.constructive"),
        ("random-features", "lamina.plugins.torch_mlp.constructive"),
    ],
)
def test_describe_learner_does_not_import_torch(name: str, module: str) -> None:
    modules = _imported_after(["describe", "learner", name])
    assert module in modules
    assert "torch" not in modules


def test_demo_validation_does_not_import_torch(tmp_path) -> None:
    modules = _imported_after(["demo", "--dry-run", "-o", str(tmp_path / "demo")])
    assert "lamina.plugins.torch_vae.vae" in modules
    assert "torch" not in modules
