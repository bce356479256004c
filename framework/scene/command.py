"""``lamina render``: render a scene to an image with any renderer, or compare them.

The renderer kind's generic command (registered by :mod:`lamina.kinds.renderer`):
it loads scenes, lights and frames them host-side and asks the registry for the
renderer, so it works with any renderer plugin. This module imports no Taichi:
renderers load their kernels when they run.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import click
import numpy as np

import lamina
from lamina.clitools import (
    check_output_file,
    emit_json,
    finite_float,
    json_option,
    limited,
    parse_settings,
    parse_size,
    print_table,
    set_option,
    stdout_console,
)
from lamina.errors import ComponentNotFound, InputError, LaminaError
from lamina.io import unpremultiply, write_image
from lamina.limits import MAX_LIGHTS
from lamina.memory import check_allocation
from lamina.progress import track
from lamina.scene.frames import ANIMATION_SUFFIXES

__all__ = ["OUTPUT_SUFFIXES", "render", "save_rendering", "unpremultiply"]

#: Bytes per output pixel the command holds besides the renderer's buffers: the
#: rendered float32 RGBA image, its float32 straight-alpha copy and the temporaries
#: of that division, the 8-bit copy written to PNG.
WRITE_BYTES_PER_PIXEL = 16 + 16 + 12 + 4
#: Output types: PNG as 8-bit (straight alpha by default), TIFF and .npy as float32
#: premultiplied RGBA.
OUTPUT_SUFFIXES = (".png", ".tif", ".tiff", ".npy")
DEFAULT_RENDERER = "fragment-list"
REFERENCE = "reference"


def _check_output(path: str, *, animation: bool = False) -> Path:
    target = check_output_file(path)
    suffixes = OUTPUT_SUFFIXES + (ANIMATION_SUFFIXES if animation else ())
    if target.suffix.lower() not in suffixes:
        extra = "" if animation else f" ({', '.join(ANIMATION_SUFFIXES)} with --orbit)"
        raise InputError(
            f"output {path!r}: unsupported file type {target.suffix or '(none)'!r}; "
            f"expected one of {', '.join(suffixes)}{extra}"
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
class _View:
    """How the command line frames and lights the scene."""

    # As typed (checked and parsed by _prepare).
    eye: str | None = None
    target: str | None = None
    up: str | None = None
    fov: float | None = None
    ortho: bool = False
    azimuth: float = 0.0
    elevation: float = 0.0
    zoom: float = 1.0
    background: str | None = None
    color: str | None = None
    lights: tuple[str, ...] = ()
    edge_opacity: float | None = None
    samples: int = 1


@dataclass
class _Job:
    """Everything checked before the first pixel is rendered."""

    loaded: Any
    scene: Any  # the loaded scene, recoloured and with its background
    camera: Any  # the loaded camera with the view's overrides
    lighting: Any  # lamina.scene.lighting.Lighting or None
    size: tuple[int, int]
    render_size: tuple[int, int]  # size times the supersampling factor
    samples: int
    settings: dict[str, str]
    corners: Any = None  # the scene's corner normals when lit: one geometry, every view


def _vector(
    text: str | None, name: str, lengths: tuple[int, ...] = (3,)
) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) not in lengths or not all(math.isfinite(v) for v in values):
        shape = " or ".join(",".join("XYZW"[:n]) for n in lengths)
        raise InputError(f"--{name} must be {shape} (numbers, comma-separated), got {text!r}")
    return values


def _lighting(view: _View, loaded: Any) -> Any:
    """The Lighting of ``--light`` and ``--edge-opacity``, each defaulting to the scene
    file's ``[lighting]`` table, else to a headlight for mesh files and none otherwise."""
    from lamina.scene.lighting import parse_lights
    from lamina.scene.meshes import MESH_SUFFIXES

    specs = view.lights or loaded.lights
    if not specs:
        # A mesh file's own colours are usually plain: light it so it reads as a shape.
        mesh = Path(loaded.source).suffix.lower() in MESH_SUFFIXES
        specs = ("headlight",) if mesh else ("none",)
    edge_opacity = view.edge_opacity if view.edge_opacity is not None else loaded.edge_opacity
    return parse_lights(specs, edge_opacity=edge_opacity or 0.0)


