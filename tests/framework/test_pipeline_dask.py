"""Pipelines on a real Dask cluster: a scheduler and workers started as
subprocesses on 127.0.0.1 (and stopped by the tests). Results are bit-identical
to the local executor, also after a worker is killed mid-run; every fault is
one clear error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from lamina import LaminaError, PluginError
from lamina.pipeline import load_pipeline, run_pipeline
from lamina.pipeline.cache import CACHE, PACK, Cache
from lamina.pipeline.runner import RunResult
from lamina.pipeline.tasks import TaskFailed

pytestmark = [pytest.mark.slow]
pytest.importorskip("distributed")

DASK = str(Path(sys.executable).with_name("dask"))

# Enough work per task (SSIM of 192x192 images) that a worker can be killed mid-run.
PIPELINE = """
[steps.image]
op = "load"
with = { path = "image.npy" }

[steps.moved]
op = "shift"
inputs = { image = "image" }
with = { dx = 0.5 }
sweep = { dy = { start = 0.0, stop = 3.0, num = 24 } }

[steps.grey]
op = "to_grey"
inputs = { image = "moved" }

[steps.noisy]
op = "add_noise"
inputs = { image = "grey" }
with = { sigma = 0.05 }

[steps.error]
op = "compare"
inputs = { result = "noisy", reference = "grey" }
"""


class Cluster:
    """A scheduler and named workers on loopback, each its own process."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.file = folder / "scheduler.json"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def _start(self, name: str, command: list[str], env: dict[str, str] | None = None) -> None:
        with (self.folder / f"{name}.log").open("wb") as log:
            self.processes[name] = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )

    def scheduler(self) -> str:
        self._start(
            "scheduler",
            [
                DASK,
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(self.file),
            ],
        )
        deadline = time.monotonic() + 60
        while not self.file.is_file() or not self.file.read_text().strip():
            assert time.monotonic() < deadline, (self.folder / "scheduler.log").read_text()
            time.sleep(0.1)
        import json

        return str(json.loads(self.file.read_text())["address"])

    def worker(self, name: str, env: dict[str, str] | None = None) -> None:
        self._start(
            name,
            [
                DASK,
                "worker",
                "--scheduler-file",
                str(self.file),
                "--name",
                name,
                "--nthreads",
                "1",
                "--no-nanny",
                "--no-dashboard",
                "--host",
                "127.0.0.1",
            ],
            env,
        )

    def wait_for(self, address: str, count: int) -> None:
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(count, timeout=60)

    def kill(self, name: str) -> None:
        self.processes[name].send_signal(signal.SIGKILL)
        self.processes[name].wait()

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    started = Cluster(tmp_path)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    image = np.random.default_rng(7).random((192, 192, 3)).astype(np.float32)
    np.save(folder / "image.npy", image)
    (folder / "p.toml").write_text(PIPELINE)
    return folder


def same(a: RunResult, b: RunResult) -> None:
    for name in a.steps:
        for x, y in zip(a.steps[name].values, b.steps[name].values, strict=True):
            if isinstance(x, np.ndarray):
                assert x.dtype == y.dtype and np.array_equal(x, y), name
            else:
                assert x == y, name


def test_bit_identical_local_localcluster_and_loopback_with_a_worker_killed(
    project: Path, cluster: Cluster
) -> None:
    pipeline = load_pipeline(project / "p.toml")
    local = run_pipeline(pipeline, project / "local", progress=False)
    address = cluster.scheduler()
    for name in ("w1", "w2"):
        cluster.worker(name)
    cluster.wait_for(address, 2)
    # Kill w2 once a few tasks have finished: its tasks are recomputed on w1.
    log = project / "remote" / "run.log"

    def killer() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if log.is_file() and log.read_text().count(" computed ") >= 6:
                cluster.kill("w2")
                return
            time.sleep(0.02)

    thread = threading.Thread(target=killer)
    thread.start()
    remote = run_pipeline(
        pipeline, project / "remote", executor="dask", scheduler=address, progress=False
    )
    thread.join()
    assert cluster.processes["w2"].poll() is not None, "w2 was not killed mid-run"
    assert remote.cached == 0
    same(local, remote)  # LocalCluster vs local: test_pipeline.py
    for name in ("moved/007.npy", "noisy/023.npy", "error/023.json"):
        assert (project / "remote" / name).read_bytes() == (project / "local" / name).read_bytes()


