"""Exact order-independent transparency: lamina's renderers beside VTK's depth peeling.

One run renders each scene with every lamina renderer and with VTK's classic
(``vtkDepthPeelingPass``) and dual (``vtkDualDepthPeelingPass``) depth peeling,
offscreen on Mesa's llvmpipe (EGL, else OSMesa), and prints per scene: time,
Mfragments/s, max and mean error against lamina's float64 ``reference`` (also in
8-bit units) and geometry passes; then the speed-up of ``fragment-list`` over the
faster VTK method and of multi-layer over classic peeling.

VTK renders the identical scene: same vertices and faces, same camera matrices
(explicit projection matrix), colours quantised to 8 bits for everyone (VTK stores
colours as bytes), no lighting (ambient 1, diffuse 0), no multisampling, peels
until a peel writes nothing (occlusion ratio 0, enough peels allowed). VTK's
geometry passes are counted as draws of the mesh per frame.

Usage::

    python benchmarks/oit.py            # full run (several minutes on 2 CPU cores)
    python benchmarks/oit.py --quick    # small smoke run
    python benchmarks/oit.py --json     # one JSON document on stdout

Needs ``pip install 'lamina[bench]'`` (VTK) and, on Debian/Ubuntu,
``apt-get install libosmesa6 libegl-mesa0``.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

import lamina
from lamina.clitools import emit_json, print_table, stdout_console
from lamina.scene import Camera, Scene
from lamina.scene.procedural import procedural_scene


@dataclass(frozen=True)
class Case:
    name: str
    generator: str
    n: int | None
    size: tuple[int, int]  # (height, width)
    timed: bool = True  # repeat the timing (False: one timed render, for the slow HD cases)
    speed: bool = True  # counts for the speed goals (False: a scene for accuracy only)
    # Every pixel sees the same layers in the same order (full-view quads facing the
    # camera), so the reference is rendered small, checked uniform, and broadcast.
    uniform: bool = False


FULL = [
    Case("quads-50", "stacked_quads", 50, (512, 512), uniform=True),
    Case("intersecting-50", "intersecting_quads", 50, (512, 512)),
    Case("partial-50", "partial_quads", 50, (512, 512)),
    Case("coplanar", "coplanar_pair", None, (512, 512), speed=False),
    Case("hd-16", "stacked_quads", 16, (1080, 1920), timed=False, uniform=True),
    Case("hd-32", "stacked_quads", 32, (1080, 1920), timed=False, uniform=True),
    Case("hd-64", "stacked_quads", 64, (1080, 1920), timed=False, uniform=True),
]
QUICK = [
    Case("quads-8", "stacked_quads", 8, (96, 96), uniform=True),
    Case("intersecting-8", "intersecting_quads", 8, (96, 96)),
    Case("partial-8", "partial_quads", 8, (96, 96)),
    Case("coplanar", "coplanar_pair", None, (96, 96), speed=False),
    Case("wide-16", "stacked_quads", 16, (108, 192), timed=False, uniform=True),
]
VTK_METHODS = ("vtk-classic", "vtk-dual")

#: Sweeps (issue 17): (name, generator, n, size, methods); ``--repeat`` timed renders
#: per row after a warm-up (the float64 reference: one), the best and the first
#: reported, lamina only (VTK rows come from the cases above).
SWEEP_METHODS = {
    "triangles": ("fragment-list", "fragment-list budget=256", "reference", *VTK_METHODS),
    "resolution": ("fragment-list", "multilayer-depth-peeling"),
    "depth": (
        "fragment-list",
        "depth-peeling",
        "dual-depth-peeling",
        "multilayer-depth-peeling",
    ),
}
SWEEPS = [
    *(("triangles", "random_triangles", n, (side, side))
      for side in (512, 1024) for n in (1_000, 10_000, 100_000, 1_000_000)),
    *(("resolution", "stacked_quads", 16, size)
      for size in ((256, 256), (512, 512), (1024, 1024), (1080, 1920), (2160, 3840))),
    *(("depth", "stacked_quads", n, (128, 128)) for n in (8, 32, 128, 256)),
]  # fmt: skip
QUICK_SWEEPS = [
    *(("triangles", "random_triangles", n, (128, 128)) for n in (1_000, 10_000)),
    *(("resolution", "stacked_quads", 8, size) for size in ((64, 64), (128, 128))),
    *(("depth", "stacked_quads", n, (64, 64)) for n in (8, 32)),
]
#: The reference (float64 numpy) is skipped above this many triangles (minutes, GBs).
REFERENCE_LIMIT = 200_000


def quantised(scene: Scene) -> Scene:
    """The scene with colours rounded to multiples of 1/255: what VTK can represent."""
    key = "vertex_colors" if scene.vertex_colors is not None else "face_colors"
    return replace(scene, **{key: np.rint(getattr(scene, key) * 255.0) / 255.0})


def build_case(case: Case) -> tuple[Scene, Camera]:
    kwargs = {} if case.n is None else {"n": case.n}
    scene, camera = procedural_scene(case.generator, **kwargs)
    return quantised(scene), camera


class Timer:
    """Best wall-clock and best process CPU time (all threads: Taichi's and llvmpipe's)
    over the timed runs, and the first run's wall time (a renderer's first frame at a
    size also allocates and first-touches its pooled buffers). On a shared machine
    CPU time is the steadier measure."""

    def __init__(self) -> None:
        self.wall = math.inf
        self.cpu = math.inf
        self.first_wall = math.nan

    def __enter__(self) -> Timer:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_: Any) -> None:
        wall = time.perf_counter() - self._wall
        if math.isnan(self.first_wall):
            self.first_wall = wall
        self.wall = min(self.wall, wall)
        self.cpu = min(self.cpu, time.process_time() - self._cpu)


# -- VTK ------------------------------------------------------------------------------


class VtkPeeling:
    """One VTK render window set up to render a lamina scene exactly as lamina does."""

    def __init__(self, scene: Scene, camera: Camera, size: tuple[int, int], *, dual: bool):
        from vtkmodules.util.numpy_support import (
            numpy_to_vtk,
            numpy_to_vtkIdTypeArray,
            vtk_to_numpy,
        )
        from vtkmodules.vtkCommonCore import vtkPoints
        from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
        from vtkmodules.vtkCommonMath import vtkMatrix4x4
        from vtkmodules.vtkRenderingCore import (
            vtkActor,
            vtkPolyDataMapper,
            vtkRenderer,
            vtkRenderWindow,
        )
        from vtkmodules.vtkRenderingOpenGL2 import (
            vtkDepthPeelingPass,
            vtkDualDepthPeelingPass,
            vtkRenderStepsPass,
            vtkTranslucentPass,
        )

        self._to_numpy = vtk_to_numpy
        height, width = size
        self.size = size
        self.layers_needed = 0
        points = vtkPoints()
        points.SetData(numpy_to_vtk(np.ascontiguousarray(scene.vertices), deep=True))
        cells = vtkCellArray()
        offsets = np.arange(0, 3 * scene.n_triangles + 1, 3, dtype=np.int64)
        cells.SetData(
            numpy_to_vtkIdTypeArray(offsets, deep=True),
            numpy_to_vtkIdTypeArray(np.ascontiguousarray(scene.faces.reshape(-1)), deep=True),
        )
        poly = vtkPolyData()
        poly.SetPoints(points)
        poly.SetPolys(cells)
        per_vertex = scene.vertex_colors is not None
        rgba = scene.vertex_colors if per_vertex else scene.face_colors
        colours = numpy_to_vtk(np.rint(rgba * 255.0).astype(np.uint8), deep=True)
        colours.SetName("rgba")
        data = poly.GetPointData() if per_vertex else poly.GetCellData()
        data.SetScalars(colours)

        mapper = vtkPolyDataMapper()
        mapper.SetInputData(poly)
        mapper.SetColorModeToDirectScalars()
        if per_vertex:
            mapper.SetScalarModeToUsePointData()
        else:
            mapper.SetScalarModeToUseCellData()
        mapper.ScalarVisibilityOn()
        self.draws = 0
        mapper.AddObserver("StartEvent", self._count_draw)
        actor = vtkActor()
        actor.SetMapper(mapper)
        prop = actor.GetProperty()
        prop.LightingOff()  # flat, unlit colour: ambient 1, diffuse 0, specular 0
        prop.SetAmbient(1.0)
        prop.SetDiffuse(0.0)
        prop.SetSpecular(0.0)
        prop.BackfaceCullingOff()

        renderer = vtkRenderer()
        renderer.AddActor(actor)
        r, g, b, a = scene.background
        renderer.SetBackground(r, g, b)
        renderer.SetBackgroundAlpha(a)
        renderer.AutomaticLightCreationOff()
        self.peel = vtkDualDepthPeelingPass() if dual else vtkDepthPeelingPass()
        self.peel.SetTranslucentPass(vtkTranslucentPass())
        self.peel.SetOcclusionRatio(0.0)  # stop only when a peel writes no pixel
        steps = vtkRenderStepsPass()
        steps.SetTranslucentPass(self.peel)
        renderer.SetPass(steps)

        vtk_camera = renderer.GetActiveCamera()
        vtk_camera.SetPosition(*camera.eye)
        vtk_camera.SetFocalPoint(*camera.target)
        vtk_camera.SetViewUp(*camera.up)
        vtk_camera.SetClippingRange(camera.near, camera.far)
        projection = vtkMatrix4x4()
        matrix = camera.projection_matrix(width / height)
        for i in range(4):
            for j in range(4):
                projection.SetElement(i, j, float(matrix[i, j]))
        vtk_camera.SetExplicitProjectionTransformMatrix(projection)
        vtk_camera.UseExplicitProjectionTransformMatrixOn()
        self._check_view(vtk_camera, camera)

        window = vtkRenderWindow()
        window.SetOffScreenRendering(1)
        window.SetMultiSamples(0)
        window.SetAlphaBitPlanes(1)
        window.AddRenderer(renderer)
        window.SetSize(width, height)
        self.window = window

    def _count_draw(self, *_: Any) -> None:
        self.draws += 1

    @staticmethod
    def _check_view(vtk_camera: Any, camera: Camera) -> None:
        view = vtk_camera.GetViewTransformMatrix()
        found = np.array([[view.GetElement(i, j) for j in range(4)] for i in range(4)])
        if not np.allclose(found, camera.view_matrix(), atol=1e-9):
            raise RuntimeError("VTK's view matrix differs from lamina's")

    def render(self, layers: int, repeat: int) -> tuple[np.ndarray, Timer, float]:
        """Render ``repeat`` timed frames; return (image, timer, draws per frame)."""
        self.peel.SetMaximumNumberOfPeels(1)
        self.window.Render()  # compiles the shaders without paying for every peel
        self.peel.SetMaximumNumberOfPeels(layers + 8)
        timer = Timer()
        self.draws = 0
        for _ in range(repeat):
            with timer:
                self.window.Render()
                image = self._read()
        return image, timer, self.draws / repeat

    def _read(self) -> np.ndarray:
        from vtkmodules.vtkCommonCore import vtkFloatArray

        height, width = self.size
        pixels = vtkFloatArray()
        self.window.GetRGBAPixelData(0, 0, width - 1, height - 1, 0, pixels)
        # OpenGL's rows run bottom-up; lamina's top-down.
        return self._to_numpy(pixels).reshape(height, width, 4)[::-1].astype(np.float64)

    def opengl_renderer(self) -> str:
        report = self.window.ReportCapabilities()
        for line in report.splitlines():
            if "renderer string" in line:
                return line.split(":", 1)[1].strip()
        return type(self.window).__name__


def _prepare_vtk() -> str:
    """Pick an offscreen OpenGL window before VTK is imported; return VTK's version."""
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    try:
        from vtkmodules.vtkCommonCore import vtkVersion
    except ImportError:
        sys.exit(
            "benchmarks/oit.py needs VTK: pip install 'lamina[bench]' (and on Debian: "
            "apt-get install libosmesa6 libegl-mesa0), or run with --no-vtk"
        )
    return vtkVersion.GetVTKVersion()


