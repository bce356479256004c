"""report.html: every section shows what it names, pictures at sizes that compare
the right way round, rows named by sweep values, reused work with its seconds."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from lamina.pipeline import load_pipeline, run_pipeline
from lamina.pipeline.report import _display_width

PIPELINE = """
[steps.image]
op = "load"
with = { path = "image.npy" }

[steps.moved]
title = "Moved by known amounts"
op = "shift"
inputs = { image = "image" }
with = { dx = 0.0 }
sweep = { dy = [0.0, 1.5] }

[steps.small]
title = "Reduced 2x"
op = "downsample"
inputs = { image = "moved" }
with = { factor = 2 }

[steps.quality]
title = "Errors against the original"
op = "compare"
inputs = { result = "moved", reference = "image" }

[steps.patches]
title = "8x8 patches"
op = "image_patches"
inputs = { images = "moved[*]" }
save = false

"""


def sections(page: str) -> dict[str, str]:
    return {
        re.search(r"<h2>(.*?)</h2>", body).group(1): body  # type: ignore[union-attr]
        for body in re.findall(r"<section>(.*?)</section>", page, re.S)
    }


@pytest.fixture
def project(tmp_path: Path) -> Path:
    np.save(tmp_path / "image.npy", np.random.default_rng(2).random((32, 32)).astype(np.float32))
    (tmp_path / "p.toml").write_text(PIPELINE)
    return tmp_path


def test_every_section_shows_something_and_rows_carry_sweep_values(project: Path) -> None:
    run_pipeline(load_pipeline(project / "p.toml"), project / "out", progress=False)
    page = (project / "out" / "report.html").read_text()
    found = sections(page)
    assert set(found) >= {"Moved by known amounts", "Reduced 2x", "8x8 patches"}
    for title, body in found.items():
        assert "<img" in body or "<table" in body, f"section {title!r} is empty"
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", found["Moved by known amounts"])
    assert captions == ["dy=0", "dy=1.5"]  # swept values only (dx is fixed)
    assert "<th>dy</th>" in found["Errors against the original"]
    assert "<th>task</th>" not in found["Errors against the original"]
    assert "patches" in found["8x8 patches"] and "<img" in found["8x8 patches"]


def test_smaller_pictures_never_look_larger() -> None:
    widths = [_display_width(np.zeros((4, w))) for w in range(4, 1200, 7)]
    assert widths == sorted(widths)
    assert _display_width(np.zeros((48, 48))) < _display_width(np.zeros((96, 96))) >= 288


def test_a_stored_rerun_reports_the_work_it_reused(project: Path) -> None:
    pipeline = load_pipeline(project / "p.toml")
    first = run_pipeline(pipeline, project / "out", progress=False)
    again = run_pipeline(pipeline, project / "out", progress=False)
    assert again.cached == again.tasks
    for name, step in again.steps.items():
        assert step.seconds == pytest.approx(first.steps[name].seconds), name
    assert again.steps["moved"].seconds > 0
