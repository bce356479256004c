"""``lamina render``: render a transparent scene to an image, or compare renderers.

This module imports no Taichi: the renderers load their kernels when they run.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import click
import numpy as np

import lamina
from lamina.clitools import (
    check_output_file,
    emit_json,
    json_option,
    parse_settings,
    parse_size,
    print_table,
    set_option,
    stdout_console,
)
from lamina.errors import InputError, LaminaError
from lamina.io import write_image
from lamina.progress import track

__all__ = ["OUTPUT_SUFFIXES", "render", "save_rendering", "unpremultiply"]

#: Output types: PNG as 8-bit (straight alpha by default), TIFF and .npy as float32
#: premultiplied RGBA.
OUTPUT_SUFFIXES = (".png", ".tif", ".tiff", ".npy")
DEFAULT_RENDERER = "fragment-list"
REFERENCE = "reference"


def unpremultiply(image: np.ndarray) -> np.ndarray:
    """Premultiplied RGBA -> straight RGBA (colour divided by alpha; 0 where alpha is 0).

    Examples
    --------
    >>> unpremultiply(np.array([[[0.25, 0.0, 0.5, 0.5]]], np.float32)).tolist()
    [[[0.5, 0.0, 1.0, 0.5]]]
    """
    alpha = image[..., 3:4]
    safe = np.where(alpha > 0, alpha, 1.0)
    colour = np.where(alpha > 0, np.clip(image[..., :3] / safe, 0.0, 1.0), 0.0)
    return np.concatenate([colour, alpha], axis=-1).astype(np.float32)


def _check_output(path: str) -> Path:
    target = Path(path)
    if target.suffix.lower() not in OUTPUT_SUFFIXES:
        raise InputError(
            f"output {path!r}: unsupported file type {target.suffix or '(none)'!r}; "
            f"expected one of {', '.join(OUTPUT_SUFFIXES)}"
        )
    if target.is_dir():
        raise InputError(f"output {path!r} is a directory")
    return target


def save_rendering(path: str | Path, image: np.ndarray, *, png_alpha: str = "straight") -> None:
    """Write a premultiplied RGBA rendering atomically, by the file's extension.

    ``.png``: 8-bit RGBA, straight alpha (what PNG viewers expect) unless
    ``png_alpha="premultiplied"``; ``.tif``/``.tiff`` and ``.npy``: float32
    premultiplied RGBA, exactly as rendered.
    """
    target = _check_output(str(path))
    if target.suffix.lower() == ".png":
        data = unpremultiply(image) if png_alpha == "straight" else image
        write_image(target, data, bit_depth=8)
    elif target.suffix.lower() == ".npy":
        write_image(target, image)
    else:
        write_image(target, image, bit_depth=32)


@dataclass
class _Job:
    """Everything checked before the first pixel is rendered."""

    loaded: Any
    size: tuple[int, int]
    settings: dict[str, str]


def _prepare(
    scene: str, size: str | None, settings: tuple[str, ...], opacity: float | None, drop: bool
) -> _Job:
    from lamina.plugins.oit.loaders import DEFAULT_SIZE, load

    values = parse_settings(settings)
    shape = parse_size(size) if size is not None else None
    loaded = load(scene, opacity=opacity, drop_degenerate=drop)
    return _Job(loaded, shape or loaded.size or DEFAULT_SIZE, values)


def _start_arch(arch: str | None) -> str | None:
    if arch is None:
        return None
    from lamina.kernels import runtime

    return runtime.init(arch)


def _active_arch() -> str | None:
    from lamina.kernels import runtime

    return runtime.active_arch()


def _frame_path(output: Path, frame: int, frames: int) -> Path:
    digits = max(4, len(str(frames - 1)))
    return output.with_name(f"{output.stem}_{frame:0{digits}d}{output.suffix}")


def _orbit(camera: Any, frame: int, frames: int) -> Any:
    """``camera`` turned ``frame / frames`` of a full circle about its target and up axis."""
    from lamina.plugins.oit.procedural import axis_rotation

    rotation = axis_rotation(np.asarray(camera.up), 2.0 * math.pi * frame / frames)
    target = np.asarray(camera.target)
    eye = target + rotation @ (np.asarray(camera.eye) - target)
    return replace(camera, eye=tuple(eye))


@click.command()
@click.argument("scene")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Image to write: .png (8-bit), .tif/.tiff or .npy (float32 premultiplied RGBA).",
)
@click.option(
    "--renderer",
    "renderer_name",
    default=DEFAULT_RENDERER,
    show_default=True,
    help="Renderer component; `lamina components renderer` lists them.",
)
@click.option("--size", help="Image size WIDTHxHEIGHT; default: the scene file's, else 640x480.")
@set_option
@click.option(
    "--arch",
    type=click.Choice(["auto", "cpu", "cuda", "vulkan"]),
    help="Taichi backend (default: LAMINA_ARCH, else auto).",
)
@click.option("--opacity", type=float, help="Override the opacity of every face, in [0, 1].")
@click.option(
    "--drop-degenerate", is_flag=True, help="Drop zero-area faces of mesh files instead of failing."
)
@click.option(
    "--png-alpha",
    type=click.Choice(["straight", "premultiplied"]),
    default="straight",
    show_default=True,
    help="Alpha convention of PNG output (TIFF/.npy are always premultiplied).",
)
@click.option(
    "--orbit",
    type=click.IntRange(1, 100_000),
    metavar="FRAMES",
    help="Render FRAMES views circling the target (OUT gets _0000, _0001, ... suffixes).",
)
@click.option(
    "--compare",
    is_flag=True,
    help="Render with every renderer and tabulate passes, layers, fragments, time, error.",
)
@click.option(
    "--repeat",
    type=click.IntRange(1, 1000),
    default=1,
    show_default=True,
    help="With --compare: render each this many times and report the fastest "
    "(after a tiny warm-up render that compiles the kernels).",
)
@json_option
def render(
    scene: str,
    output: str | None,
    renderer_name: str,
    size: str | None,
    settings: tuple[str, ...],
    arch: str | None,
    opacity: float | None,
    drop_degenerate: bool,
    png_alpha: str,
    orbit: int | None,
    compare: bool,
    repeat: int,
    as_json: bool,
) -> None:
    """Render SCENE with exact order-independent transparency.

    SCENE is a mesh file (.obj .ply .stl .glb .gltf .off), a scene file (.toml)
    or procedural:NAME[:N] (stacked_quads, partial_quads, intersecting_quads,
    coplanar_pair, nested_spheres, torus).

    \b
    Examples:
      lamina render procedural:nested_spheres:3 -o spheres.png --size 320x240
      lamina render examples/scenes/nested.toml -o nested.tif --renderer depth-peeling
      lamina render --compare procedural:stacked_quads:16 --size 128x128
    """
    if compare:
        if output is not None or orbit is not None:
            raise click.UsageError("--compare prints a table; it takes neither -o nor --orbit")
        _compare(scene, size, settings, arch, opacity, drop_degenerate, repeat, as_json)
        return
    if output is None:
        raise click.UsageError("give -o/--output (or --compare)")
    target = check_output_file(_check_output(output), name="-o/--output")
    job = _prepare(scene, size, settings, opacity, drop_degenerate)
    renderer = lamina.create("renderer", renderer_name, **job.settings)
    _start_arch(arch)
    loaded = job.loaded
    if orbit is None:
        result = renderer.render(loaded.scene, loaded.camera, job.size)
        save_rendering(target, result.image, png_alpha=png_alpha)
        frames = [(target, result)]
    else:
        frames = []
        for frame in track(range(orbit), description=f"rendering {orbit} frames"):
            camera = _orbit(loaded.camera, frame, orbit)
            result = renderer.render(loaded.scene, camera, job.size)
            path = _frame_path(target, frame, orbit)
            save_rendering(path, result.image, png_alpha=png_alpha)
            frames.append((path, result))
    if as_json:
        emit_json(
            {
                "scene": loaded.source,
                "renderer": renderer_name,
                "parameters": job.settings,
                "size": list(job.size),
                "arch": _active_arch(),
                "frames": [{"output": str(p), "stats": r.stats.as_dict()} for p, r in frames],
            }
        )
        return
    for path, result in frames:
        s = result.stats
        click.echo(
            f"{path}: {job.size[1]}x{job.size[0]}, {s.fragments} fragments, "
            f"max depth complexity {s.max_depth_complexity}, {s.geometry_passes} geometry "
            f"passes, {s.seconds * 1e3:.1f} ms ({renderer_name})",
            err=True,
        )


def _compare(
    scene: str,
    size: str | None,
    settings: tuple[str, ...],
    arch: str | None,
    opacity: float | None,
    drop: bool,
    repeat: int,
    as_json: bool,
) -> None:
    job = _prepare(scene, size, settings, opacity, drop)
    infos = [c for c in lamina.components("renderer") if c.available]
    names = [c.name for c in infos]
    if REFERENCE in names:  # first, so every other row can be measured against it
        infos.insert(0, infos.pop(names.index(REFERENCE)))
    renderers = []
    used: set[str] = set()
    for info in infos:
        accepted = {p.name for p in info.parameters}
        mine = {k: v for k, v in job.settings.items() if k in accepted}
        used.update(mine)
        renderers.append((info.name, lamina.create("renderer", info.name, **mine), mine))
    unused = sorted(set(job.settings) - used)
    if unused:
        raise InputError(f"no renderer has parameter(s) {', '.join(unused)}")
    _start_arch(arch)
    loaded = job.loaded
    reference = None
    rows = []
    for name, renderer, parameters in track(renderers, description="comparing renderers"):
        row: dict[str, Any] = {"renderer": name, "parameters": parameters}
        try:
            # A tiny first render compiles the kernels, so the times are rendering alone.
            renderer.render(loaded.scene, loaded.camera, (8, 8))
            best = math.inf
            for _ in range(repeat):
                start = time.perf_counter()
                result = renderer.render(loaded.scene, loaded.camera, job.size)
                best = min(best, time.perf_counter() - start)
        except LaminaError as error:
            if isinstance(error, InputError):
                raise  # bad input fails every renderer alike: report it once
            row["error"] = str(error)
            rows.append(row)
            continue
        except Exception as error:  # one broken renderer must not hide the others
            row["error"] = f"{type(error).__name__}: {error}"
            rows.append(row)
            continue
        image = result.image.astype(np.float64)
        if name == REFERENCE:
            reference = image
        row["stats"] = result.stats.as_dict()
        row["seconds"] = best
        if reference is not None:
            difference = np.abs(image - reference)
            row["max_error"] = float(difference.max())
            row["mean_error"] = float(difference.mean())
            row["max_error_8bit"] = float(difference.max() * 255.0)
        rows.append(row)
    if as_json:
        emit_json(
            {
                "scene": loaded.source,
                "size": list(job.size),
                "arch": _active_arch(),
                "repeat": repeat,
                "reference": REFERENCE if reference is not None else None,
                "renderers": rows,
            }
        )
    else:
        _print_comparison(loaded.source, job.size, rows)
    failed = [row["renderer"] for row in rows if "error" in row]
    if failed:
        raise _RenderFailed(f"renderer(s) failed: {', '.join(failed)}")


class _RenderFailed(LaminaError):
    """At least one renderer raised during ``--compare`` (the table shows why)."""


def _print_comparison(source: str, size: tuple[int, int], rows: list[dict[str, Any]]) -> None:
    table_rows = []
    for row in rows:
        if "error" in row:
            table_rows.append([row["renderer"], *[""] * 7, f"[red]{row['error']}[/]"])
            continue
        s = row["stats"]
        table_rows.append(
            [
                row["renderer"],
                s["geometry_passes"],
                s["layers"],
                s["fragments"],
                s["max_depth_complexity"],
                f"{row['seconds'] * 1e3:.1f}",
                _error_cell(row.get("max_error")),
                _error_cell(row.get("mean_error")),
                "bound hit"
                if s["bound_hit"]
                else ("" if s["tiles"] == 1 else f"{s['tiles']} tiles"),
            ]
        )
    print_table(
        f"{source} at {size[1]}x{size[0]}",
        [
            "renderer",
            "passes",
            "layers",
            "fragments",
            "max depth",
            "ms",
            "max error",
            "mean error",
            "notes",
        ],
        table_rows,
    )
    stdout_console.print("errors: absolute, per premultiplied RGBA channel, against reference")


def _error_cell(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2e}"
