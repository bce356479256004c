"""Hostile inputs to the host and its commands that earlier reviews left over:
Ctrl-C during start-up, --channel on any image, damaged image headers, NaN and
infinity in float options, a full disk. Each case failed before its fix."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

import lamina
from lamina.cli import main
from lamina.clitools import finite_float
from lamina.errors import InputError, LaminaError
from lamina.io import read_image, write_image
from lamina.kinds.estimate import select_channel
from lamina.params import coerce_value

_SCRIPT = textwrap.dedent(
    """
    import builtins, os, signal, sys
    real_import = builtins.__import__
    def ctrl_c_at(name, *args, **kwargs):
        if name == {module!r}:
            os.kill(os.getpid(), signal.SIGINT)  # as a user's Ctrl-C, mid-import
        return real_import(name, *args, **kwargs)
    builtins.__import__ = ctrl_c_at
    from lamina.cli import main
    sys.exit(main())
    """
)


@pytest.mark.parametrize("module", ["lamina.kinds", "click"])
def test_ctrl_c_while_the_command_starts_is_one_line_and_130(tmp_path: Path, module: str) -> None:
    # A console script named lamina, as pip writes it, with Ctrl-C arriving while
    # lamina (or click, imported by lamina.cli) is still being imported.
    script = tmp_path / "lamina"
    script.write_text(_SCRIPT.format(module=module))
    done = subprocess.run(
        [sys.executable, str(script), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 130, done.stderr[-2000:]
    assert done.stderr == "lamina: interrupted while starting; no file was written\n"
    assert done.stdout == ""


def test_importing_lamina_as_a_library_leaves_sigint_alone(tmp_path: Path) -> None:
    code = "import signal, lamina; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.stdout.strip() == "True", done.stderr[-2000:]


_CHANNELS = [None, "0", "1", "2", "3", "4", "5", "-1", " 1", "1.0", "", "foo", "mean", "luminance"]


@pytest.mark.parametrize("planes", [0, 1, 2, 3, 4])
def test_every_channel_is_taken_as_documented_or_refused_naming_the_option(planes: int) -> None:
    # planes 0: an (H, W) image. Every refusal names --channel; every answer is
    # the channel the contract defines, as float32 of the image's (H, W).
    rng = np.random.default_rng(planes)
    image = rng.random((5, 7) if planes == 0 else (5, 7, planes), dtype=np.float32)
    grey = image if planes == 0 else image[:, :, 0]
    for channel in _CHANNELS:
        try:
            got = select_channel(image, channel)
        except InputError as error:
            assert "--channel" in str(error), (planes, channel, error)
            continue
        assert got.shape == (5, 7) and got.dtype == np.float32, (planes, channel)
        if planes <= 1:
            expected = grey
            assert channel in (None, "0", "mean", "luminance"), channel
        elif channel == "mean":
            expected = image[:, :, : planes - 1 if planes in (2, 4) else planes].mean(axis=2)
        elif channel == "luminance":
            expected = image[:, :, :3] @ np.array([0.2125, 0.7154, 0.0721], np.float32)
        else:
            assert channel is not None and 0 <= int(channel) < planes, channel
            expected = image[:, :, int(channel)]
        np.testing.assert_allclose(got, expected, rtol=1e-6, err_msg=f"{planes} {channel}")


@pytest.mark.parametrize("channel", ["foo", "1", "-1"])
def test_estimate_refuses_a_channel_a_grey_image_lacks(tmp_path: Path, channel: str) -> None:
    image = np.random.default_rng(0).random((32, 32), dtype=np.float32)
    paths = [tmp_path / "a.npy", tmp_path / "b.npy"]
    for path in paths:
        np.save(path, image)
    result = CliRunner().invoke(main, ["estimate", *map(str, paths), "--channel", channel])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("lamina: error: --channel") and result.stderr.count("\n") == 1


def _full_disk(monkeypatch: pytest.MonkeyPatch, code: int = errno.ENOSPC) -> None:
    real_write = os.write

    def write(fd: int, data: bytes) -> int:
        if fd > 2:  # files, not stdout or stderr
            raise OSError(code, os.strerror(code))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EIO])
def test_a_full_disk_is_a_failed_run_not_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    target = tmp_path / "out.npy"
    _full_disk(monkeypatch, code)
    with pytest.raises(LaminaError) as caught:
        write_image(target, np.zeros((4, 4), np.float32))
    assert not isinstance(caught.value, InputError) and caught.value.exit_code == 1
    assert os.strerror(code) in str(caught.value) and list(tmp_path.iterdir()) == []


def test_a_full_disk_under_a_command_exits_1_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "in.npy"
    np.save(source, np.random.default_rng(0).random((8, 8), dtype=np.float32))
    _full_disk(monkeypatch)
    result = CliRunner().invoke(
        main, ["resize", str(source), str(tmp_path / "out.npy"), "--scale", "2"]
    )
    assert result.exit_code == 1, result.output
    assert result.stderr.count("\n") == 1 and "No space left on device" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npy"]


def test_a_read_only_or_missing_place_is_still_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _full_disk(monkeypatch, errno.EROFS)
    with pytest.raises(InputError):
        write_image(tmp_path / "out.npy", np.zeros((4, 4), np.float32))


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG])
def test_a_full_disk_outside_lamina_io_is_one_line_and_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    # As a library writing its own file (a cache, an encoder's temporary file) meets it.
    # The command's own list had ENOSPC and EDQUOT only: EIO and EFBIG were tracebacks.
    import lamina.kinds.resize as resize

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code), "/tmp/cache")

    source = tmp_path / "in.npy"
    np.save(source, np.zeros((8, 8), np.float32))
    monkeypatch.setattr(resize, "write_image", full)
    result = CliRunner().invoke(
        main, ["resize", str(source), str(tmp_path / "o.npy"), "--scale", "2"]
    )
    assert result.exit_code == 1, result.output
    assert result.stderr.count("\n") == 1 and os.strerror(code) in result.stderr
    if code == errno.ENOSPC:
        assert result.stderr.startswith("lamina: error: the disk is full")


def _float_options() -> list[tuple[tuple[str, ...], str, click.ParamType]]:
    """Every float option of every lamina command (host, kinds and plugins)."""
    context = click.Context(main)
    found = []

    def walk(command: click.Command, path: tuple[str, ...]) -> None:
        if isinstance(command, click.Group):
            for name in command.list_commands(context):
                sub = command.get_command(context, name)
                if sub is not None:
                    walk(sub, (*path, name))
            return
        for param in command.params:
            if isinstance(param.type, click.types.FloatParamType):
                found.append((path, param.opts[0], param.type))

    walk(main, ())
    return found


_FLOAT_OPTIONS = _float_options()


@pytest.mark.parametrize(
    ("path", "option", "kind"),
    _FLOAT_OPTIONS,
    ids=[f"{' '.join(path)} {option}" for path, option, _ in _FLOAT_OPTIONS],
)
def test_every_float_option_refuses_nan_and_infinity(
    path: tuple[str, ...], option: str, kind: click.ParamType
) -> None:
    assert isinstance(kind, finite_float().__class__), kind  # the one mechanism
    for value in ("nan", "inf", "-inf", "NaN"):
        result = CliRunner().invoke(main, [*path, f"{option}={value}"])
        assert result.exit_code == 2, (value, result.output)
        assert result.stderr.count("\n") == 1 and option in result.stderr, result.stderr
        assert "is not a finite number" in result.stderr


def test_the_float_options_are_found() -> None:
    # The walk above must see the commands it is meant to guard.
    names = {(path, option) for path, option, _ in _FLOAT_OPTIONS}
    assert {(("render",), "--zoom"), (("resize",), "--scale"), (("track",), "--fps")} <= names


def test_a_nan_component_parameter_is_refused_naming_it() -> None:
    for value in ("nan", float("nan")):
        with pytest.raises(InputError, match=r"parameter 'cval'.*NaN"):
            lamina.create("interpolator", "bilinear", cval=value)
    assert coerce_value("inf", float) == float("inf")  # "no bound" stays a component's call


def _edited_tiff(
    tmp_path: Path, *, writer: str, width: int, height: int, keep: int | None = None
) -> Path:
    """A 64 x 64 8-bit TIFF whose header says ``width`` x ``height``, cut to ``keep`` bytes."""
    import struct

    import tifffile
    from PIL import Image

    source = tmp_path / f"{writer}.tif"
    pixels = (np.arange(64 * 64) % 251).astype(np.uint8).reshape(64, 64)
    if writer == "pillow":
        Image.fromarray(pixels).save(source)
    else:
        tifffile.imwrite(source, pixels, compression="zlib" if writer == "zlib" else None)
    data = bytearray(source.read_bytes())
    with tifffile.TiffFile(source) as tif:
        tags = {code: tif.pages[0].tags[code] for code in (256, 257)}
    for code, value in ((256, width), (257, height)):
        struct.pack_into(
            "<H" if tags[code].dtype == 3 else "<I", data, tags[code].valueoffset, value
        )
    edited = tmp_path / f"edited-{writer}.tif"
    edited.write_bytes(bytes(data[:keep]))
    return edited


@pytest.mark.parametrize("writer", ["tifffile", "pillow"])
@pytest.mark.parametrize("side", [4000, 60000])
def test_a_tiff_header_edited_to_a_huge_size_is_refused_before_allocating(
    tmp_path: Path, writer: str, side: int
) -> None:
    import tracemalloc

    path = _edited_tiff(tmp_path, writer=writer, width=side, height=side)
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match="damaged"):
            read_image(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**22, peak  # nothing of the declared size (16 MB .. 3.6 GB)


@pytest.mark.parametrize("writer", ["tifffile", "pillow", "zlib"])
def test_a_truncated_tiff_is_one_clear_error(tmp_path: Path, writer: str) -> None:
    (tmp_path / "whole").mkdir()
    whole = _edited_tiff(tmp_path / "whole", writer=writer, width=64, height=64)
    size = whole.stat().st_size
    path = _edited_tiff(tmp_path, writer=writer, width=64, height=64, keep=size - 30)
    with pytest.raises(InputError, match="damaged"):
        read_image(path)
    assert read_image(whole)[0].shape == (64, 64)


def test_a_tiff_stack_is_refused_by_its_header(tmp_path: Path) -> None:
    import tifffile

    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, np.zeros((3, 8, 8), np.uint8), photometric="minisblack")
    with pytest.raises(InputError, match=r"shape \(3, 8, 8\)"):
        read_image(path)


def test_a_png_past_pillows_pixel_limit_is_read_when_memory_allows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pillow refuses past 2 x MAX_IMAGE_PIXELS (179 megapixels: a 14k x 14k scan);
    # lamina's memory guard is the judge. A small limit stands in for the large image.
    from PIL import Image

    path = tmp_path / "big.png"
    image = np.random.default_rng(0).random((64, 64), dtype=np.float32)
    write_image(path, image)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    np.testing.assert_allclose(read_image(path)[0], np.round(image * 255) / 255, atol=1e-7)
    assert Image.MAX_IMAGE_PIXELS == 100  # given back as it was


@pytest.mark.parametrize("dtype", ["<u2", ">u2", "<u1", ">f4", "<f8", ">f2", "|b1"])
def test_either_byte_order_reads_alike(tmp_path: Path, dtype: str) -> None:
    # A big-endian '>u2' (as some writers store it) was refused as unsupported.
    native = np.dtype(dtype).newbyteorder("=")
    values = np.arange(12).reshape(3, 4) % (2 if native.kind == "b" else 7)
    path = tmp_path / "a.npy"
    np.save(path, values.astype(dtype))
    np.save(tmp_path / "b.npy", values.astype(native))
    image, depth = read_image(path)
    expected, expected_depth = read_image(tmp_path / "b.npy")
    np.testing.assert_array_equal(image, expected)
    assert depth == expected_depth and image.dtype == np.float32


@pytest.mark.parametrize("dtype", ["int8", "int16", ">i4", "uint32", "uint64", "complex64", "<U2"])
def test_an_unsupported_pixel_type_is_refused_with_the_fix(tmp_path: Path, dtype: str) -> None:
    path = tmp_path / "a.npy"
    np.save(path, np.zeros((4, 4), dtype=dtype))
    with pytest.raises(InputError, match=r"has pixel type .*convert it"):
        read_image(path)


def test_an_output_that_is_a_symlink_is_replaced_not_written_through(tmp_path: Path) -> None:
    # The link's target lies outside the folder the user named: it stays as it was.
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    victim = outside / "keep.npy"
    np.save(victim, np.ones((2, 2), np.float32))
    before = victim.read_bytes()
    folder = tmp_path / "out"
    folder.mkdir()
    link = folder / "o.npy"
    link.symlink_to(victim)
    source = tmp_path / "in.npy"
    np.save(source, np.zeros((8, 8), np.float32))
    result = CliRunner().invoke(main, ["resize", str(source), str(link), "--scale", "2"])
    assert result.exit_code == 0, result.output
    assert victim.read_bytes() == before
    assert not link.is_symlink() and read_image(link)[0].shape == (16, 16)


def test_a_users_own_script_named_lamina_keeps_its_ctrl_c(tmp_path: Path) -> None:
    # A wrapper of the user's, named lamina, that uses lamina as a library: the
    # start-up guard judged by the file name alone and exited 130 on its Ctrl-C.
    script = tmp_path / "lamina"
    script.write_text(
        textwrap.dedent(
            """
            import os, signal, time
            import lamina
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)
            except KeyboardInterrupt:
                print("handled by the script")
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert (done.returncode, done.stdout) == (0, "handled by the script\n"), done.stderr[-2000:]


