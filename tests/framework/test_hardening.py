"""Issue #16, the cross-cutting cases: each as a user meets it, through the
command line in a subprocess (exit status and first line of stderr asserted).

Cases owned elsewhere have their own tests: plugin isolation in
test_host_safety.py, pipelines in test_pipeline_safety.py, the learners, the
renderer's scene files and sub-pixel estimation in their plugins' folders.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from lamina.clitools import error_line, parse_size
from lamina.errors import InputError, shorten_list
from lamina.io import read_image, remove_stale_parts, write_image
from lamina.limits import LIMITS, MAX_IMAGE_SIDE, markdown_table
from lamina.memory import MemoryLimitError, check_allocation, memory_budget

ROOT = Path(__file__).resolve().parents[2]
_MAIN = "import sys; from lamina.cli import main; sys.exit(main(prog_name='lamina'))"
PART = re.compile(r"^\..+\.part$")


def lamina(
    *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """Run ``lamina ARGS`` in a fresh process: exit status, first stderr line, all of stderr."""
    done = subprocess.run(
        [sys.executable, "-c", _MAIN, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    return done.returncode, (lines[0] if lines else ""), done.stderr


def start_lamina(*args: str | Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _MAIN, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float) -> tuple[str, str]:
    """``communicate``, killing the process if it outlives ``timeout`` (a child that
    ignored the signal must not keep running, and allocating, after the test)."""
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise


def parts(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if PART.match(p.name))


@pytest.fixture(scope="module")
def camera(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from skimage import data

    path = tmp_path_factory.mktemp("camera") / "camera.png"
    iio.imwrite(path, data.camera())
    return path


@pytest.fixture
def frames(tmp_path: Path) -> Path:
    """Four 300 x 300 colour images: a few seconds of `resize --scale 5` in all."""
    folder = tmp_path / "frames"
    folder.mkdir()
    rng = np.random.default_rng(16)
    for index in range(4):
        iio.imwrite(folder / f"f{index}.png", (rng.random((300, 300, 3)) * 255).astype(np.uint8))
    return folder


# Item 4 and "one limits table": sizes fail fast, with the size, the estimate and the fix.


def test_resize_scale_beyond_the_side_limit_fails_fast(camera: Path, tmp_path: Path) -> None:
    # Was: 10.4 GB and 53 s, then an ArrayMemoryError in the PNG write.
    status, first, _ = lamina("resize", camera, tmp_path / "o.png", "--scale", "100")
    assert status == 2
    assert first.startswith("lamina: error: factor 100.0 turns 512 x 512 pixels into 51200 x")
    assert "GiB" in first and str(MAX_IMAGE_SIDE) in first and "smaller factor" in first
    assert list(tmp_path.iterdir()) == []


def test_resize_scale_and_size_share_the_cap(camera: Path, tmp_path: Path) -> None:
    too_big = f"{MAX_IMAGE_SIDE + 1}x16"
    status, first, _ = lamina("resize", camera, tmp_path / "o.png", "--size", too_big)
    assert status == 2 and f"1..{MAX_IMAGE_SIDE}" in first
    factor = str((MAX_IMAGE_SIDE + 1) / 512)
    status, first, _ = lamina("resize", camera, tmp_path / "o.png", "--scale", factor)
    assert status == 2 and f"at most {MAX_IMAGE_SIDE} per side" in first


def test_resize_memory_guard_names_size_estimate_and_fix(camera: Path, tmp_path: Path) -> None:
    # 8192 x 8192 float32 and its working copies: well over 64 MiB.
    status, first, _ = lamina(
        "resize", camera, tmp_path / "o.png", "--scale", "16", env={"LAMINA_MEMORY_LIMIT": "64M"}
    )
    assert status == 2
    assert "resizing 512 x 512 to 8192 x 8192 needs about" in first
    assert "LAMINA_MEMORY_LIMIT=64M" in first and "choose a smaller shape" in first
    assert list(tmp_path.iterdir()) == []


def test_render_size_above_the_renderer_limit_is_refused_by_the_cli(tmp_path: Path) -> None:
    # Was: 32768x32768 passed the CLI check and the renderer refused it (16384).
    scene = ROOT / "examples" / "scenes" / "nested.toml"
    status, first, _ = lamina("render", scene, "-o", tmp_path / "o.png", "--size", "32768x32768")
    assert status == 2 and f"1..{MAX_IMAGE_SIDE}" in first and "MAX_IMAGE_SIDE" in first


def test_parse_size_reads_the_limits_table() -> None:
    assert parse_size(f"{MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE}") == (MAX_IMAGE_SIDE, MAX_IMAGE_SIDE)
    for text in (f"{MAX_IMAGE_SIDE + 1}x1", f"1x{MAX_IMAGE_SIDE + 1}", "0x5", "5x"):
        with pytest.raises(InputError, match="WIDTHxHEIGHT"):
            parse_size(text)


def test_readme_limits_table_is_lamina_limits() -> None:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- limits:[^\n]*-->\n(.*?)\n<!-- /limits -->", readme, re.DOTALL)
    assert match is not None, "README.md lost its <!-- limits --> markers"
    assert match.group(1) == markdown_table(), (
        "README's Limits table differs from lamina.limits: paste `python -m lamina.limits`"
    )
    assert all(f"`{name}`" in match.group(1) for name in LIMITS)


def test_write_image_goes_through_the_memory_guard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAMINA_MEMORY_LIMIT", "1M")
    with pytest.raises(MemoryLimitError, match=r"writing a 600 x 600 image.*LAMINA_MEMORY_LIMIT"):
        write_image(tmp_path / "big.png", np.zeros((600, 600), np.float32))
    assert list(tmp_path.iterdir()) == []


def test_memory_budget_is_the_smallest_of_its_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAMINA_MEMORY_LIMIT", "2M")
    assert memory_budget() == (2 * 2**20, "LAMINA_MEMORY_LIMIT=2M")
    assert memory_budget(limit=1000, limit_name="memory_limit") == (1000, "memory_limit=1000")
    assert memory_budget(limit=2**40)[0] == 2 * 2**20
    check_allocation(2 * 2**20, what="exactly the budget", fix="none needed")
    with pytest.raises(MemoryLimitError, match=r"about 2 MiB.*1.95 KiB allowed"):
        check_allocation(2 * 2**20 + 1, what="x", fix="y", limit=2000)


def test_a_small_request_reuses_the_last_reading_of_the_machine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Requests under 1/1024 of the last budget skip re-reading the machine, however old
    # the reading; larger ones read it, and explicit limits always count as they are now.
    import psutil

    from lamina import memory

    reads = []
    real = psutil.virtual_memory
    monkeypatch.setattr(psutil, "virtual_memory", lambda: reads.append(1) or real())
    monkeypatch.delenv("LAMINA_MEMORY_LIMIT", raising=False)
    monkeypatch.setattr(memory, "_REREAD_S", 0.0)  # every reading is stale at once
    budget = memory_budget()[0]
    assert len(reads) == 1
    small = budget // 1024
    check_allocation(small, what="a small request", fix="none needed")
    assert len(reads) == 1
    check_allocation(2 * small, what="a larger one", fix="none needed")
    assert len(reads) == 2
    with pytest.raises(MemoryLimitError, match="memory_limit=10"):
        check_allocation(small, what="x", fix="y", limit=10)
    monkeypatch.setenv("LAMINA_MEMORY_LIMIT", "1K")
    with pytest.raises(MemoryLimitError, match="LAMINA_MEMORY_LIMIT=1K"):
        check_allocation(2**11, what="x", fix="y")


def _address_space(limit: int) -> Callable[[], None]:
    def apply() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))

    return apply


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS as Linux enforces it")
def test_the_guard_sees_an_address_space_limit(camera: Path, tmp_path: Path) -> None:
    # The runs were under `ulimit -v`: the guard must count it, not only free RAM.
    code = "from lamina.memory import memory_budget; print(memory_budget()[0])"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        preexec_fn=_address_space(2**30),
        check=True,
    )
    assert int(done.stdout) < 2**30
    colour = tmp_path / "colour.png"
    write_image(colour, np.zeros((512, 512, 3), np.float32))
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _MAIN,
            "resize",
            str(colour),
            str(tmp_path / "o.png"),
            "--scale",
            "32",
        ],
        capture_output=True,
        text=True,
        preexec_fn=_address_space(2 * 2**30),
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("lamina: error: resizing 512 x 512 to 16384 x 16384 needs about")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["colour.png"]


# Item 10: interrupted work leaves nothing behind.


def test_files_of_a_killed_writer_are_removed_by_the_next_run(camera: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    # A writer killed (SIGKILL: no clean-up runs) in the middle of a file.
    code = (
        "import sys, time; from lamina.io import atomic_write\n"
        "with atomic_write(sys.argv[1]) as handle:\n"
        "    handle.write(b'half'); handle.flush(); print('writing', flush=True); time.sleep(60)\n"
    )
    writer = subprocess.Popen(
        [sys.executable, "-c", code, str(out / "camera.png")], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None and writer.stdout.readline().strip() == "writing"
    writer.kill()
    writer.communicate(timeout=30)
    [left] = parts(out)
    assert left.startswith(f".camera.png.{writer.pid}.")
    status, _, stderr = lamina("resize", camera, out, "--scale", "0.5")
    assert status == 0, stderr
    assert parts(out) == [] and [p.name for p in out.iterdir()] == ["camera.png"]
    assert read_image(out / "camera.png")[0].shape == (256, 256)


@pytest.mark.slow
def test_sigkill_during_a_folder_resize_then_a_rerun_leaves_only_whole_files(
    frames: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    for delay in (1.2, 2.4):
        process = start_lamina("resize", frames, out, "--scale", "5")
        time.sleep(delay)
        process.kill()
        process.communicate(timeout=30)
    status, _, stderr = lamina("resize", frames, out, "--scale", "5")
    assert status == 0, stderr
    assert parts(out) == []
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in frames.iterdir())
    for path in out.iterdir():
        assert read_image(path)[0].shape == (1500, 1500, 3)


@pytest.mark.parametrize(
    ("signum", "status", "word"),
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
)
def test_interrupt_exits_naming_what_was_kept(
    frames: Path, tmp_path: Path, signum: int, status: int, word: str
) -> None:
    out = tmp_path / "out"
    process = start_lamina("resize", frames, out, "--scale", "5")
    deadline = time.monotonic() + 60
    while not (out / "f0.png").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signum)
    _, stderr = finish(process, 30)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert process.returncode == status, stderr
    assert re.fullmatch(
        rf"lamina: {word}; \d+ files? finished and kept: .*f0\.png.*; "
        "(any file still being written was discarded|the work in progress did not stop "
        r"within 1 s and was abandoned, its partial files removed)",
        lines[-1],
    ), stderr
    assert parts(out) == []
    for path in out.iterdir():
        assert read_image(path)[0].shape == (1500, 1500, 3)


def test_interrupt_ends_work_python_cannot_interrupt(tmp_path: Path) -> None:
    # LAPACK gives the signal handler no Python frame to run in; the command must
    # still end promptly after Ctrl-C, its half-written file removed (the grace is
    # shortened so that the test is quick).
    code = (
        "import sys, numpy as np; import lamina.clitools as c; from lamina.io import atomic_write\n"
        "c.STOP_GRACE = 0.05; a = np.random.default_rng(0).random((1500, 1500))\n"
        "def work():\n"
        "    with atomic_write(sys.argv[1]) as handle:\n"
        "        handle.write(b'half'); print('go', flush=True)\n"
        "        [np.linalg.svd(a) for _ in range(1000)]\n"
        "c.standalone(work)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path / "out.npy")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "go"
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    _, stderr = finish(process, 60)
    assert process.returncode == 130, stderr
    assert stderr.strip().startswith("lamina: interrupted; no file was written; ")
    assert list(tmp_path.iterdir()) == []


def test_remove_stale_parts_spares_live_writers_and_other_files(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(dead.stdout)
    names = [
        f".a.png.{dead_pid}.x1y2.part",  # a killed writer's: removed
        f".b.png.{os.getpid()}.z3.part",  # a live writer's: kept
        ".c.png.part",  # not lamina's pattern: kept
        "d.png",
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    removed = remove_stale_parts(tmp_path)
    assert [p.name for p in removed] == [names[0]]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[1:])


# Item 11: silent surprises, each now one line and exit status 2.


def test_missing_output_folder_is_refused_not_created(camera: Path, tmp_path: Path) -> None:
    target = tmp_path / "nonexistent_dir" / "deeper" / "x.png"
    status, first, _ = lamina("resize", camera, target, "--scale", "2")
    assert status == 2
    assert first == (
        f"lamina: error: OUTPUT {str(target)!r}: folder {str(target.parent)!r} does not exist; "
        "create it first"
    )
    assert not (tmp_path / "nonexistent_dir").exists()


def test_render_output_in_a_missing_folder_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "nonexistent_dir" / "x.png"
    status, first, _ = lamina("render", "procedural:stacked_quads:2", "-o", target, "--size", "8x8")
    assert status == 2 and "does not exist; create it first" in first
    assert not target.parent.exists()


def test_several_inputs_never_make_a_folder_named_like_a_file(camera: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.png"
    other.write_bytes(camera.read_bytes())
    status, first, _ = lamina("resize", camera, other, tmp_path / "x.png", "--scale", "0.5")
    assert status == 2 and "OUTPUT must be a folder" in first and "'x.png'" not in first[:20]
    assert not (tmp_path / "x.png").exists()


def test_bit_depth_16_is_refused_for_npy(camera: Path, tmp_path: Path) -> None:
    status, first, _ = lamina(
        "resize", camera, tmp_path / "o.npy", "--scale", "0.5", "--bit-depth", "16"
    )
    assert status == 2
    assert (
        first == "lamina: error: --bit-depth 16 needs .png or .tif outputs; .npy images are float32"
    )
    with pytest.raises(InputError, match="bit depth 16"):
        write_image(tmp_path / "o.npy", np.zeros((2, 2), np.float32), bit_depth=16)
    assert list(tmp_path.iterdir()) == []


def test_sixteen_bit_input_to_npy_is_float32(tmp_path: Path) -> None:
    source = tmp_path / "in.png"
    write_image(source, np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8), bit_depth=16)
    status, _, stderr = lamina("resize", source, tmp_path / "o.npy", "--scale", "2")
    assert status == 0, stderr
    assert np.load(tmp_path / "o.npy").dtype == np.float32


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("resize", "--bogus"), "No such option '--bogus'"),
        (("resize",), "Missing argument"),
        (("nosuchcommand",), "No such command 'nosuchcommand'"),
        (("approximate", "x", "--points", "0"), "--points"),
        (("approximate", "x", "--grid", "0"), "--grid"),
    ],
)
def test_usage_errors_are_one_line(args: tuple[str, ...], message: str) -> None:
    status, first, stderr = lamina(*args)
    assert status == 2
    assert stderr.count("\n") == 1 and first.startswith("lamina: error: ") and message in first


def test_overlong_messages_are_shortened(tmp_path: Path) -> None:
    columns = [f"feature_{i:05d}" for i in range(5000)]
    table = tmp_path / "wide.csv"
    table.write_text(",".join([*columns, "label"]) + "\n" + ",".join(["1"] * 5000 + ["a"]) + "\n")
    status, first, stderr = lamina("learn", "cn2", "--data", table, "--target", "nosuch")
    assert status == 2 and stderr.count("\n") == 1
    assert "no target column 'nosuch'" in first and "and 4,993 more" in first
    assert len(first) < 400


def test_error_line_and_shorten_list() -> None:
    assert error_line("a\n\n  b  \n") == "a; b"
    long = error_line("x" * 100_000)
    assert len(long) < 900 and "characters left out" in long
    assert shorten_list(range(3)) == "0, 1, 2"
    assert shorten_list(range(20), limit=2) == "0, 1 and 18 more"


def test_progress_off_a_terminal_is_plain_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lamina import progress

    monkeypatch.setattr(progress, "LINE_EVERY", 0.0)
    assert list(progress.track(iter("ab"), description="work")) == ["a", "b"]
    assert capsys.readouterr().err == "lamina: work: 1 done\nlamina: work: 2 done\n"
    assert list(progress.track(["a", "b"], description="work")) == ["a", "b"]
    assert capsys.readouterr().err == "lamina: work: 1/2 done\n"  # not the last
    monkeypatch.setattr(progress, "LINE_EVERY", 3600.0)
    assert list(progress.track([1, 2, 3], description="work")) == [1, 2, 3]
    assert capsys.readouterr().err == ""


# Properties of the shared pieces, over seeded grids a reviewer can widen.

GRID = np.random.default_rng(1616)


def test_check_allocation_refuses_exactly_above_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    import psutil

    from lamina import memory

    # A machine with plenty free, so the budget is LAMINA_MEMORY_LIMIT exactly.
    monkeypatch.setattr(psutil, "virtual_memory", lambda: types.SimpleNamespace(available=2**62))
    monkeypatch.setattr(memory, "_process_limits", list)
    for _ in range(200):
        budget = int(GRID.integers(1, 2**50))
        monkeypatch.setenv("LAMINA_MEMORY_LIMIT", str(budget))
        allowed = memory_budget()[0]
        assert allowed == budget
        check_allocation(allowed, what="w", fix="f")
        with pytest.raises(MemoryLimitError, match=r"^w needs about .* allowed \(.*\); f$"):
            check_allocation(allowed + 1, what="w", fix="f")


def test_parse_bytes_reads_every_suffix() -> None:
    from lamina.memory import format_bytes, parse_bytes

    for _ in range(200):
        value = int(GRID.integers(1, 10**6))
        suffix, scale = [("", 1), ("K", 2**10), ("M", 2**20), ("G", 2**30), ("T", 2**40)][
            int(GRID.integers(5))
        ]
        for text in (f"{value}{suffix}", f"{value} {suffix.lower()}iB" if suffix else str(value)):
            assert parse_bytes(text) == value * scale
        assert format_bytes(value * scale).split()[-1] in {"B", "KiB", "MiB", "GiB", "TiB"}
    for bad in ("", "-1", "1X", "G", "1e9", "0"):
        with pytest.raises(InputError, match="LAMINA_MEMORY_LIMIT"):
            parse_bytes(bad)


def test_scaled_shapes_are_refused_exactly_beyond_the_side_limit() -> None:
    from lamina.kinds.interpolator import scaled_shape

    for _ in range(500):
        shape = tuple(int(n) for n in GRID.integers(1, 4000, 2))
        factor = float(np.exp(GRID.uniform(np.log(1e-4), np.log(100))))
        sides = [int(np.floor(n * factor + 0.5)) for n in shape]
        if min(sides) < 1 or max(sides) > MAX_IMAGE_SIDE:
            with pytest.raises(InputError, match="factor"):
                scaled_shape(shape, factor)
        else:
            assert scaled_shape(shape, factor) == tuple(sides)


def test_error_lines_are_single_short_lines() -> None:
    alphabet = np.array(list("ab \n\t;x"))
    for _ in range(300):
        text = "".join(GRID.choice(alphabet, int(GRID.integers(0, 3000))))
        line = error_line(text, limit=200)
        assert "\n" not in line and len(line) <= 200 + 60
        if "\n" not in text and len(text.strip()) <= 200 and text.strip() == text:
            assert line == text


def test_shorten_list_shows_the_first_items_and_counts_the_rest() -> None:
    for _ in range(100):
        n, limit = int(GRID.integers(0, 50)), int(GRID.integers(1, 10))
        text = shorten_list(range(n), limit=limit)
        shown = text.split(" and ")[0]
        assert shown == ", ".join(map(str, range(min(n, limit))))
        assert text.endswith(f" and {n - limit} more") == (n > limit)


def test_test_table_column_mismatch_is_one_short_line(tmp_path: Path) -> None:
    def table(name: str, columns: list[str]) -> Path:
        path = tmp_path / name
        rows = "\n".join(",".join(["1"] * len(columns) + [str(k % 2)]) for k in range(6))
        path.write_text(",".join([*columns, "y"]) + "\n" + rows + "\n")
        return path

    data = table("a.csv", [f"feature_{i:05d}" for i in range(500)])
    other = table("b.csv", [f"other_{i:05d}" for i in range(500)])
    status, first, stderr = lamina(
        "learn", "gaussian-nb", "--data", data, "--test", other, "--target", "y"
    )
    assert status == 2 and stderr.count("\n") == 1 and len(first) < 600
    assert "lacks 500 of --data's columns (feature_00000" in first and "492 more" in first
    swapped = table(
        "c.csv", ["feature_00001", "feature_00000", *[f"feature_{i:05d}" for i in range(2, 500)]]
    )
    status, first, _ = lamina(
        "learn", "gaussian-nb", "--data", data, "--test", swapped, "--target", "y"
    )
    assert status == 2
    assert "another order: column 1 is 'feature_00001', --data's is 'feature_00000'" in first


@pytest.mark.parametrize(
    "args",
    [
        ("render", "procedural:stacked_quads:2", "--size", "8x8", "-o", "{missing}/x.png"),
        ("rules", "--data", "lenses", "--output", "{missing}/rules.json"),
        ("learn", "gaussian-nb", "--data", "iris", "--save", "{missing}/model.npz"),
        ("track", "{frame}", "{frame}", "--csv", "{missing}/track.csv"),
        ("approximate", "x", "--sweep", "width", "--plot", "{missing}/plot.png"),
        ("vae", "--out", "{missing}/deeper/out", "--epochs", "1"),
        ("run", str(ROOT / "examples" / "pipelines" / "learners.toml"), "-o", "{missing}/out"),
    ],
    ids=lambda args: args[0],
)
def test_every_output_option_refuses_a_missing_folder(
    args: tuple[str, ...], camera: Path, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from lamina.cli import main

    if args[0] in ("approximate", "vae"):
        pytest.importorskip("torch")
    missing = tmp_path / "missing"
    argv = [a.format(missing=missing, frame=camera) for a in args]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("lamina: error: ") and "does not exist; create it first" in (
        result.stderr
    )
    assert not missing.exists()