def _prepare(
    scene: str,
    size: str | None,
    settings: tuple[str, ...],
    opacity: float | None,
    drop: bool,
    view: _View,
) -> _Job:
    from lamina.scene import view as views
    from lamina.scene.camera import check_magnification, fit_depth_range
    from lamina.scene.colors import recolor
    from lamina.scene.files import DEFAULT_SIZE, load
    from lamina.scene.lighting import corner_normals

    values = parse_settings(settings)
    shape = parse_size(size) if size is not None else None
    background = _vector(view.background, "background", (3, 4))
    color = _vector(view.color, "color", (3, 4))
    loaded = load(scene, opacity=opacity, drop_degenerate=drop)
    final = shape or loaded.size or DEFAULT_SIZE
    render_size = views.supersampled_size(final, view.samples)
    lit_scene = recolor(loaded.scene, color=color, opacity=opacity if color is not None else None)
    if background is not None:
        red, green, blue, *alpha = background
        lit_scene = replace(lit_scene, background=(red, green, blue, alpha[0] if alpha else 1.0))
    camera = views.adjust_camera(
        loaded.camera,
        eye=_vector(view.eye, "eye"),
        target=_vector(view.target, "target"),
        up=_vector(view.up, "up"),
        fov=view.fov,
        ortho=view.ortho,
        azimuth=view.azimuth,
        elevation=view.elevation,
        zoom=view.zoom,
    )
    if view.eye or view.target or view.azimuth or view.elevation:
        camera = fit_depth_range(camera, lit_scene)
    check_magnification(camera, render_size, cause=_narrowed_by(view, scene))
    lighting = _lighting(view, loaded)
    corners = None if lighting is None else corner_normals(lit_scene, loaded.normals)
    return _Job(
        loaded, lit_scene, camera, lighting, final, render_size, view.samples, values, corners
    )


def _narrowed_by(view: _View, scene: str) -> str:
    """The options that set how narrow the view is, for a refusal (else the scene's camera)."""
    given = [
        f"--{name} {value:g}"
        for name, value, default in (("zoom", view.zoom, 1.0), ("fov", view.fov, None))
        if value is not None and value != default
    ]
    given += [f"--{name} {text}" for name, text in (("eye", view.eye), ("target", view.target))
              if text is not None]  # fmt: skip
    return ", ".join(given) or f"{scene} [camera]"


def _create_renderer(name: str, settings: dict[str, str]) -> Any:
    """The renderer ``name`` with ``settings``; a clear InputError when none has that name."""
    try:
        return lamina.create("renderer", name, **settings)
    except ComponentNotFound as error:
        default = " (the default)" if name == DEFAULT_RENDERER else ""
        raise InputError(
            f"--renderer {name!r}{default}: {error}; `lamina components renderer` lists the "
            "renderers installed (a disabled plugin's are left out: LAMINA_DISABLE_PLUGINS)"
        ) from None


def _check_memory(renderer: Any, job: _Job, *, frames: int) -> None:
    """Refuse, before rendering, a job whose frame and its writing cannot fit (the
    renderer checks its own buffers again; this adds what writing the file takes,
    and the frames an animation or viewer holds until the end)."""
    estimate = getattr(renderer, "memory_estimate", None)
    rendering = estimate(job.scene, job.render_size) if estimate else 0
    pixels = job.size[0] * job.size[1]
    check_allocation(
        rendering + pixels * (WRITE_BYTES_PER_PIXEL + 16 * max(0, frames - 1)),
        what=f"rendering and writing {frames} {job.size[1]} x {job.size[0]} frame(s)",
        fix="choose a smaller --size, fewer --samples or --orbit frames",
    )


def _draw(renderer: Any, job: _Job, camera: Any) -> Any:
    """Render one frame of ``job`` seen by ``camera``: lit, supersampled, filtered."""
    from lamina.scene import view as views
    from lamina.scene.lighting import shade

    if job.lighting is None:
        scene = job.scene
    else:
        scene = shade(job.scene, camera, job.lighting, corners=job.corners)
    result = renderer.render(scene, camera, job.render_size)
    if job.samples > 1:
        result = replace(result, image=views.downsample(result.image, job.samples))
    return result


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


