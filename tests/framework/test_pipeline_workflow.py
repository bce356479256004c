"""What users of workflow tools expect: retries, --keep-going, --dry-run with
reasons, --only/--from/--to/--force, sweep ranges, an appended run.log,
provenance.json, plain progress lines, `lamina cache`, no stale files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from lamina import ConfigError
from lamina.cli import main
from lamina.pipeline import Selection, load_pipeline, parse_pipeline, plan_pipeline, run_pipeline
from lamina.pipeline.config import sweep_range
from lamina.pipeline.tasks import TaskFailed

PIPELINE = """
[steps.image]
op = "load"
with = { path = "image.npy" }

[steps.moved]
op = "shift"
inputs = { image = "image" }
with = { dx = 1.0 }
sweep = { dy = [0.0, 1.0, 2.0, 3.0] }

[steps.small]
op = "downsample"
inputs = { image = "moved" }
with = { factor = 2 }

[steps.error]
op = "compare"
inputs = { result = "moved", reference = "image" }
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    np.save(tmp_path / "image.npy", np.random.default_rng(5).random((16, 16)).astype(np.float32))
    (tmp_path / "p.toml").write_text(PIPELINE)
    return tmp_path


def run(project: Path, **options):  # type: ignore[no-untyped-def]
    return run_pipeline(
        load_pipeline(project / "p.toml"), project / "out", progress=False, **options
    )


def computed(result) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Tasks computed by this run, per step."""
    counts = {n: sum(v is not None for v in s.values) - s.cached for n, s in result.steps.items()}
    return {n: c for n, c in counts.items() if c}


# -- sweep ranges ---------------------------------------------------------------------------


@pytest.mark.parametrize("num", [1, 2, 3, 7, 50])
@pytest.mark.parametrize(("start", "stop"), [(0.0, 1.0), (-2.5, 3.0), (1.0, -1.0), (0.1, 0.7)])
def test_num_ranges_match_numpy_linspace(start: float, stop: float, num: int) -> None:
    values = sweep_range({"start": start, "stop": stop, "num": num})
    np.testing.assert_allclose(values, np.linspace(start, stop, num), rtol=0, atol=1e-12)
    assert values[0] == start and (num == 1 or values[-1] == stop)


@pytest.mark.parametrize(
    ("start", "stop", "step"),
    [(0, 10, 3), (0, 10, 1), (5, -5, -2), (0.0, 1.0, 0.25), (0.0, 1.0, 0.3), (2, 3, 5)],
)
def test_step_ranges_match_python_range_and_arange(start, stop, step) -> None:  # type: ignore[no-untyped-def]
    values = sweep_range({"start": start, "stop": stop, "step": step})
    expected = np.arange(start, stop, step)
    np.testing.assert_allclose(values, expected, rtol=0, atol=1e-12)
    if all(isinstance(v, int) for v in (start, stop, step)):
        assert values == list(range(start, stop, step))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"start": 0, "stop": 1}, "keys start, stop and num"),
        ({"start": 0, "stop": 1, "num": 0}, "num must be"),
        ({"start": 0, "stop": 1, "num": 10**9}, "num must be"),
        ({"start": 0, "stop": 1, "step": 0}, "never gets"),
        ({"start": 0, "stop": 1, "step": -1}, "never gets"),
        ({"start": 0, "stop": 1e12, "step": 1}, "more than"),
        ({"start": "a", "stop": 1, "num": 2}, "must be a number"),
        ({"start": 0, "stop": 1, "num": 2, "step": 1}, "keys start, stop and num"),
    ],
)
def test_bad_ranges_are_config_errors(spec: dict, message: str) -> None:
    inner = ", ".join(f"{k} = {json.dumps(v)}" for k, v in spec.items())
    text = PIPELINE.replace(
        "sweep = { dy = [0.0, 1.0, 2.0, 3.0] }", f"sweep = {{ dy = {{ {inner} }} }}"
    )
    with pytest.raises(ConfigError, match=message) as raised:
        parse_pipeline(text)
    assert raised.value.key == "steps.moved.sweep.dy"


def test_a_grid_too_large_is_refused_before_it_is_built() -> None:
    text = PIPELINE.replace(
        "sweep = { dy = [0.0, 1.0, 2.0, 3.0] }",
        "sweep = { dy = { start = 0, stop = 1, num = 1000000 }, dx = { start = 0, stop = 1, num = 1000000 } }",
    ).replace("with = { dx = 1.0 }\n", "")
    started = time.perf_counter()
    with pytest.raises(ConfigError, match="more than 1,000,000"):
        parse_pipeline(text)
    assert time.perf_counter() - started < 30  # not a timing goal: it must not build 1e12 points


def test_a_range_sweep_runs(project: Path) -> None:
    (project / "p.toml").write_text(
        PIPELINE.replace("[0.0, 1.0, 2.0, 3.0]", "{ start = 0.0, stop = 3.0, num = 4 }")
    )
    result = run(project)
    assert [p["dy"] for p in result.steps["moved"].points] == [0.0, 1.0, 2.0, 3.0]


# -- retries and --keep-going ---------------------------------------------------------------

FLAKY = """
[steps.image]
op = "load"
with = { path = "image.npy" }

