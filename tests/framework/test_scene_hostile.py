"""Hostile and untested corners of scenes and ``lamina render`` that earlier reviews
left over: an orbit's normals, concave polygons in mesh files, extreme zoom. Each
case failed before its fix."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import pytest
from click.testing import CliRunner

import lamina
from lamina.cli import main
from lamina.types import Rendering, RenderStats


class Recorder:
    """A renderer that keeps the scene and camera of every frame (no Taichi)."""

    seen: ClassVar[list[tuple[Any, Any]]] = []

    def render(self, scene: Any, camera: Any, size: tuple[int, int]) -> Rendering:
        Recorder.seen.append((scene, camera))
        return Rendering(
            image=np.zeros((*size, 4), np.float32),
            depth_complexity=np.zeros(size, np.int32),
            stats=RenderStats(),
        )


@lamina.hookimpl
def lamina_register_renderers(registry: Any) -> None:
    registry.add("recorder", Recorder, summary="Keeps what it is asked to render (a test).")


@pytest.fixture
def recorder() -> Any:
    lamina.reset_host()
    host = lamina.get_host()
    plugin = SimpleNamespace(lamina_register_renderers=lamina_register_renderers)
    host.register(plugin, name="recorder")
    Recorder.seen = []
    yield Recorder
    lamina.reset_host()


def test_an_orbit_computes_the_normals_once_and_lights_each_view_as_before(
    recorder: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lamina.scene import lighting
    from lamina.scene.files import load

    calls = []
    real = lighting.vertex_normals

    def counted(*args: Any) -> np.ndarray:
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(lighting, "vertex_normals", counted)
    frames = 5
    args = ["render", "procedural:torus", "-o", str(tmp_path / "f.npy"), "--size", "8x6"]
    result = CliRunner().invoke(
        main, [*args, "--renderer", "recorder", "--orbit", str(frames), "--light", "1,2,3"]
    )
    assert result.exit_code == 0, result.output
    assert len(calls) == 1 and len(recorder.seen) == frames
    # Each frame is lit exactly as shading that view from scratch lights it.
    monkeypatch.setattr(lighting, "vertex_normals", real)
    scene = load("procedural:torus").scene
    setup = lighting.parse_lights(["1,2,3"])
    colours = set()
    for lit, camera in recorder.seen:
        expected = lighting.shade(scene, camera, setup)
        np.testing.assert_array_equal(lit.vertex_colors, expected.vertex_colors)
        colours.add(lit.vertex_colors.tobytes())
    assert len(colours) == frames  # the views differ, so does the light


def test_shade_takes_corner_normals_or_normals_not_both() -> None:
    from lamina.scene.lighting import corner_normals, shade
    from lamina.scene.procedural import procedural_scene

    scene, camera = procedural_scene("torus")
    corners = corner_normals(scene)
    assert corners.shape == (scene.n_triangles, 3, 3)
    np.testing.assert_array_equal(
        shade(scene, camera, corners=corners).vertex_colors, shade(scene, camera).vertex_colors
    )
    with pytest.raises(lamina.InputError, match="not both"):
        shade(scene, camera, normals=np.ones((scene.n_vertices, 3)), corners=corners)
    with pytest.raises(lamina.InputError, match="corners must be"):
        shade(scene, camera, corners=corners[:-1])
