"""The example third-party package is discovered, conforms, and works from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import lamina
from lamina.cli import main

pytestmark = pytest.mark.skipif(
    "example-area" not in lamina.get_host().plugins,
    reason="examples/lamina-example-plugin is not installed (make test installs it)",
)


def test_discovered_with_its_distribution() -> None:
    record = lamina.get_host().plugins["example-area"]
    assert (record.status, record.distribution) == ("loaded", "lamina-example-plugin")
    assert [(c.kind, c.name) for c in record.components] == [("interpolator", "area")]


def test_area_means_match_block_averages() -> None:
    image = np.random.default_rng(0).random((8, 12)).astype(np.float32)
    out = lamina.create("interpolator", "area").resize(image, (2, 3))
    np.testing.assert_allclose(out, image.reshape(2, 4, 3, 4).mean(axis=(1, 3)), rtol=1e-6)


def test_lamina_check_passes_on_it() -> None:
    result = CliRunner().invoke(main, ["check", "example-area", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["passed"] and all(r["status"] == "passed" for r in report["results"])


def test_listed_and_described_from_the_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    listed = json.loads(runner.invoke(main, ["plugins", "--json"]).stdout)
    assert any(p["name"] == "example-area" and p["status"] == "loaded" for p in listed)
    described = json.loads(
        runner.invoke(main, ["describe", "interpolator", "area", "--json"]).stdout
    )
    assert described["distribution"] == "lamina-example-plugin"
    assert [p["name"] for p in described["parameters"]] == ["dtype"]