def _view_options(function: Any) -> Any:
    """The camera, colour, lighting and sampling options of ``lamina render``."""
    options = [
        click.option("--eye", metavar="X,Y,Z", help="Camera position (default: the scene's)."),
        click.option("--target", metavar="X,Y,Z", help="Point the camera looks at."),
        click.option("--up", metavar="X,Y,Z", help="Camera up direction."),
        click.option(
            "--fov",
            type=finite_float(0, 180, low_open=True, high_open=True),
            metavar="DEG",
            help="Vertical field of view in degrees.",
        ),
        click.option("--ortho", is_flag=True, help="Orthographic projection (same framing)."),
        click.option(
            "--azimuth",
            type=finite_float(),
            default=0.0,
            metavar="DEG",
            help="Turn the camera about the up axis through the target.",
        ),
        click.option(
            "--elevation",
            type=finite_float(),
            default=0.0,
            metavar="DEG",
            help="Turn the camera up over the target.",
        ),
        click.option(
            "--zoom",
            type=finite_float(0, low_open=True),
            default=1.0,
            help="Zoom factor (>1 narrows the view).",
        ),
        click.option("--background", metavar="R,G,B[,A]", help="Background colour in [0, 1]."),
        click.option("--color", metavar="R,G,B[,A]", help="Colour for every face, in [0, 1]."),
        click.option(
            "--light",
            "lights",
            multiple=True,
            metavar="SPEC",
            help="none, headlight, or X,Y,Z[:INTENSITY] (a direction towards the "
            f"light; up to {MAX_LIGHTS}). Default: the scene file's [lighting], else "
            "headlight for mesh files, none otherwise.",
        ),
        click.option(
            "--edge-opacity",
            type=finite_float(0, 1),
            help="Make surfaces seen edge-on more opaque (0: off, 1: opaque). Default: the "
            "scene file's [lighting], else 0.",
        ),
        click.option(
            "--samples",
            type=limited("MAX_SUPERSAMPLES"),
            default=1,
            metavar="N",
            help="Supersample N x N exact samples per pixel (box filter).",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@click.command()
@click.argument("scene")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Image to write: .png (8-bit), .tif/.tiff or .npy (float32 premultiplied RGBA); "
    "with --orbit also .gif or .mp4 (one animation).",
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
@click.option(
    "--opacity",
    type=finite_float(),
    help="Override the opacity of every face, in [0, 1].",
)
@_view_options
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
    type=limited("MAX_ORBIT_FRAMES"),
    metavar="FRAMES",
    help="Render FRAMES views circling the target: one .gif/.mp4, or numbered images "
    "(OUT gets _0000, _0001, ... suffixes).",
)
@click.option(
    "--fps", type=limited("MAX_FPS", floats=True), default=20.0, show_default=True,
    help="Frames per second of --orbit animations and the --show viewer.",
)  # fmt: skip
@click.option(
    "--show",
    is_flag=True,
    help="Also write OUT.html: a self-contained viewer of the frames (any browser).",
)
@click.option(
    "--compare",
    is_flag=True,
    help="Render with every renderer and tabulate passes, layers, fragments, time, error.",
)
@click.option(
    "--repeat",
    type=limited("MAX_COMPARE_REPEATS"),
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
    fps: float,
    show: bool,
    compare: bool,
    repeat: int,
    as_json: bool,
    **view_options: Any,
) -> None:
    """Render SCENE with exact order-independent transparency.

    SCENE is a mesh file (.obj .ply .stl .glb .gltf .off), a scene file (.toml)
    or procedural:NAME[:N] (stacked_quads, partial_quads, intersecting_quads,
    coplanar_pair, nested_spheres, torus).

    \b
    Examples:
      lamina render procedural:nested_spheres:3 -o spheres.png --size 320x240
      lamina render mesh.ply -o mesh.png --azimuth 30 --elevation 20 --edge-opacity 0.5
      lamina render procedural:torus -o torus.gif --orbit 36 --light 1,1,1 --samples 2
      lamina render examples/scenes/nested.toml -o nested.tif --renderer depth-peeling
      lamina render --compare procedural:stacked_quads:16 --size 128x128
    """
    view = _View(**view_options)
    if compare:
        if output is not None or orbit is not None or show:
            raise click.UsageError("--compare prints a table; it takes no -o, --orbit or --show")
        _compare(scene, size, settings, arch, opacity, drop_degenerate, repeat, as_json, view)
        return
    if output is None:
        raise click.UsageError("give -o/--output (or --compare)")
    target = _check_output(output, animation=orbit is not None)
    animated = target.suffix.lower() in ANIMATION_SUFFIXES
    job = _prepare(scene, size, settings, opacity, drop_degenerate, view)
    renderer = _create_renderer(renderer_name, job.settings)
    _check_memory(renderer, job, frames=(orbit or 1) if animated or show else 1)
    _start_arch(arch)
    from lamina.scene import view as views
    from lamina.scene.frames import write_animation, write_viewer

    cameras = (
        [job.camera] if orbit is None else [views.orbit(job.camera, k, orbit) for k in range(orbit)]
    )
    frames: list[tuple[Path, Any, Any]] = []
    written: list[Path] = []
    try:
        for k, camera in enumerate(track(cameras, description=f"rendering {len(cameras)} frames")):
            result = _draw(renderer, job, camera)
            path = target if orbit is None or animated else _frame_path(target, k, orbit)
            if not animated:
                save_rendering(path, result.image, png_alpha=png_alpha)
                written.append(path)
            frames.append((path, camera, result))
        if animated:
            write_animation(target, [r.image for _, _, r in frames], fps=fps)
            written.append(target)
        viewer = target.with_suffix(".html") if show else None
        if viewer is not None:
            write_viewer(
                viewer,
                [r.image for _, _, r in frames],
                title=f"lamina render {job.loaded.source}",
                caption=f"{len(frames)} frame(s), {job.size[1]}x{job.size[0]}, {renderer_name}",
                fps=fps,
            )
    except BaseException:
        # Part of an orbit's numbered frames, or images without the viewer asked for,
        # is no output: remove what this run wrote (each file itself is atomic).
        for path in written:
            path.unlink(missing_ok=True)
        raise
    if as_json:
        emit_json(
            {
                "scene": job.loaded.source,
                "renderer": renderer_name,
                "parameters": job.settings,
                "size": list(job.size),
                "samples": job.samples,
                "arch": _active_arch(),
                "camera": views.camera_record(job.camera),
                "lighting": None if job.lighting is None else asdict(job.lighting),
                "output": str(target),
                "viewer": None if viewer is None else str(viewer),
                "frames": [
                    {
                        "output": str(p),
                        "camera": views.camera_record(c),
                        "stats": r.stats.as_dict(),
                    }
                    for p, c, r in frames
                ],
            }
        )
        return
    for path, _, result in frames:
        s = result.stats
        click.echo(
            f"{path}: {job.size[1]}x{job.size[0]}, {s.fragments} fragments, "
            f"max depth complexity {s.max_depth_complexity}, {s.geometry_passes} geometry "
            f"passes, {s.seconds * 1e3:.1f} ms ({renderer_name})",
            err=True,
        )
    if animated:
        click.echo(f"{target}: {len(frames)} frames at {fps:g} fps", err=True)
    if viewer is not None:
        click.echo(f"{viewer}: viewer of {len(frames)} frame(s); open it in a browser", err=True)


def _compare(
    scene: str,
    size: str | None,
    settings: tuple[str, ...],
    arch: str | None,
    opacity: float | None,
    drop: bool,
    repeat: int,
    as_json: bool,
    view: _View,
) -> None:
    job = _prepare(scene, size, settings, opacity, drop, view)
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
            renderer.render(job.scene, job.camera, (8, 8))
            best = math.inf
            for _ in range(repeat):
                start = time.perf_counter()
                result = _draw(renderer, job, job.camera)
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
