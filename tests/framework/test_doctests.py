"""Every docstring example in lamina runs, as a doctest (issue 14: the documentation's
examples are the code's)."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAPPING = {"framework": "lamina", "plugins": "lamina.plugins", "kernels": "lamina.kernels"}


def modules_with_examples() -> list[str]:
    """Dotted names of the modules whose source holds a ``>>>`` example."""
    names = []
    for folder, prefix in MAPPING.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            if ">>> " not in path.read_text(encoding="utf-8"):
                continue
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            names.append(".".join((prefix, *parts)))
    return names


# Examples that start Taichi, train a network or sweep noise levels take seconds.
SLOW = {
    "lamina.scene.files",
    "lamina.scene.meshes",
    "lamina.plugins.oit.renderers.fragment_list",
    "lamina.plugins.oit.renderers.peeling",
    "lamina.plugins.subpixel.feasibility",
    "lamina.plugins.torch_mlp.mlp",
}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name
        for name in modules_with_examples()
    ],
)
def test_docstring_examples_run(name: str) -> None:
    if "torch_" in name and importlib.util.find_spec("torch") is None:
        pytest.skip("needs the torch extra")
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    for test in doctest.DocTestFinder().find(module, name):
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)[-4000:]