[steps.bad]
op = "downsample"
inputs = { image = "image" }
sweep = { factor = [2, 100000, 4] }

[steps.after]
op = "to_grey"
inputs = { image = "bad" }

[steps.fine]
op = "downsample"
inputs = { image = "image" }
with = { factor = 4 }
retries = 2
"""


def test_keep_going_runs_every_independent_task_and_reports_all_failures(project: Path) -> None:
    (project / "p.toml").write_text(FLAKY)
    with pytest.raises(TaskFailed, match=r"2 of 7 tasks failed or could not run") as raised:
        run(project, keep_going=True)
    # bad[2] and fine are one task (same key): 7 to run, not 8.
    assert "step 'bad' task 1 (factor=100000)" in str(raised.value)
    log = (project / "out" / "run.log").read_text()
    assert "step 'after' task 1 (factor=100000) was not run: it needs bad[1], which failed" in log
    assert (project / "out" / "after" / "002.npy").is_file()
    assert (project / "out" / "fine.npy").is_file()


def test_without_keep_going_the_first_failure_stops_the_run(project: Path) -> None:
    (project / "p.toml").write_text(FLAKY)
    with pytest.raises(TaskFailed, match=r"step 'bad' task 1 \(factor=100000\)"):
        run(project)


def test_retries_rerun_a_failing_task(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import functools

    from lamina.host import get_host

    (project / "p.toml").write_text(FLAKY.replace("[2, 100000, 4]", "[2]"))
    info = get_host().operation("downsample")
    real = info.function
    failures = {"left": 2}

    @functools.wraps(real)
    def flaky(**kwargs):  # type: ignore[no-untyped-def]
        if kwargs["factor"] == 4 and failures["left"]:
            failures["left"] -= 1
            raise OSError("transient")
        return real(**kwargs)

    monkeypatch.setattr(info, "function", flaky)
    result = run(project)
    assert result.steps["fine"].values[0].shape == (4, 4)
    assert "fine[0] failed, retry 2 of 2" in (project / "out" / "run.log").read_text()


# -- selection and dry runs -----------------------------------------------------------------


def test_dry_run_says_what_runs_and_why_and_writes_nothing(project: Path) -> None:
    pipeline = load_pipeline(project / "p.toml")
    plan = plan_pipeline(pipeline, project / "out", load=False)
    assert plan.summary()["run"] == 13 and not (project / "out").exists()
    assert set(plan.run.values()) == {"new task"}
    run(project)
    (project / "p.toml").write_text(PIPELINE.replace("factor = 2", "factor = 4"))
    np.save(project / "image.npy", np.zeros((16, 16), np.float32))
    plan = plan_pipeline(load_pipeline(project / "p.toml"), project / "out", load=False)
    why = plan.summary()["steps"]
    assert why["image"]["why"] == {"changed: input file image.npy": 1}
    assert why["moved"]["why"] == {"changed: upstream results": 4}
    assert why["small"]["why"] == {"changed: parameters": 4} or why["small"]["why"] == {
        "changed: arguments, upstream results": 4
    }
    result = CliRunner().invoke(
        main, ["run", str(project / "p.toml"), "-o", str(project / "out"), "--dry-run", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["run"] == 13


def test_only_from_to_and_force(project: Path) -> None:
    first = run(project)
    assert sum(computed(first).values()) == 13
    assert computed(run(project, selection=Selection(force=("moved",)))) == {
        "moved": 4,
        "small": 4,
        "error": 4,
    }
    (project / "p.toml").write_text(PIPELINE.replace("factor = 2", "factor = 4"))
    only = run(project, selection=Selection(only=("error",)))
    assert computed(only) == {}
    assert only.steps["small"].skipped == "not selected"
    assert computed(run(project, selection=Selection(start=("small",)))) == {"small": 4}
    np.save(project / "image.npy", np.ones((16, 16), np.float32))
    assert computed(run(project, selection=Selection(to=("moved",)))) == {"image": 1, "moved": 4}


def test_only_a_step_whose_inputs_are_not_stored_is_a_config_error(project: Path) -> None:
    with pytest.raises(ConfigError, match="--only small: it needs moved"):
        run(project, selection=Selection(only=("small",)))
    with pytest.raises(ConfigError, match="did you mean 'small'"):
        run(project, selection=Selection(force=("smal",)))


# -- records --------------------------------------------------------------------------------


def test_run_log_is_appended_line_by_line_and_provenance_written(project: Path) -> None:
    run(project)
    run(project)
    lines = (project / "out" / "run.log").read_text().splitlines()
    assert sum(" run p -> " in line for line in lines) == 2
    tasks = [line for line in lines if " task moved[" in line]
    assert len(tasks) == 8
    second = next(line for line in tasks[:4] if " task moved[2] " in line)
    assert "dy=2.0" in second and "worker='local'" in second and "computed" in second
    assert tasks[-1].endswith(tasks[-1].split()[-1]) and " stored " in tasks[-1]
    provenance = json.loads((project / "out" / "provenance.json").read_text())
    assert provenance["pipeline_sha256"] and "image.npy" in provenance["input_files"]
    assert any(p.startswith("op shift: lamina==") for p in provenance["providers"])
    assert len(provenance["tasks"]) == 13
    assert provenance["tasks"][1]["values"] == {"dy": 0.0}


def test_plain_progress_lines_when_stderr_is_not_a_terminal(project: Path) -> None:
    result = CliRunner().invoke(main, ["run", str(project / "p.toml"), "-o", str(project / "o")])
    assert result.exit_code == 0, result.output
    assert "lamina: step moved: 4 tasks done" in result.stderr
    assert "lamina: error: " not in result.stderr


def test_unchanged_outputs_are_not_rewritten_and_shrunk_sweeps_leave_no_stale_files(
    project: Path,
) -> None:
    run(project)
    target = project / "out" / "moved" / "003.npy"
    before = target.stat().st_mtime_ns
    (project / "out" / "moved" / "mine.txt").write_text("a user's file")
    again = run(project)
    assert again.cached == again.tasks and target.stat().st_mtime_ns == before
    (project / "p.toml").write_text(PIPELINE.replace("[0.0, 1.0, 2.0, 3.0]", "[0.0, 1.0]"))
    run(project)
    assert sorted(p.name for p in (project / "out" / "moved").iterdir()) == [
        "000.npy",
        "000.png",
        "001.npy",
        "001.png",
        "mine.txt",
    ]
    assert not (project / "out" / "error" / "003.json").exists()


def test_stale_part_files_of_a_killed_run_are_removed(project: Path) -> None:
    (project / "out" / "moved").mkdir(parents=True)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    stale = project / "out" / "moved" / f".000.npy.{dead.stdout.strip()}.abc123.part"
    stale.write_bytes(b"half")
    fresh = project / "out" / f".x.json.{os.getpid()}.new.part"  # a live writer's
    fresh.write_bytes(b"in flight")
    run(project)
    assert not stale.exists() and fresh.exists()


def test_cache_info_and_prune(project: Path) -> None:
    run(project)
    (project / "p.toml").write_text(PIPELINE.replace("factor = 2", "factor = 4"))
    run(project)
    runner = CliRunner()
    info = runner.invoke(main, ["cache", "info", str(project / "out"), "--json"])
    assert info.exit_code == 0, info.output
    data = json.loads(info.stdout)
    assert data["entries"] == 17 and data["unused"] == 4
    pruned = runner.invoke(main, ["cache", "prune", str(project / "out"), "--json"])
    assert json.loads(pruned.stdout)["removed"] == 4
    assert run(project).cached == 13
    everything = runner.invoke(main, ["cache", "prune", str(project / "out"), "--all"])
    assert "removed 13" in everything.stdout
    missing = runner.invoke(main, ["cache", "info", str(project / "nowhere")])
    assert missing.exit_code == 2


@pytest.mark.parametrize(
    ("stop", "word", "status"), [("SIGINT", "interrupted", 130), ("SIGTERM", "terminated", 143)]
)
def test_ctrl_c_or_sigterm_stops_promptly_says_what_was_kept_and_exits_128_plus_it(
    project: Path, stop: str, word: str, status: int
) -> None:
    import signal

    np.save(project / "big.npy", np.random.default_rng(0).random((768, 768)).astype(np.float32))
    (project / "slow.toml").write_text(
        PIPELINE.replace("image.npy", "big.npy").replace(
            "[0.0, 1.0, 2.0, 3.0]", "{ start = 0.0, stop = 1.0, num = 400 }"
        )
    )
    log = project / "out" / "run.log"
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("lamina")),
            "run",
            str(project / "slow.toml"),
            "-o",
            str(project / "out"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not (log.is_file() and log.read_text().count(" computed ") >= 3):
        assert time.monotonic() < deadline and process.poll() is None, process.stderr.read()
        time.sleep(0.05)
    process.send_signal(getattr(signal, stop))
    sent = time.monotonic()
    try:
        _, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()  # one that ignored Ctrl-C must not outlive the test
        process.communicate()
        raise
    stopped = time.monotonic() - sent
    assert process.returncode == status, stderr
    lines = stderr.decode().strip().splitlines()
    # The wording of every other command's Ctrl-C or SIGTERM (lamina.clitools.standalone).
    assert re.fullmatch(
        rf"lamina: {word}; \d+ of \d+ tasks to run had finished; .* kept in .*: "
        "rerun to continue",
        lines[-1],
    ), lines
    assert sum(word in line for line in lines) == 1, lines  # one line says it
    # Nothing half-written: no temporary file is left, every output is whole.
    assert not list((project / "out").rglob("*.part"))
    for output in (project / "out").rglob("*.npy"):
        assert np.load(output).ndim == 2  # a cut-short .npy fails to load
    assert stopped < 30  # a hang guard, not the goal (the goal, < 1 s, is measured in the notes)
    resumed = plan_pipeline(load_pipeline(project / "slow.toml"), project / "out", load=False)
    assert resumed.summary()["stored"] >= 3
