"""A task's key covers every file it reads, its parameters, its providers' versions
and lamina's: changing one reruns exactly the tasks that depend on it (counted)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import lamina
from lamina.host import get_host
from lamina.pipeline import load_pipeline, run_pipeline
from lamina.pipeline.runner import RunResult

PIPELINE = """
[steps.texture]
op = "load"
with = { path = "texture.npy" }

[steps.other]
op = "load"
with = { path = "other.npy" }

[steps.moved]
op = "shift"
inputs = { image = "texture" }
with = { dx = 0.0 }
sweep = { dy = [0.0, 1.0, 2.0] }

[steps.small]
op = "downsample"
inputs = { image = "moved" }
with = { factor = 2 }

[steps.other_small]
op = "downsample"
inputs = { image = "other" }
with = { factor = 2 }

[steps.scene]
op = "scene"
with = { source = "scene.toml" }
save = false
"""

SCENE = """
[image]
width = 16
height = 16

[[mesh]]
path = "tri.obj"
"""

TRIANGLE = "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    np.save(tmp_path / "texture.npy", rng.random((16, 16)).astype(np.float32))
    np.save(tmp_path / "other.npy", rng.random((16, 16)).astype(np.float32))
    (tmp_path / "scene.toml").write_text(SCENE)
    (tmp_path / "tri.obj").write_text(TRIANGLE)
    (tmp_path / "p.toml").write_text(PIPELINE)
    return tmp_path


def rerun(project: Path) -> RunResult:
    return run_pipeline(load_pipeline(project / "p.toml"), project / "out", progress=False)


def computed(result: RunResult) -> dict[str, int]:
    """Tasks computed (not reused) per step."""
    return {
        name: len(step.values) - step.cached
        for name, step in result.steps.items()
        if len(step.values) - step.cached
    }


def test_stale_cache_repro_overwritten_texture_reruns_what_reads_it(project: Path) -> None:
    rerun(project)
    texture = np.load(project / "texture.npy")
    np.save(project / "texture.npy", 1 - texture)
    again = rerun(project)
    assert computed(again) == {"texture": 1, "moved": 3, "small": 3}
    np.testing.assert_array_equal(again.steps["texture"].values[0], 1 - texture)
    np.testing.assert_array_equal(np.load(project / "out" / "texture.npy"), 1 - texture)
    assert computed(rerun(project)) == {}


def test_nothing_changed_nothing_reruns(project: Path) -> None:
    first = rerun(project)
    assert sum(computed(first).values()) == first.tasks == 10
    assert computed(rerun(project)) == {}


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda p: (p / "scene.toml").write_text(SCENE.replace("16", "24")), {"scene": 1}),
        (
            lambda p: (p / "tri.obj").write_text(TRIANGLE.replace("v 0 1 0", "v 0 2 0")),
            {"scene": 1},
        ),
        (
            lambda p: (p / "p.toml").write_text(PIPELINE.replace("factor = 2", "factor = 4", 1)),
            {"small": 3},
        ),
        (
            lambda p: (p / "p.toml").write_text(
                PIPELINE.replace("[0.0, 1.0, 2.0]", "[0.0, 1.0, 3.0]")
            ),
            {"moved": 1, "small": 1},
        ),
        (
            lambda p: np.save(p / "other.npy", np.zeros((16, 16), np.float32)),
            {"other": 1, "other_small": 1},
        ),
    ],
    ids=["scene-toml", "mesh-it-names", "params", "one-sweep-value", "other-file"],
)
def test_each_change_reruns_exactly_its_dependents(project: Path, edit, expected) -> None:  # type: ignore[no-untyped-def]
    rerun(project)
    edit(project)
    assert computed(rerun(project)) == expected


def test_the_same_bytes_under_a_moved_project_rerun_nothing(project: Path, tmp_path: Path) -> None:
    rerun(project)
    moved = project.rename(tmp_path.parent / f"{tmp_path.name}-moved")
    assert computed(rerun(moved)) == {}


def test_lamina_version_keys_every_task(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = rerun(project)
    monkeypatch.setattr(lamina, "__version__", "999.0")
    assert sum(computed(rerun(project)).values()) == first.tasks


def test_provider_version_keys_the_steps_it_provides(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rerun(project)
    monkeypatch.setattr(get_host().operation("downsample"), "version", "0.0.1-other")
    assert computed(rerun(project)) == {"small": 3, "other_small": 1}


def test_noise_is_seeded_by_the_key_not_the_data(tmp_path: Path) -> None:
    # Two tasks with identical images but different keys get different noise; the
    # same key gets the same noise in a fresh output folder.
    np.save(tmp_path / "flat.npy", np.full((8, 8), 0.5, np.float32))
    (tmp_path / "p.toml").write_text(
        '[steps.flat]\nop = "load"\nwith = { path = "flat.npy" }\n'
        '[steps.noisy]\nop = "add_noise"\ninputs = { image = "flat" }\nsweep = { sigma = [0.1, 0.2] }\n'
    )
    one = run_pipeline(load_pipeline(tmp_path / "p.toml"), tmp_path / "a", progress=False)
    two = run_pipeline(load_pipeline(tmp_path / "p.toml"), tmp_path / "b", progress=False)
    a, b = one.steps["noisy"].values
    assert not np.array_equal((a - 0.5) * 2, b - 0.5)  # not the same draw scaled
    for x, y in zip(one.steps["noisy"].values, two.steps["noisy"].values, strict=True):
        np.testing.assert_array_equal(x, y)


def test_arrays_are_normalised_on_arrival() -> None:
    from lamina.pipeline.tasks import normalised

    base = np.arange(1, 200, dtype=">f4")
    for offset in range(1, 8):
        raw = np.frombuffer(base.tobytes()[offset * 4 :], dtype=">f4")
        odd = np.frombuffer(b"\0" + raw.astype("<f4").tobytes(), np.uint8)[1:].view("<f4")
        for array in (raw, odd, raw[::2], base.reshape(-1, 1)[offset:].T):
            fixed = normalised({"x": [array]})["x"][0]
            assert fixed.dtype.isnative and fixed.flags.c_contiguous
            assert fixed.ctypes.data % 64 == 0
            np.testing.assert_array_equal(fixed, array)
