"""``lamina resize``: resize PNG/TIFF/NPY image files with any interpolator
(the interpolator kind's generic command)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

import lamina
from lamina.clitools import (
    check_output_file,
    check_output_folder,
    emit_json,
    finite_float,
    json_option,
    parse_settings,
    parse_size,
    print_table,
)
from lamina.clitools import set_option as settings_option
from lamina.errors import InputError
from lamina.io import IMAGE_SUFFIXES, read_image, write_image
from lamina.kinds.interpolator import DEFAULT, scaled_shape
from lamina.progress import track

__all__ = ["resize"]


def _expand_inputs(paths: Iterable[Path]) -> tuple[list[Path], bool]:
    """Input files, folders expanded to their image files (sorted, not recursive).

    Returns the files and whether a folder was among the inputs.
    """
    files: list[Path] = []
    had_folder = False
    for path in paths:
        if path.is_dir():
            had_folder = True
            found = sorted(
                p
                for p in path.iterdir()
                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
            )
            if not found:
                raise InputError(
                    f"folder {str(path)!r} holds no images ({', '.join(IMAGE_SUFFIXES)})"
                )
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise InputError(f"input {str(path)!r} does not exist")
    return files, had_folder


def _plan_outputs(inputs: list[Path], output: Path, batch: bool) -> list[tuple[Path, Path]]:
    """Pair every input with its output path, refusing clashes before any work."""
    if batch:
        if output.exists() and not output.is_dir():
            raise InputError(
                f"with several inputs or a folder, OUTPUT must be a folder; "
                f"{str(output)!r} is a file"
            )
        if not output.exists() and output.suffix.lower() in IMAGE_SUFFIXES:
            raise InputError(
                f"with several inputs or a folder, OUTPUT must be a folder; {str(output)!r} "
                "names an image file (create the folder first if that is its name)"
            )
        check_output_folder(output, name="OUTPUT")
        targets = [output / source.name for source in inputs]
    elif output.is_dir():
        targets = [output / inputs[0].name]
    else:
        targets = [check_output_file(output, name="OUTPUT")]
    seen: dict[Path, Path] = {}
    for source, target in zip(inputs, targets, strict=True):
        if target.suffix.lower() not in IMAGE_SUFFIXES:
            raise InputError(
                f"output {str(target)!r}: unsupported file type {target.suffix or '(none)'!r}; "
                f"expected one of {', '.join(IMAGE_SUFFIXES)}"
            )
        if target.resolve() == source.resolve():
            raise InputError(f"output {str(target)!r} would overwrite its input")
        if target.resolve() in seen:
            raise InputError(
                f"inputs {str(seen[target.resolve()])!r} and {str(source)!r} would both be "
                f"written to {str(target)!r}"
            )
        seen[target.resolve()] = source
    return list(zip(inputs, targets, strict=True))


def _default_depth(depth: int, target: Path) -> int:
    """An input's bit depth, as far as the output's format holds it."""
    suffix = target.suffix.lower()
    if suffix == ".npy":
        return 32
    return 16 if suffix == ".png" and depth == 32 else depth


@click.command("resize")
@click.argument(
    "paths", nargs=-1, required=True, metavar="INPUT... OUTPUT", type=click.Path(path_type=Path)
)
@click.option(
    "--scale",
    "factor",
    type=finite_float(0, low_open=True),
    help="Scale factor for both axes, e.g. 2 or 0.5.",
)
@click.option("--size", "size_text", metavar="WxH", help="Output size in pixels, e.g. 1920x1080.")
@click.option(
    "--interpolator",
    "-i",
    "name",
    default=DEFAULT,
    show_default=True,
    help="Interpolator name; `lamina components interpolator` lists them.",
)
@settings_option
@click.option(
    "--bit-depth",
    type=click.Choice(["8", "16", "32"]),
    help="Bit depth of the outputs (32 = float TIFF/NPY); by default that of each input, "
    "float32 for .npy and 16 for PNG from float inputs.",
)
@json_option
def resize(
    paths: tuple[Path, ...],
    factor: float | None,
    size_text: str | None,
    name: str,
    settings: tuple[str, ...],
    bit_depth: str | None,
    as_json: bool,
) -> None:
    """Resize images: INPUT... OUTPUT.

    One input file writes the OUTPUT file (or into OUTPUT when it is a
    folder); several inputs, or a folder of images, write into the OUTPUT
    folder under their own names. PNG and TIFF keep their bit depth (8 or 16)
    unless --bit-depth says otherwise. Give exactly one of --scale and --size.

    \b
    Examples:
      lamina resize photo.png big.png --scale 4 --interpolator stairstep --set base=lanczos3
      lamina resize scans/ small/ --size 640x480 --interpolator lanczos3 --json
    """
    if len(paths) < 2:
        raise InputError("resize needs at least one INPUT and an OUTPUT")
    if (factor is None) == (size_text is None):
        raise InputError("give exactly one of --scale and --size")
    size = parse_size(size_text) if size_text is not None else None
    params: dict[str, Any] = parse_settings(settings)
    interpolator = lamina.create("interpolator", name, **params)
    inputs, had_folder = _expand_inputs(paths[:-1])
    jobs = _plan_outputs(inputs, paths[-1], batch=had_folder or len(inputs) > 1)
    if bit_depth == "32" and any(t.suffix.lower() == ".png" for _, t in jobs):
        raise InputError("--bit-depth 32 (float) needs .tif or .npy outputs; PNG holds 8 or 16")
    if bit_depth in ("8", "16") and any(t.suffix.lower() == ".npy" for _, t in jobs):
        raise InputError(
            f"--bit-depth {bit_depth} needs .png or .tif outputs; .npy images are float32"
        )
    records = []
    items = track(jobs, description="resize") if len(jobs) > 1 else jobs
    for source, target in items:
        image, depth = read_image(source)
        shape = size if size is not None else scaled_shape(image.shape, factor)
        start = time.perf_counter()
        resized = interpolator.resize(image, shape)
        seconds = time.perf_counter() - start
        out_depth = int(bit_depth) if bit_depth is not None else _default_depth(depth, target)
        write_image(target, resized, bit_depth=out_depth)
        record: dict[str, Any] = {
            "input": str(source),
            "output": str(target),
            "input_shape": list(image.shape),
            "output_shape": list(resized.shape),
            "bit_depth": out_depth,
            "seconds": seconds,
        }
        if hasattr(interpolator, "n_steps_"):
            record["steps"] = interpolator.n_steps_
        records.append(record)
    describe = getattr(interpolator, "get_params", None)
    if as_json:
        emit_json(
            {
                "interpolator": name,
                "parameters": describe() if describe is not None else params,
                "files": records,
            }
        )
        return
    print_table(
        f"lamina resize ({name})",
        ["input", "output", "from", "to", "bits", "steps", "seconds"],
        (
            (
                r["input"],
                r["output"],
                "x".join(map(str, r["input_shape"])),
                "x".join(map(str, r["output_shape"])),
                r["bit_depth"],
                r.get("steps"),
                r["seconds"],
            )
            for r in records
        ),
    )