# -- lamina -----------------------------------------------------------------------------


def lamina_methods() -> list[str]:
    return [c.name for c in lamina.components("renderer") if c.available and c.name != "reference"]


def time_lamina(
    name: str, scene: Scene, camera: Camera, size: tuple[int, int], repeat: int, **params: Any
) -> tuple[Any, Timer]:
    renderer = lamina.create("renderer", name, **params)
    renderer.render(scene, camera, (16, 16))  # compile the kernels outside the timing
    timer = Timer()
    for _ in range(repeat):
        with timer:
            result = renderer.render(scene, camera, size)
    return result, timer


def layers_per_pass(name: str) -> int | None:
    """The ``k`` of a multi-layer renderer (its default), else ``None``."""
    info = lamina.get_host().get("renderer", name)
    return {p.name: p.default for p in info.parameters}.get("k")


def theory(name: str, depth: int, k: int | None) -> int | None:
    """Geometry passes the literature gives for ``depth`` layers."""
    if name == "depth-peeling":
        return depth  # Everitt 2001: one layer per pass
    if name == "dual-depth-peeling":
        return math.ceil(depth / 2) + 1  # Bavoil & Myers 2008: two layers a pass, plus one
    if name == "multilayer-depth-peeling" and k:
        return math.ceil(depth / k)  # Liu et al. 2009: k layers per pass
    return None


