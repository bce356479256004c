"""Pipelines write only inside their output folder, never two outputs to one path,
survive damaged stored results, and exit 2 (invalid) or 1 (failed run)."""

from __future__ import annotations

import itertools
import random
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
from click.testing import CliRunner

from lamina import ConfigError, InputError
from lamina.cli import main
from lamina.pipeline import load_pipeline, parse_pipeline, run_pipeline
from lamina.pipeline.cache import CACHE, PACK
from lamina.pipeline.paths import inside, relative_name

BASE = """
[steps.image]
op = "load"
with = { path = "image.npy" }

[steps.small]
op = "downsample"
inputs = { image = "image" }
with = { factor = 2 }
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    np.save(project / "image.npy", np.random.default_rng(1).random((16, 16)).astype(np.float32))
    return project


def files_outside(root: Path, allowed: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() and not p.is_relative_to(allowed)}


ESCAPING_SAVE_NAMES = [
    "../../evil_save.png",
    "../evil.png",
    "a/../../evil.png",
    "/tmp/lamina-evil.png",
    "",
    "C:/evil.png",
    "report.html",
    "run.log",
    ".lamina-cache/x.npy",
]


@pytest.mark.parametrize("name", ESCAPING_SAVE_NAMES)
def test_save_names_that_leave_the_folder_are_config_errors(workdir: Path, name: str) -> None:
    text = (
        BASE
        + f'\n[steps.keep]\nop = "save"\ninputs = {{ value = "small" }}\nwith = {{ name = "{name}" }}\n'
    )
    (workdir / "p.toml").write_text(text)
    before = set(workdir.parent.rglob("*"))
    with pytest.raises(ConfigError, match=r"output name|written by every run") as raised:
        load_pipeline(workdir / "p.toml")
    assert raised.value.key == "steps.keep.with.name"
    assert set(workdir.parent.rglob("*")) == before


@pytest.mark.parametrize("step", ["../../../evil_step", "/abs", "a/b", "a.b", "..", ""])
def test_step_names_that_are_not_plain_names_are_config_errors(step: str) -> None:
    text = BASE.replace("[steps.small]", f'[steps."{step}"]')
    with pytest.raises(ConfigError, match="step name"):
        parse_pipeline(text)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        # a save named like a saved step's own file
        (
            '[steps.s]\nop = "save"\ninputs = { value = "small" }\nwith = { name = "small.png" }',
            "also written by step 'small'",
        ),
        # two saves of one name
        (
            '[steps.s]\nop = "save"\ninputs = { value = "small" }\nwith = { name = "x.npy" }\n'
            '[steps.t]\nop = "save"\ninputs = { value = "image" }\nwith = { name = "x.npy" }',
            "also written by step 's'",
        ),
        # a save into a swept step's folder
        (
            '[steps.m]\nop = "shift"\ninputs = { image = "image" }\nwith = { dx = 1.0 }\nsweep = { dy = [0.0, 1.0] }\n'
            '[steps.s]\nop = "save"\ninputs = { value = "image" }\nwith = { name = "m/000.png" }',
            "also written by step 'm'",
        ),
        # every task of a sweep writing one file
        (
            '[steps.m]\nop = "shift"\ninputs = { image = "image" }\nwith = { dx = 1.0 }\nsweep = { dy = [0.0, 1.0] }\n'
            '[steps.s]\nop = "save"\ninputs = { value = "m" }\nwith = { name = "one.png" }',
            "all 2 tasks of this step write",
        ),
        # a swept name repeating a value
        (
            '[steps.s]\nop = "save"\ninputs = { value = "small" }\nsweep = { name = ["a.npy", "a.npy"] }',
            "also written by step 's'",
        ),
        # a step whose files would be the run's own
        (
            '[steps.metrics]\nop = "downsample"\ninputs = { image = "image" }\nwith = { factor = 4 }',
            "every run",
        ),
    ],
)
def test_two_outputs_with_one_path_are_config_errors(extra: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_pipeline(BASE + "\n" + extra + "\n")


def test_relative_names_stay_inside_on_a_seeded_grid(tmp_path: Path) -> None:
    # Property: whatever relative_name accepts, inside() resolves under the root.
    parts = ["a", "b.png", "..", ".", "", "/", "c d", "~", "x..y", "\\", "..\\.."]
    rng = random.Random(0)
    names = {"/".join(c) for n in (1, 2, 3) for c in itertools.product(parts, repeat=n)}
    names |= {"".join(rng.choice(parts) for _ in range(5)) for _ in range(300)}
    root = tmp_path / "out"
    root.mkdir()
    accepted = 0
    for name in sorted(names):
        try:
            relative = relative_name(name)
        except ValueError:
            continue
        accepted += 1
        assert ".." not in relative.parts and not PurePosixPath(relative).is_absolute()
        assert inside(root, name).is_relative_to(root.resolve()), name
    assert accepted > 50


def test_a_link_inside_the_folder_cannot_carry_a_write_outside(workdir: Path) -> None:
    elsewhere = workdir.parent / "elsewhere"
    elsewhere.mkdir()
    out = workdir / "out"
    out.mkdir()
    (out / "link").symlink_to(elsewhere)
    text = (
        BASE
        + '\n[steps.s]\nop = "save"\ninputs = { value = "small" }\nwith = { name = "link/x.npy" }\n'
    )
    (workdir / "p.toml").write_text(text)
    result = CliRunner().invoke(main, ["run", str(workdir / "p.toml"), "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert "outside the output folder" in result.stderr
    assert "step 's' task 0" in result.stderr
    assert list(elsewhere.iterdir()) == []


def test_a_sweep_folder_that_is_a_link_elsewhere_gets_no_file(workdir: Path) -> None:
    # A sweep's files go in a folder named after the step; it is resolved once per
    # run (not per file), and must still lie inside the output folder.
    elsewhere = workdir.parent / "elsewhere"
    elsewhere.mkdir()
    (workdir / "out").mkdir()
    (workdir / "out" / "small").symlink_to(elsewhere)
    text = BASE.replace("factor = 2 }", "factor = 2 }\nsweep = { factor = [2, 4] }")
    text = text.replace("with = { factor = 2 }\n", "")
    (workdir / "p.toml").write_text(text)
    result = CliRunner().invoke(main, ["run", str(workdir / "p.toml"), "-o", str(workdir / "out")])
    assert result.exit_code == 2, result.output
    assert "outside the output folder" in result.stderr
    assert list(elsewhere.iterdir()) == []


def _flip(data: bytes, *positions: int) -> bytes:
    changed = bytearray(data)
    for position in positions:
        changed[position] ^= 0x5A
    return bytes(changed)


def _after(data: bytes, key: str, offset: int) -> int:
    """A position ``offset`` bytes after where ``key`` is written in a pack."""
    return data.index(key.encode()) + len(key) + offset


# Damage done to the run's pack of stored results (keys are the two tasks' keys,
# image's first, as it finished first): (damage, reports, results recomputed).
DAMAGE = {
    "emptied": (lambda data, keys: b"", 0, 2),  # as a run killed before its first result
    "filled with garbage": (lambda data, keys: b"garbage" * (len(data) // 7), 1, 2),
    "cut short": (lambda data, keys: data[:-10], 1, 1),
    "stray bytes at the end": (lambda data, keys: data + b"junk" * 9, 1, 0),
    "a header's bytes changed": (lambda data, keys: _flip(data, _after(data, keys[0], -70)), 1, 1),
    "both payloads changed": (
        lambda data, keys: _flip(data, *(_after(data, k, 40) for k in keys)),
        2,
        2,
    ),
    "last payload byte changed": (lambda data, keys: _flip(data, len(data) - 1), 1, 1),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_stored_result_is_reported_once_and_recomputed(
    workdir: Path, damage: str
) -> None:
    import json

    change, reports, recomputed = DAMAGE[damage]
    (workdir / "p.toml").write_text(BASE)
    pipeline = load_pipeline(workdir / "p.toml")
    first = run_pipeline(pipeline, workdir / "out", progress=False)
    packs = sorted((workdir / "out" / CACHE).glob(f"*{PACK}"))
    assert len(packs) == 1
    index = json.loads((workdir / "out" / CACHE / "index.json").read_text())
    keys = [index["tasks"][label]["key"] for label in ("image[0]", "small[0]")]
    packs[0].write_bytes(change(packs[0].read_bytes(), keys))
    again = run_pipeline(pipeline, workdir / "out", progress=False)
    assert again.tasks - again.cached == recomputed
    np.testing.assert_array_equal(again.steps["small"].values[0], first.steps["small"].values[0])
    log = (workdir / "out" / "run.log").read_text()
    assert log.count("discarded a damaged stored result") == reports
    third = run_pipeline(pipeline, workdir / "out", progress=False)
    assert third.cached == third.tasks
    assert (workdir / "out" / "run.log").read_text().count("discarded a damaged") == reports


@pytest.mark.parametrize("seed", range(3))
def test_seeded_random_damage_never_gives_a_wrong_result_and_is_reported_once(
    tmp_path: Path, seed: int
) -> None:
    # Cuts, bit flips and inserted bytes anywhere in a pack of six records.
    from lamina.pipeline.cache import MISSING, Cache

    values = {f"key{i}": np.arange(i + 3.0) for i in range(6)}
    cache = Cache(tmp_path)
    for key, value in values.items():
        cache.store(key, value)
    cache.close()
    (pack,) = tmp_path.glob(f"*{PACK}")
    sound, rng = pack.read_bytes(), np.random.default_rng(seed)
    for trial in range(60):
        data = bytearray(sound)
        if trial % 3 == 0:
            del data[rng.integers(len(data)) :]
        elif trial % 3 == 1:
            for position in rng.integers(len(data), size=rng.integers(1, 6)):
                data[position] ^= 1 << rng.integers(8)
        else:
            at = rng.integers(len(data))
            data[at:at] = rng.bytes(rng.integers(1, 40))
        pack.write_bytes(bytes(data))
        damaged = Cache(tmp_path)
        for key, value in values.items():
            found = damaged.load(key)
            assert found is MISSING or np.array_equal(found, value), (trial, key)
        damaged.repair()
        repaired = Cache(tmp_path)
        for key in values:
            repaired.load(key)
        assert repaired.damaged == [], trial
        for leftover in tmp_path.glob(f"*{PACK}"):
            leftover.unlink()
        pack.write_bytes(sound)


def test_exit_status_2_for_invalid_and_1_for_a_failed_run_naming_the_step(
    workdir: Path,
) -> None:
    runner = CliRunner()
    (workdir / "bad.toml").write_text(BASE.replace("factor = 2", 'factor = "two"'))
    invalid = runner.invoke(main, ["run", str(workdir / "bad.toml"), "-o", str(workdir / "o")])
    assert invalid.exit_code == 2
    assert invalid.stderr.startswith("lamina: error:") and invalid.stderr.count("\n") == 1
    (workdir / "fails.toml").write_text(BASE.replace("factor = 2", "factor = 100000"))
    failed = runner.invoke(main, ["run", str(workdir / "fails.toml"), "-o", str(workdir / "o")])
    assert failed.exit_code == 1, failed.output
    lines = [line for line in failed.stderr.splitlines() if line.startswith("lamina: error:")]
    assert len(lines) == 1
    assert "step 'small' task 0" in lines[0] and "factor must be in 1..16" in lines[0]
    assert "on local" in lines[0]
    log = (workdir / "o" / "run.log").read_text()
    assert "Traceback" in log and "downsample" in log


def test_runtime_write_outside_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a relative path"):
        inside(tmp_path, "/etc/passwd")


def test_an_edited_index_cannot_remove_or_skip_files_outside(workdir: Path) -> None:
    import json

    victim = workdir.parent / "victim.txt"
    victim.write_text("keep me")
    stat = victim.stat()
    (workdir / "p.toml").write_text(BASE)
    pipeline = load_pipeline(workdir / "p.toml")
    run_pipeline(pipeline, workdir / "out", progress=False)
    (workdir / "out" / "up").symlink_to(workdir.parent)
    index_path = workdir / "out" / CACHE / "index.json"
    index = json.loads(index_path.read_text())
    entry = {"task": "gone[0]", "key": "x", "stat": [stat.st_size, stat.st_mtime_ns]}
    index["outputs"].update({"../../victim.txt": entry, "up/victim.txt": entry, "/x": 3})
    index["tasks"]["small[0]"] = "garbage"
    index_path.write_text(json.dumps(index))
    again = run_pipeline(pipeline, workdir / "out", progress=False)
    assert victim.read_text() == "keep me"
    assert again.cached == again.tasks
    index_path.write_text("{not json")
    assert run_pipeline(pipeline, workdir / "out", progress=False).cached == 2
