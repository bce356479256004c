"""The kernels under Taichi's debug mode (bounds-checked indexing), which a user
debugging their own kernels in the same process turns on: resolve read a row's
8-entry array at a whole bin's pixel index (up to 63), harmless in a normal build
(the value was thrown away) and an abort in debug mode on every fragment-list frame."""

from __future__ import annotations

import os
import subprocess
import sys

_RENDER = """
import lamina
from lamina.scene.procedural import procedural_scene
scene, camera = procedural_scene("random_triangles", n=400)
result = lamina.create("renderer", "fragment-list", arch="cpu").render(scene, camera, (16, 16))
print("rendered", float(result.image.sum()))
"""


def test_fragment_list_renders_under_taichi_debug_mode():
    done = subprocess.run(
        [sys.executable, "-c", _RENDER],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TI_DEBUG": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "rendered" in done.stdout