def _times(timer: Timer, fragments: int) -> dict[str, float]:
    return {
        "ms": timer.wall * 1e3,
        "cpu_ms": timer.cpu * 1e3,
        "mfragments_per_s": fragments / timer.wall / 1e6,
    }


def errors(image: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    difference = np.abs(np.asarray(image, dtype=np.float64) - reference)
    return {
        "max_error": float(difference.max()),
        "mean_error": float(difference.mean()),
        "max_error_8bit": float(difference.max() * 255.0),
        "mean_error_8bit": float(difference.mean() * 255.0),
    }


def reference_image(case: Case, scene: Scene, camera: Camera) -> dict[str, Any]:
    """lamina's float64 reference of the case: rendered at full size, or for a uniform
    case at a size 4-16x smaller with the same aspect ratio, checked to be uniform
    (every pixel the same colour and depth complexity) and broadcast."""
    height, width = case.size
    size = case.size
    if case.uniform:
        factor = max(
            (
                f
                for f in range(1, 17)
                if height % f == 0 and width % f == 0 and min(height, width) // f >= 48
            ),
            default=1,
        )
        size = (height // factor, width // factor)
    with Timer() as timer:
        result = lamina.create("renderer", "reference").render(scene, camera, size)
    image, complexity = result.image.astype(np.float64), result.depth_complexity
    label = "reference"
    if size != case.size:
        pixels = image.reshape(-1, 4)
        if not (np.all(pixels == pixels[0]) and np.all(complexity == complexity.flat[0])):
            raise RuntimeError(f"{case.name}: the reference at {size} is not uniform")
        image = np.broadcast_to(pixels[0], (height, width, 4))
        complexity = np.broadcast_to(complexity.flat[0], case.size)
        label = f"reference ({size[1]}x{size[0]}, uniform, broadcast)"
    return {
        "label": label,
        "image": image,
        "fragments": int(complexity.sum()),
        "own_fragments": result.stats.fragments,
        "depth": int(complexity.max()),
        "timer": timer,
        "stats": result.stats,
    }


def run_case(case: Case, args: argparse.Namespace, methods: list[str]) -> dict[str, Any]:
    scene, camera = build_case(case)
    repeat = args.repeat if case.timed else 1
    reference = reference_image(case, scene, camera)
    expected = reference["image"]
    fragments, depth = reference["fragments"], reference["depth"]
    rows = [
        {
            "method": reference["label"],
            **_times(reference["timer"], reference["own_fragments"]),
            "passes": reference["stats"].geometry_passes,
            "theory_passes": None,
            "layers": reference["stats"].layers,
            **errors(expected, expected),
        }
    ]
    for name in methods:
        result, timer = time_lamina(name, scene, camera, case.size, repeat)
        stats = result.stats
        k = layers_per_pass(name)
        rows.append(
            {
                "method": name if k is None else f"{name} (k={k})",
                "lamina": True,
                **_times(timer, fragments),
                "theory_passes": theory(name, depth, k),
                "passes": stats.geometry_passes,
                "layers": stats.layers,
                "fragments": stats.fragments,
                "bound_hit": stats.bound_hit,
                **errors(result.image, expected),
            }
        )
    if not args.no_vtk:
        for method in VTK_METHODS:
            vtk = VtkPeeling(scene, camera, case.size, dual=method == "vtk-dual")
            image, timer, draws = vtk.render(depth, repeat)
            rows.append(
                {
                    "method": method,
                    **_times(timer, fragments),
                    "passes": draws,
                    "theory_passes": None,
                    "layers": None,
                    **errors(image, expected),
                }
            )
            args.opengl = vtk.opengl_renderer()
            del vtk
    return {
        "case": case.name,
        "scene": f"{case.generator}" + (f"(n={case.n})" if case.n else "()"),
        "size": [case.size[1], case.size[0]],
        "triangles": scene.n_triangles,
        "fragments": fragments,
        "max_depth_complexity": depth,
        "repeat": repeat,
        "speed_case": case.speed,
        "rows": rows,
        "ratios": ratios(rows),
    }


def _sweep_renderer(method: str) -> tuple[str, dict[str, Any]]:
    """The renderer name and parameters of a sweep ``method`` ("name [budget=N]")."""
    name, _, budget = method.partition(" budget=")
    return name, ({"max_fragments": int(budget)} if budget else {})


def run_sweep_row(
    sweep: str, generator: str, n: int, size: tuple[int, int], *, repeat: int, vtk: bool = False
) -> list[dict[str, Any]]:
    """One scene of a sweep with each of the sweep's methods: time, CPU time, throughput,
    peak memory (the renderer's own account and the process's peak RSS so far) and, where
    the reference ran, the largest error against it.  VTK's rows (``vtk``) render the
    scene with colours quantised to 8 bits, as VTK stores them, peeling until a peel
    writes nothing; their error includes that quantisation."""
    import resource

    scene, camera = procedural_scene(generator, n=n)
    rows, expected = [], None
    for method in SWEEP_METHODS[sweep]:
        if method == "reference" and scene.n_triangles > REFERENCE_LIMIT:
            continue
        if method in VTK_METHODS:
            if vtk:
                rows.append(_vtk_sweep_row(method, scene, camera, size, rows[0]))
            continue
        name, params = _sweep_renderer(method)
        times = 1 if method == "reference" else repeat
        result, timer = time_lamina(name, scene, camera, size, times, **params)
        if method == "reference":
            expected = result.image.astype(np.float64)
        rows.append(
            {
                "sweep": sweep,
                "scene": f"{generator}(n={n})",
                "triangles": scene.n_triangles,
                "size": [size[1], size[0]],
                "method": method,
                "fragments": result.stats.fragments,
                "max_depth_complexity": result.stats.max_depth_complexity,
                "passes": result.stats.geometry_passes,
                "peak_memory_mib": result.stats.peak_memory_bytes / 2**20,
                "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "image": result.image,
                "first_ms": timer.first_wall * 1e3,
                **_times(timer, result.stats.fragments),
            }
        )
    for row in rows:
        image = row.pop("image")
        row["max_error"] = None if expected is None else errors(image, expected)["max_error"]
    return rows


#: The child process of :func:`startup`: one renderer's first three frames in a
#: fresh process, with Taichi's per-kernel front end (Python AST -> IR) and first
#: launch (offline-cache load, LLVM JIT, run) timed apart.
_STARTUP_CHILD = """
import json, sys, time
began = time.perf_counter()
import lamina
from lamina.kernels import runtime
from lamina.scene.procedural import procedural_scene
imported = time.perf_counter()
runtime.init("cpu")
started = time.perf_counter()
from taichi.lang import kernel_impl
kernels = {}
materialize, launch = kernel_impl.Kernel.materialize, kernel_impl.Kernel.launch_kernel
def timed_materialize(self, *args, **kwargs):
    t = time.perf_counter()
    try:
        return materialize(self, *args, **kwargs)
    finally:
        entry = kernels.setdefault(self.func.__name__, [0.0, 0.0])
        entry[0] += time.perf_counter() - t
launched = set()
def timed_launch(self, compiled, *args):
    t = time.perf_counter()
    try:
        return launch(self, compiled, *args)
    finally:
        if id(compiled) not in launched:
            launched.add(id(compiled))
            entry = kernels.setdefault(self.func.__name__, [0.0, 0.0])
            entry[1] += time.perf_counter() - t
kernel_impl.Kernel.materialize, kernel_impl.Kernel.launch_kernel = timed_materialize, timed_launch
scene, camera = procedural_scene(sys.argv[2], n=int(sys.argv[3]))
renderer = lamina.create("renderer", sys.argv[1], arch="cpu")
wall, cpu = [time.perf_counter()], [time.process_time()]
for frame in range(3):
    renderer.render(scene, camera, (256, 256))
    wall.append(time.perf_counter())
    cpu.append(time.process_time())
print(json.dumps({"import_s": imported - began, "init_s": started - imported,
                  "frames_s": [b - a for a, b in zip(wall, wall[1:])],
                  "frames_cpu_s": [b - a for a, b in zip(cpu, cpu[1:])], "kernels": kernels}))
"""
#: (renderer, scene, n) of the start-up rows: a small scene (numpy setup) and one
#: large enough for the setup kernel.
STARTUP_CASES = [
    ("fragment-list", "random_triangles", 1_000),
    ("fragment-list", "random_triangles", 20_000),
    ("dual-depth-peeling", "random_triangles", 1_000),
]
#: A start-up row starts at most this many times the runs asked for: a run that
#: compiled a kernel (the cache missed it) is left out.
STARTUP_TRIES = 3


def _cached_kernels() -> int:
    """Entries in the offline cache (a run that adds one compiled a kernel)."""
    from lamina.kernels import runtime

    return sum(1 for _ in runtime.offline_cache_dir().glob("*.tic"))


def startup(repeats: int) -> list[dict[str, Any]]:
    """Issue 17 Must 4: what a fresh process pays for Taichi's compilation once the
    offline cache is warm (one untimed process warms it): the first two frames' time
    less twice the third's (the setup kernel may first run on the second frame, see
    ``raster.SETUP_KERNEL_FIRST_FACES``), the median and the best of ``repeats``
    processes, split into the front end (Python AST -> IR) and the first launches
    (cache load, LLVM JIT of the cached IR, first run) of each kernel.  A run that
    added an entry to the offline cache (a kernel's source changed meanwhile) is
    left out and run again, up to ``STARTUP_TRIES`` times the runs asked for."""
    import json
    import statistics
    import subprocess

    rows = []
    for method, generator, n in STARTUP_CASES:
        command = [sys.executable, "-c", _STARTUP_CHILD, method, generator, str(n)]
        subprocess.run(command, check=True, capture_output=True)  # warms the cache
        runs, misses = [], 0
        while len(runs) < repeats and misses < STARTUP_TRIES * repeats:
            entries = _cached_kernels()
            done = subprocess.run(command, check=True, capture_output=True, text=True)
            if _cached_kernels() != entries:
                misses += 1
                continue
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        if not runs:
            raise RuntimeError(f"{method}: every start-up run compiled kernels (cache cold)")
        for run in runs:
            for key in ("frames_s", "frames_cpu_s"):
                first, second, third = run[key]
                run[key.replace("frames", "compile")] = first + second - 2 * third
            run["frontend_s"] = sum(k[0] for k in run["kernels"].values())
            run["first_launch_s"] = sum(k[1] for k in run["kernels"].values())

        def median(key: str, runs: list[dict[str, Any]] = runs) -> float:
            return statistics.median(r[key] for r in runs)

        rows.append(
            {
                "renderer": method,
                "scene": f"{generator}(n={n})",
                "runs": len(runs),
                "cache_misses": misses,
                "compile_s": median("compile_s"),
                "compile_best_s": min(r["compile_s"] for r in runs),
                "compile_cpu_s": median("compile_cpu_s"),
                "frontend_s": median("frontend_s"),
                "first_launch_s": median("first_launch_s"),
                "kernels": {
                    name: [statistics.median(r["kernels"][name][i] for r in runs) for i in (0, 1)]
                    for name in runs[0]["kernels"]
                },
                "init_s": median("init_s"),
                "import_s": median("import_s"),
                "load_average": os.getloadavg()[0],
            }
        )
    return rows


def print_startup(rows: list[dict[str, Any]]) -> None:
    print_table(
        "start-up compilation: frames 1 + 2 less 2 x frame 3 of a fresh process, warm "
        "offline cache (median of the runs, best in brackets; goal <= 0.3 s)",
        ["renderer", "scene", "runs", "compile s", "cpu s", "front end s", "first launches s",
         "per kernel: front end / first launch s", "import s", "ti.init s", "load"],
        (
            [r["renderer"], r["scene"], str(r["runs"]),
             f"{r['compile_s']:.3f} ({r['compile_best_s']:.3f})", f"{r['compile_cpu_s']:.3f}",
             f"{r['frontend_s']:.3f}", f"{r['first_launch_s']:.3f}",
             ", ".join(f"{name} {a:.2f}/{b:.2f}" for name, (a, b) in r["kernels"].items()),
             f"{r['import_s']:.2f}", f"{r['init_s']:.2f}", f"{r['load_average']:.1f}"]
            for r in rows
        ),
    )  # fmt: skip


def _vtk_sweep_row(
    method: str, scene: Scene, camera: Camera, size: tuple[int, int], lamina_row: dict[str, Any]
) -> dict[str, Any]:
    """A sweep row for VTK's ``method`` (one timed frame), beside ``lamina_row`` (the
    same scene's fragment-list row, whose fragment count it shares)."""
    import resource

    peeling = VtkPeeling(quantised(scene), camera, size, dual=method == "vtk-dual")
    image, timer, draws = peeling.render(lamina_row["max_depth_complexity"], 1)
    return {
        **{key: lamina_row[key] for key in ("sweep", "scene", "triangles", "size")},
        "method": method,
        "fragments": lamina_row["fragments"],
        "max_depth_complexity": lamina_row["max_depth_complexity"],
        "passes": draws,
        "peak_memory_mib": math.nan,
        "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "image": image,
        **_times(timer, lamina_row["fragments"]),
    }


def print_sweeps(rows: list[dict[str, Any]]) -> None:
    for sweep in SWEEP_METHODS:
        mine = [r for r in rows if r["sweep"] == sweep]
        if not mine:
            continue
        print_table(
            f"{sweep} sweep",
            ["scene", "size", "method", "fragments", "depth", "passes", "ms", "cpu ms",
             "first ms", "Mfrag/s", "peak MiB", "max RSS MiB", "max err"],
            (
                [r["scene"], f"{r['size'][0]}x{r['size'][1]}", r["method"], f"{r['fragments']:,}",
                 r["max_depth_complexity"], r["passes"], f"{r['ms']:.1f}", f"{r['cpu_ms']:.1f}",
                 f"{r.get('first_ms', math.nan):.1f}", f"{r['mfragments_per_s']:.1f}", f"{r['peak_memory_mib']:.0f}",
                 f"{r['max_rss_mib']:.0f}",
                 "n/a" if r["max_error"] is None else f"{r['max_error']:.1e}"]
                for r in mine
            ),
        )  # fmt: skip


#: (faster, slower) method pairs whose speed-up every case reports.
PAIRS = [
    ("fragment-list", "vtk-classic"),
    ("fragment-list", "vtk-dual"),
    ("multilayer-depth-peeling", "depth-peeling"),
    ("dual-depth-peeling", "depth-peeling"),
]


def ratios(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Speed-ups by wall time and, with a ``_cpu`` suffix, by CPU time."""
    by = {row["method"].split(" ")[0]: row for row in rows}
    result: dict[str, float] = {}
    for suffix, key in (("", "ms"), ("_cpu", "cpu_ms")):
        for fast, slow in PAIRS:
            if fast in by and slow in by:
                name = f"{fast}_vs_{slow}{suffix}".replace("-", "_")
                result[name] = by[slow][key] / by[fast][key]
        vtk = [by[m][key] for m in VTK_METHODS if m in by]
        if vtk and "fragment-list" in by:
            result[f"fragment_list_vs_faster_vtk{suffix}"] = min(vtk) / by["fragment-list"][key]
    return result


def print_case(result: dict[str, Any]) -> None:
    title = (
        f"{result['case']}: {result['scene']} at {result['size'][0]}x{result['size'][1]}, "
        f"{result['fragments']:,} fragments, depth complexity <= {result['max_depth_complexity']}"
    )
    print_table(
        title,
        [
            "method",
            "ms",
            "cpu ms",
            "Mfrag/s",
            "max err",
            "mean err",
            "max err (8-bit)",
            "mean err (8-bit)",
            "passes",
            "theory",
        ],
        (
            [
                row["method"],
                f"{row['ms']:.1f}",
                f"{row['cpu_ms']:.0f}",
                f"{row['mfragments_per_s']:.1f}",
                f"{row['max_error']:.2e}",
                f"{row['mean_error']:.2e}",
                f"{row['max_error_8bit']:.2f}",
                f"{row['mean_error_8bit']:.3f}",
                f"{row['passes']:g}",
                "" if row["theory_passes"] is None else str(row["theory_passes"]),
            ]
            for row in result["rows"]
        ),
    )
    found = result["ratios"]
    text = ", ".join(
        f"{name.replace('_vs_', ' over ').replace('_', '-')} {found[name]:.1f}x "
        f"(CPU {found[name + '_cpu']:.1f}x)"
        for name in found
        if not name.endswith("_cpu")
    )
    if text:
        stdout_console.print(f"speed-ups: {text}\n")


def _criterion(
    text: str, wall: list[float], cpu: list[float], threshold: float, unit: str = "x"
) -> dict[str, Any]:
    """One row of the criteria table: the worst value by wall and by CPU time."""
    if not wall:
        return {"check": text, "value": "n/a", "met": ""}

    def verdict(values: list[float]) -> str:
        return "yes" if min(values) >= threshold else "NO"

    return {
        "check": text,
        "value": f"min {min(wall):.1f}{unit} (CPU time: {min(cpu):.1f}{unit})",
        "met": f"{verdict(wall)} (CPU: {verdict(cpu)})",
    }


def checks(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's must and goal criteria, each with the measured values and verdicts."""
    lamina_rows = [(r, row) for r in results for row in r["rows"] if row.get("lamina")]
    worst = max((row["max_error"] for _, row in lamina_rows), default=math.nan)
    speed = [r for r in results if r["speed_case"]]

    def ratio(name: str, cases: list[dict[str, Any]]) -> list[float]:
        return [r["ratios"][name] for r in cases if name in r["ratios"]]

    def slower_vtk(suffix: str) -> list[float]:
        pairs = [
            ratio(f"fragment_list_vs_{m.replace('-', '_')}{suffix}", speed) for m in VTK_METHODS
        ]
        return [min(values) for values in zip(*pairs, strict=True)]

    square = [r for r in speed if r["size"][0] == r["size"][1]]
    rates = [
        row["mfragments_per_s"]
        for r in speed
        for row in r["rows"]
        if row["method"] == "fragment-list"
    ]
    cpu_rates = [
        r["fragments"] / row["cpu_ms"] / 1e3
        for r in speed
        for row in r["rows"]
        if row["method"] == "fragment-list"
    ]
    mismatched = [
        f"{r['case']}: {row['method']} {row['passes']} != {row['theory_passes']}"
        for r, row in lamina_rows
        if row["theory_passes"] is not None and row["passes"] != row["theory_passes"]
    ]
    multilayer = ratio("multilayer_depth_peeling_vs_depth_peeling", speed)
    multilayer_cpu = ratio("multilayer_depth_peeling_vs_depth_peeling_cpu", speed)
    return [
        {
            "check": "must: every lamina method exact (max error <= 1e-5)",
            "value": f"max {worst:.1e}",
            "met": "yes" if worst <= 1e-5 else "NO",
        },
        _criterion(
            "must: fragment-list >= 10x faster than both VTK methods, every scene",
            slower_vtk(""),
            slower_vtk("_cpu"),
            10,
        ),
        _criterion(
            "goal: fragment-list >= 20x faster than the faster VTK, 512x512 scenes",
            ratio("fragment_list_vs_faster_vtk", square),
            ratio("fragment_list_vs_faster_vtk_cpu", square),
            20,
        ),
        _criterion(
            "goal: fragment-list >= 150 Mfragments/s (CPU: per CPU-second)",
            rates,
            cpu_rates,
            150,
            unit="",
        ),
        {
            "check": "goal: pass counts match theory (N, ceil(N/2)+1, ceil(N/k))",
            "value": "; ".join(mismatched) or "all match",
            "met": "NO" if mismatched else "yes",
        },
        {
            "check": "multi-layer over classic speed-up (literature: up to 8x)",
            "value": ", ".join(f"{x:.1f}x" for x in multilayer)
            + " (CPU time: "
            + ", ".join(f"{x:.1f}x" for x in multilayer_cpu)
            + ")",
            "met": "",
        },
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small scenes, a smoke run")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument(
        "--repeat", type=int, default=3, help="timed renders per 512x512 case and per sweep row"
    )
    parser.add_argument("--arch", default=None, help="Taichi backend: cpu, cuda, vulkan, auto")
    parser.add_argument("--no-vtk", action="store_true", help="lamina's renderers only")
    parser.add_argument("--cases", default=None, help="comma-separated case names to run")
    parser.add_argument(
        "--startup",
        type=int,
        default=0,
        metavar="N",
        help="measure the first frame's compilation in N fresh processes (issue 17 Must 4) "
        "instead of the cases (with --cases: before them)",
    )
    parser.add_argument(
        "--sweeps",
        default=None,
        help="comma-separated sweeps to run (triangles, resolution, depth) instead of the cases",
    )
    args = parser.parse_args(argv)
    args.opengl = None
    vtk_version = None if args.no_vtk else _prepare_vtk()
    from lamina.kernels import runtime

    arch = runtime.init(args.arch)
    cases = [] if args.startup and not args.cases else QUICK if args.quick else FULL
    if args.cases:
        wanted = set(args.cases.split(","))
        cases = [c for c in cases if c.name in wanted]
    methods = lamina_methods()
    results = []
    sweep_rows: list[dict[str, Any]] = []
    startup_rows = startup(args.startup) if args.startup else []
    if startup_rows and not args.json:
        print_startup(startup_rows)
    if args.sweeps:
        wanted = set(args.sweeps.split(","))
        cases = []
        for sweep, generator, n, size in QUICK_SWEEPS if args.quick else SWEEPS:
            if sweep in wanted:
                print(f"running {sweep} sweep: {generator}({n}) at {size} ...", file=sys.stderr)
                sweep_rows += run_sweep_row(
                    sweep, generator, n, size, repeat=args.repeat, vtk=not args.no_vtk
                )
        if not args.json:
            print_sweeps(sweep_rows)
    for case in cases:
        print(f"running {case.name} ...", file=sys.stderr, flush=True)
        result = run_case(case, args, methods)
        results.append(result)
        if not args.json:
            print_case(result)
    machine = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "lamina": lamina.__version__,
        "taichi_arch": arch,
        "vtk": vtk_version,
        "vtk_opengl": args.opengl,
    }
    verdicts = checks(results) if results else []
    if args.json:
        emit_json(
            {
                "benchmark": "oit",
                "quick": args.quick,
                "machine": machine,
                "cases": results,
                "sweeps": sweep_rows,
                "startup": startup_rows,
                "load_average": os.getloadavg(),
                "checks": verdicts,
            }
        )
    elif verdicts:
        print_table(
            "criteria"
            + (" (quick run: scenes too small for the speed goals)" if args.quick else ""),
            ["criterion", "measured", "met"],
            ([c["check"], c["value"], c["met"]] for c in verdicts),
        )
        stdout_console.print(
            f"machine: {machine['cpu_count']} CPUs, taichi {arch}, VTK {vtk_version} on "
            f"{args.opengl}; errors are per premultiplied RGBA channel against lamina's float64 "
            "reference; colours are 8-bit quantised for all methods"
        )
    if not args.json:
        stdout_console.print(f"load average at the end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