def test_relative_paths_resolve_on_the_client_and_failures_name_the_worker(
    project: Path, cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    address = cluster.scheduler()
    cluster.worker("w1")
    cluster.wait_for(address, 1)
    monkeypatch.chdir(project)
    # Relative pipeline path and relative -o: the worker's working folder is elsewhere.
    result = run_pipeline(
        load_pipeline(Path("p.toml")),
        Path("relout"),
        executor="dask",
        scheduler=address,
        progress=False,
    )
    assert result.outdir == project / "relout"
    assert (project / "relout" / "moved" / "000.npy").is_file()
    # A failing task names the worker, the step, the task and its sweep values.
    text = (
        PIPELINE
        + '\n[steps.tiny]\nop = "downsample"\ninputs = { image = "moved" }\nwith = { factor = 100000 }\n'
    )
    (project / "p.toml").write_text(text)
    with pytest.raises(TaskFailed) as raised:
        run_pipeline(
            load_pipeline(project / "p.toml"),
            project / "out",
            executor="dask",
            scheduler=address,
            progress=False,
        )
    message = str(raised.value)
    assert "step 'tiny' task" in message and "dy=" in message  # the sweep values it maps over
    assert "worker 'w1' (tcp://127.0.0.1:" in message and "factor must be in" in message
    assert raised.value.exit_code == 1


def test_zero_workers_wait_then_a_clear_error_and_scheduler_loss_says_what_was_kept(
    project: Path, cluster: Cluster
) -> None:
    address = cluster.scheduler()
    started = time.monotonic()
    with pytest.raises(LaminaError, match=r"no Dask worker joined the scheduler .* within 2 s"):
        run_pipeline(
            load_pipeline(project / "p.toml"),
            project / "out",
            executor="dask",
            scheduler=address,
            worker_timeout=2,
            progress=False,
        )
    assert 2 <= time.monotonic() - started < 30
    # Larger frames: the run must last long enough to lose its scheduler midway.
    big = np.random.default_rng(8).random((512, 512, 3)).astype(np.float32)
    np.save(project / "image.npy", big)
    cluster.worker("w1")
    cluster.wait_for(address, 1)
    log = project / "out" / "run.log"

    def killer() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if log.is_file() and log.read_text().count(" computed ") >= 4:
                cluster.kill("scheduler")
                return
            time.sleep(0.02)

    thread = threading.Thread(target=killer)
    thread.start()
    with pytest.raises(
        LaminaError, match=r"lost the Dask scheduler .* results were kept"
    ) as raised:
        run_pipeline(
            load_pipeline(project / "p.toml"),
            project / "out",
            executor="dask",
            scheduler=address,
            progress=False,
        )
    thread.join()
    kept = int(str(raised.value).split(" of ")[0].rsplit(" ", 1)[-1])
    assert kept >= 4
    resumed = run_pipeline(load_pipeline(project / "p.toml"), project / "out", progress=False)
    assert resumed.cached >= kept


def test_workers_without_lamina_or_a_plugin_are_named_and_late_joiners_get_no_work(
    project: Path, cluster: Cluster, tmp_path: Path
) -> None:
    shadow = tmp_path / "shadow" / "lamina"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('lamina is not installed here')\n")
    address = cluster.scheduler()
    cluster.worker("bare", {"PYTHONPATH": str(shadow.parent)})
    cluster.wait_for(address, 1)
    with pytest.raises(
        PluginError, match=r"worker 'bare' \(tcp://127\.0\.0\.1:\d+\) cannot run lamina"
    ):
        run_pipeline(
            load_pipeline(project / "p.toml"),
            project / "out",
            executor="dask",
            scheduler=address,
            progress=False,
        )
    cluster.worker("good")
    cluster.wait_for(address, 2)
    result = run_pipeline(
        load_pipeline(project / "p.toml"),
        project / "out",
        executor="dask",
        scheduler=address,
        progress=False,
    )
    log = (project / "out" / "run.log").read_text()
    assert "worker 'bare'" in log and "it gets no tasks" in log
    assert result.cached == 0 and "worker='worker \\'bare\\'" not in log
    import json

    workers = {
        t["worker"] for t in json.loads((project / "out" / "provenance.json").read_text())["tasks"]
    }
    assert all("good" in str(w) for w in workers)


def test_a_fully_stored_dask_run_starts_no_cluster(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = load_pipeline(project / "p.toml")
    run_pipeline(pipeline, project / "out", progress=False)
    import distributed

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cluster was started")

    monkeypatch.setattr(distributed, "LocalCluster", refuse)
    again = run_pipeline(pipeline, project / "out", executor="dask", progress=False)
    assert again.cached == again.tasks


# The whole demo, reduced to keep the three runs bounded: renders at 128x128
# instead of 384x384 and the VAE trained for 3 epochs instead of 30 (each step's
# code is the same; the learners' tables and fits are smaller or shorter).
DEMO_REDUCED = {"size = [384, 384]": "size = [128, 128]", "max_epochs = 30": "max_epochs = 3"}


# What may differ between runs of the same pipeline, each with why; everything
# else in the output folder must be the same bytes.
NOT_COMPARED = {
    "run.log": "a line per task with its worker and seconds, and the time of day",
    "report.html": "shows each step's seconds and the output folder; every picture and "
    "number in it is an output file compared here",
    ".lamina-cache/index.json": "each task's seconds and worker, each output's mtime",
}
VARYING_FIELDS = {
    "seconds": "a rendering's time (its .json, its stored result) and a step's time in "
    "metrics.json",
    "budget": "a renderer's memory budget: the memory available when it ran",
    "outdir": "metrics.json names the output folder, a different one per run here",
    "report": "metrics.json names the report, inside that folder",
    "executor": "metrics.json and provenance.json name the executor",
    "finished": "provenance.json: the time the run finished",
    "worker": "provenance.json: where each task ran",
    "fit_seconds": "a learner's fitting time (cross_validate, fit_generative)",
    "predict_seconds": "a learner's prediction time (cross_validate)",
}


def _without_varying(value: object) -> object:
    """``value`` with the fields of VARYING_FIELDS left out (arrays as their bytes)."""
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: _without_varying(v) for k, v in value.items() if k not in VARYING_FIELDS}
    if isinstance(value, (list, tuple)):
        return [_without_varying(v) for v in value]
    if isinstance(value, np.ndarray):
        return (value.dtype.str, value.shape, value.tobytes())
    return value


def _difference(a: object, b: object, where: str = "") -> str:
    """Where two decoded values first differ, for the failure message."""
    if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        return next((_difference(a[k], b[k], f"{where}/{k}") for k in a if a[k] != b[k]), where)
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return next(
            (
                _difference(x, y, f"{where}[{i}]")
                for i, (x, y) in enumerate(zip(a, b, strict=True))
                if x != y
            ),
            where,
        )
    return f"{where}: {str(a)[:60]} != {str(b)[:60]}"


def _contents(folder: Path) -> dict[str, object]:
    import json

    found: dict[str, object] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        if name in NOT_COMPARED:
            continue
        data = path.read_bytes()
        if name.endswith(PACK):
            continue  # named by time, records in finishing order: compared by key below
        if name.endswith(".json"):
            found[name] = _without_varying(json.loads(data))
        else:
            found[name] = data
    cache = Cache(folder / CACHE)
    for entry in cache.read_index()["tasks"].values():
        # A stored rendering holds its stats, seconds included.
        found[f"stored {entry['key']}"] = _without_varying(cache.load(entry["key"]))
    assert not cache.damaged
    return found


def test_the_whole_demo_gives_the_same_bytes_on_every_executor(
    tmp_path: Path, cluster: Cluster
) -> None:
    from lamina.pipeline.cli import DEMO

    pytest.importorskip("torch")  # the demo's VAE step
    text = DEMO.read_text()
    for before, after in DEMO_REDUCED.items():
        assert before in text, before
        text = text.replace(before, after)
    project = tmp_path / "demo"
    project.mkdir()
    (project / "demo.toml").write_text(text)
    (project / "demo_scene.toml").write_bytes(DEMO.with_name("demo_scene.toml").read_bytes())
    pipeline = load_pipeline(project / "demo.toml")

    local = run_pipeline(pipeline, project / "local", progress=False)
    run_pipeline(pipeline, project / "cluster", executor="dask", workers=2, progress=False)
    address = cluster.scheduler()
    for name in ("w1", "w2"):
        cluster.worker(name)
    cluster.wait_for(address, 2)
    remote = run_pipeline(
        pipeline, project / "loopback", executor="dask", scheduler=address, progress=False
    )
    expected = _contents(project / "local")
    assert len(expected) > 100 and all(not s.skipped for s in local.steps.values())
    assert remote.cached == 0 and all(not s.skipped for s in remote.steps.values())
    assert {"naive_bayes", "cn2", "vae"} <= remote.steps.keys()
    for other in ("cluster", "loopback"):
        found = _contents(project / other)
        assert found.keys() == expected.keys(), other
        differ = [
            f"{name} {_difference(expected[name], found[name])}"
            for name in expected
            if found[name] != expected[name]
        ]
        assert not differ, f"{other}: {differ[:10]}"