def test_an_unbounded_float_option_is_a_plain_float_in_help() -> None:
    # finite_float() with no bounds showed "FLOAT RANGE ... [x<=None]"
    result = CliRunner().invoke(main, ["render", "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "None]" not in result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert lines["--opacity"].split()[1] == "FLOAT"
    assert lines["--azimuth"].split()[1] == "DEG" and "[" not in lines["--azimuth"]
    assert "[x>0]" in lines["--zoom"]  # a bounded one keeps its range
    command = click.Command("c", params=[click.Option(["--x"], type=finite_float())])
    assert "  --x FLOAT\n" in command.get_help(click.Context(command))
    with pytest.raises(click.BadParameter, match="not a finite number"):
        finite_float().convert("inf", None, None)
    assert finite_float().convert("-1e300", None, None) == -1e300


@pytest.mark.parametrize(
    ("code", "status"),
    [(errno.ENOSPC, 1), (errno.EDQUOT, 1), (errno.EIO, 1), (errno.EFBIG, 1), (errno.EACCES, 2)],
)
def test_a_pipeline_output_folder_that_cannot_be_made_exits_by_the_one_errno_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, status: int
) -> None:
    # _prepare_outdir turned a full disk into bad input (exit 2)
    from tests.framework.test_pipeline import PIPELINE

    np.save(tmp_path / "image.npy", np.zeros((32, 40), np.float32))
    (tmp_path / "shifts.toml").write_text(PIPELINE)
    real_mkdir = Path.mkdir

    def mkdir(self: Path, *args: object, **kwargs: object) -> None:
        if self.is_relative_to(tmp_path / "out"):
            raise OSError(code, os.strerror(code), str(self))
        real_mkdir(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "mkdir", mkdir)
    result = CliRunner().invoke(
        main, ["run", str(tmp_path / "shifts.toml"), "-o", str(tmp_path / "out")]
    )
    assert result.exit_code == status, result.output
    assert result.stderr.count("\n") == 1 and os.strerror(code) in result.stderr
    assert "cannot create output folder" in result.stderr
