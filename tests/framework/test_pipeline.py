"""Pipelines: validation before running, sweeps, stored results, outputs, executors."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from lamina import ConfigError, InputError, LaminaError
from lamina.cli import main
from lamina.pipeline import load_pipeline, parse_pipeline, run_pipeline

PIPELINE = """
[pipeline]
name = "shifts"
title = "Known shifts"

[steps.image]
op = "load"
with = { path = "image.npy" }

[steps.moved]
op = "shift"
inputs = { image = "image" }

[steps.moved.sweep]
dy = [0.0, 2.0, -1.0]
dx = [0.0, 3.0]

[steps.small]
op = "downsample"
inputs = { image = "moved" }
with = { factor = 2 }

[steps.error]
op = "compare"
inputs = { result = "moved", reference = "image" }
"""

SHIFTS = [(dy, dx) for dy in (0.0, 2.0, -1.0) for dx in (0.0, 3.0)]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    image = np.random.default_rng(0).random((32, 40)).astype(np.float32)
    np.save(tmp_path / "image.npy", image)
    (tmp_path / "shifts.toml").write_text(PIPELINE)
    return tmp_path


def expected_rmse(image: np.ndarray, dy: int, dx: int) -> float:
    # Integer Fourier shifts are exact periodic rolls: an independent reference.
    moved = np.roll(image, (dy, dx), axis=(0, 1))
    return float(np.sqrt(np.mean((moved.astype(np.float64) - image) ** 2)))


def test_run_sweeps_maps_and_writes_everything(workdir: Path) -> None:
    result = run_pipeline(load_pipeline(workdir / "shifts.toml"), workdir / "out", progress=False)
    image = np.load(workdir / "image.npy")
    assert result.tasks == 1 + 6 + 6 + 6 and result.cached == 0
    for (dy, dx), metrics in zip(SHIFTS, result.steps["error"].values, strict=True):
        assert metrics["rmse"] == pytest.approx(expected_rmse(image, int(dy), int(dx)), abs=1e-6)
    small = result.steps["small"].values[3]
    np.testing.assert_allclose(
        small, np.roll(image, (2, 3), (0, 1)).reshape(16, 2, 20, 2).mean((1, 3)), atol=1e-5
    )
    out = workdir / "out"
    for name in (
        "report.html",
        "metrics.json",
        "run.log",
        "moved/005.png",
        "moved/005.npy",
        "error/000.json",
    ):
        assert (out / name).is_file(), name
    assert not list(out.rglob("*.part"))
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["metrics"]["error"]) == 6
    assert "<img" in (out / "report.html").read_text()


def test_rerun_reuses_every_stored_result(workdir: Path) -> None:
    pipeline = load_pipeline(workdir / "shifts.toml")
    first = run_pipeline(pipeline, workdir / "out", progress=False)
    second = run_pipeline(pipeline, workdir / "out", progress=False)
    assert second.cached == second.tasks == first.tasks
    assert second.steps["error"].values == first.steps["error"].values


def test_changed_input_reruns_only_what_depends_on_it(workdir: Path) -> None:
    run_pipeline(load_pipeline(workdir / "shifts.toml"), workdir / "out", progress=False)
    (workdir / "shifts.toml").write_text(PIPELINE.replace("factor = 2", "factor = 4"))
    again = run_pipeline(load_pipeline(workdir / "shifts.toml"), workdir / "out", progress=False)
    assert again.steps["small"].cached == 0 and again.steps["moved"].cached == 6


# (edit, expected message, text on the line the error must point at)
CASES = [
    (("[steps.small]", "[steps.small"), "malformed TOML", "[steps.small"),
    (('op = "downsample"', 'op = "downsampel"'), "did you mean 'downsample'", "downsampel"),
    (('op = "downsample"', 'uses = "interpolator:no-such"'), "no interpolator named", "no-such"),
    (("factor = 2", 'factor = "two"'), "'factor' expects int", '"two"'),
    (("factor = 2", "factor = 2, width = 3"), "unknown argument 'width'", "width = 3"),
    (('result = "moved"', 'result = "moevd"'), "unknown step 'moevd'", "moevd"),
    (('inputs = { image = "image" }', 'inputs = { image = "small" }'), "cycle", None),
    (("[steps.moved.sweep]", "[steps.moved.sweep]\nmode = 'diagonal'"), "sweep mode", "diagonal"),
    (
        ("with = { factor = 2 }", "with = { factor = 2 }\ncolour = 1"),
        "unknown key 'colour'",
        "colour",
    ),
    ((', reference = "image"', ""), "missing argument", "[steps.error]"),
    (("[steps.image]", "[steps.image]\nparams = { k = 1 }"), "configure a component", "params"),
]


@pytest.mark.parametrize(("edit", "message", "marker"), CASES)
def test_validation_names_file_line_and_key(
    edit: tuple[str, str], message: str, marker: str | None
) -> None:
    text = PIPELINE.replace(*edit)
    assert text != PIPELINE
    with pytest.raises(ConfigError, match=message) as raised:
        parse_pipeline(text, source=Path("p.toml"))
    assert raised.value.file == "p.toml"
    if marker is not None:
        expected = next(n for n, line in enumerate(text.splitlines(), 1) if marker in line)
        assert raised.value.line == expected, str(raised.value)


def test_the_unedited_pipeline_is_valid() -> None:
    assert list(parse_pipeline(PIPELINE).steps) == ["image", "moved", "small", "error"]


def test_missing_input_file_is_found_before_running(workdir: Path) -> None:
    (workdir / "shifts.toml").write_text(PIPELINE.replace("image.npy", "missing.npy"))
    with pytest.raises(ConfigError, match=r"input file 'missing\.npy' does not exist") as raised:
        load_pipeline(workdir / "shifts.toml")
    assert raised.value.line == 8
    assert not (workdir / "out").exists()


def test_output_folder_that_is_a_file(workdir: Path) -> None:
    (workdir / "taken").write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        run_pipeline(load_pipeline(workdir / "shifts.toml"), workdir / "taken", progress=False)


def test_disk_full_leaves_no_half_written_file(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    import lamina.io

    class DiskFull:
        """lamina.io's view of ``os``: the disk is full from the sixth write into an
        output (outputs are not fsynced one by one, so a full disk shows at the write)."""

        def __init__(self) -> None:
            self.writes = 0

        def __getattr__(self, name: str) -> Any:
            return getattr(os, name)

        def write(self, fd: int, data: Any) -> int:
            self.writes += 1
            if self.writes > 5:
                raise OSError(errno.ENOSPC, "No space left on device")
            return os.write(fd, data)

    monkeypatch.setattr(lamina.io, "os", DiskFull())
    # A full disk is a failed run (exit 1), not bad input.
    with pytest.raises(LaminaError, match="No space left on device") as failed:
        run_pipeline(load_pipeline(workdir / "shifts.toml"), workdir / "out", progress=False)
    assert not isinstance(failed.value, InputError)
    assert not list((workdir / "out").rglob("*.part"))
    monkeypatch.undo()
    resumed = run_pipeline(load_pipeline(workdir / "shifts.toml"), workdir / "out", progress=False)
    # Results were stored as tasks ended (no fsync needed: damage is detected);
    # the outputs that failed to write are written now.
    assert resumed.cached == resumed.tasks
    assert (workdir / "out" / "moved" / "005.npy").is_file()


@pytest.mark.skipif(
    not hasattr(os, "sync"), reason="each output is fsynced where os.sync is missing"
)
def test_outputs_reach_the_disk_before_the_index_names_them(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Outputs are renamed into place unsynced (the rename makes them atomic); one
    # os.sync makes all of them durable before the index vouches for them, so a
    # crash in between leaves the old index and the next run rewrites them.
    import lamina.io
    from lamina.pipeline.cache import Cache

    events: list[str] = []
    fsyncs = {"n": 0}
    real_fsync, real_write_index = os.fsync, Cache.write_index

    def fsync(fd: int) -> None:
        fsyncs["n"] += 1
        real_fsync(fd)

    def write_index(self: Cache, index: dict[str, Any]) -> None:
        events.append("index")
        real_write_index(self, index)

    monkeypatch.setattr(lamina.io.os, "fsync", fsync)
    monkeypatch.setattr(lamina.io.os, "sync", lambda: events.append("sync"))
    monkeypatch.setattr(Cache, "write_index", write_index)
    first = run_pipeline(load_pipeline(workdir / "shifts.toml"), workdir / "out", progress=False)
    saved = sum(len(step.files) for step in first.steps.values())
    assert saved >= 8 and events == ["sync", "index"]
    # The index and the three run records only: no output is fsynced by itself.
    assert fsyncs["n"] == 4
    events.clear()
    again = run_pipeline(load_pipeline(workdir / "shifts.toml"), workdir / "out", progress=False)
    assert again.cached == again.tasks and events == []  # nothing new to make durable


def test_cli_run_json_and_exit_codes(workdir: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(
        main, ["run", str(workdir / "shifts.toml"), "-o", str(workdir / "o"), "--json"]
    )
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["tasks"] == 19
    (workdir / "bad.toml").write_text(PIPELINE.replace('op = "shift"', 'op = "shfit"'))
    bad = runner.invoke(main, ["run", str(workdir / "bad.toml")])
    assert bad.exit_code == 2 and "bad.toml:11" in bad.stderr


@pytest.mark.slow
def test_dask_local_cluster_gives_identical_results(workdir: Path) -> None:
    pytest.importorskip("distributed")
    pipeline = load_pipeline(workdir / "shifts.toml")
    local = run_pipeline(pipeline, workdir / "local", progress=False)
    dask = run_pipeline(pipeline, workdir / "dask", executor="dask", workers=2, progress=False)
    assert dask.cached == 0
    for name in pipeline.steps:
        for a, b in zip(local.steps[name].values, dask.steps[name].values, strict=True):
            if isinstance(a, np.ndarray):
                assert np.array_equal(a, b)
            else:
                assert a == b


@pytest.mark.slow
def test_dask_worker_without_a_plugin_is_named(workdir: Path) -> None:
    distributed = pytest.importorskip("distributed")
    from lamina import PluginError

    with (
        distributed.LocalCluster(
            n_workers=1,
            processes=True,
            dashboard_address=None,
            env={"LAMINA_DISABLE_PLUGINS": "pipeline"},
        ) as cluster,
        pytest.raises(PluginError, match=r"worker 0 \(tcp://.*\) lacks .*operation 'compare'"),
    ):
        run_pipeline(
            load_pipeline(workdir / "shifts.toml"),
            workdir / "out",
            executor="dask",
            scheduler=cluster.scheduler_address,
            progress=False,
        )
