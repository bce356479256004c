"""``lamina render`` is the host's (the renderer kind's generic command): it works with
any renderer plugin, with the OIT plugin disabled too (issue 14 Must 1)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import lamina
from lamina.cli import main
from lamina.types import Rendering, RenderStats

SCENE_FILE = Path(__file__).resolve().parents[2] / "examples" / "scenes" / "nested.toml"


class Flat:
    """A renderer of another plugin: the background only, with no Taichi."""

    def render(self, scene: Any, camera: Any, size: tuple[int, int]) -> Rendering:
        image = np.empty((*size, 4), np.float32)
        image[:] = scene.premultiplied_background()
        return Rendering(
            image=image, depth_complexity=np.zeros(size, np.int32), stats=RenderStats()
        )


@lamina.hookimpl
def lamina_register_renderers(registry: Any) -> None:
    registry.add("flat", Flat, summary="The background only (a test renderer).")


@pytest.fixture
def without_oit(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The host with the OIT plugin disabled and the ``flat`` renderer's plugin added."""
    monkeypatch.setenv("LAMINA_DISABLE_PLUGINS", "oit")
    lamina.reset_host()
    host = lamina.get_host()
    host.register(SimpleNamespace(lamina_register_renderers=lamina_register_renderers), name="flat")
    yield host
    monkeypatch.delenv("LAMINA_DISABLE_PLUGINS")
    lamina.reset_host()


def test_render_works_with_another_plugins_renderer(without_oit: Any, tmp_path: Path) -> None:
    assert without_oit.plugins["oit"].status == "disabled"
    out = tmp_path / "flat.npy"
    args = ["render", str(SCENE_FILE), "-o", str(out), "--size", "12x8", "--light", "1,1,1"]
    result = CliRunner().invoke(main, [*args, "--renderer", "flat", "--background", "0,0,1"])
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(np.load(out), np.broadcast_to([0, 0, 1, 1], (8, 12, 4)))


def test_a_missing_renderer_names_the_command_that_lists_them(without_oit: Any) -> None:
    # The default renderer (fragment-list) is the disabled OIT plugin's.
    result = CliRunner().invoke(main, ["render", "procedural:torus", "-o", "x.png"])
    assert result.exit_code == 2
    assert "'fragment-list' (the default)" in result.stderr
    assert "`lamina components renderer`" in result.stderr
    assert "Traceback" not in result.output
