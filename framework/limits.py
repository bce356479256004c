"""Size limits, in one table: the command line, the components and the docs all read them here.

A limit is a hard bound on a user-given number that no amount of memory
changes (a renderer's largest side, an upsampling factor beyond which the
answer cannot improve). Bounds that depend on the machine are the memory
guard's business (:mod:`lamina.memory`), not this table's.

>>> from lamina.limits import LIMITS, MAX_IMAGE_SIDE
>>> MAX_IMAGE_SIDE
16384
>>> LIMITS["MAX_IMAGE_SIDE"].applies_to
'renderer and interpolator output height and width, in pixels'

The README's "Limits" section is :func:`markdown_table`, pasted between its
markers (``python -m lamina.limits`` prints it; a test keeps the two equal).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "LIMITS",
    "MAX_COMPARE_REPEATS",
    "MAX_COORDINATE",
    "MAX_EXPRESSION_LENGTH",
    "MAX_FPS",
    "MAX_FRAGMENTS",
    "MAX_HAT_NETWORK_NODES",
    "MAX_IMAGE_SIDE",
    "MAX_INTERPOLANT_NODES",
    "MAX_LIGHTS",
    "MAX_LM_PARAMETERS",
    "MAX_ORBIT_FRAMES",
    "MAX_PEEL_LAYERS",
    "MAX_PREVIEW_ZOOM",
    "MAX_PROCEDURAL_LAYERS",
    "MAX_PROCEDURAL_SHELLS",
    "MAX_PROJECTION_SCALE",
    "MAX_RANDOM_COVERAGE",
    "MAX_RANDOM_TRIANGLES",
    "MAX_SPHERE_SUBDIVISIONS",
    "MAX_SUPERSAMPLES",
    "MAX_SWEEP_POINTS",
    "MAX_TASK_RETRIES",
    "MAX_TORUS_SUBDIVISIONS",
    "MAX_TRAVERSE_LATENTS",
    "MAX_VIEW_MAGNIFICATION",
    "MAX_WORKERS",
    "MAX_WORKER_TIMEOUT",
    "Limit",
    "markdown_table",
]


@dataclass(frozen=True)
class Limit:
    """One bound: its value, what it applies to, and why it is there."""

    name: str
    value: int | float
    applies_to: str
    why: str


_TABLE = (
    Limit(
        "MAX_IMAGE_SIDE",
        16384,
        "renderer and interpolator output height and width, in pixels",
        "the largest texture side of current GPUs; larger frames are tiled by the caller",
    ),
    Limit(
        "MAX_SWEEP_POINTS",
        1_000_000,
        "points of one pipeline step's sweep (lists and ranges)",
        "each point is a task with its own key, log line and stored result; "
        "a million already takes minutes just to plan",
    ),
    Limit(
        "MAX_TASK_RETRIES",
        10,
        "a pipeline step's `retries`",
        "a task that fails eleven times is broken, not unlucky",
    ),
    Limit(
        "MAX_INTERPOLANT_NODES",
        2_000_000,
        "grid nodes (hidden units) of a ReLU interpolant, fitted or built by "
        "`lamina approximate --method constructive --width`",
        "its sparse least-squares solve and its network grow with the nodes (1e8 nodes in 1-D "
        "took 9.5 GB and over 100 s); 2 million knots already resolve a unit interval to 5e-7",
    ),
    Limit(
        "MAX_HAT_NETWORK_NODES",
        100_000,
        "grid nodes of the Kuhn-simplex hat network built from a fitted interpolant in 2 or "
        "more dimensions (the 1-D network is exempt)",
        "each forward chunk holds a 4,096 points x nodes x dimensions tensor: "
        "100,000 nodes in 2-D is 3.3 GB in float32",
    ),
    Limit(
        "MAX_LM_PARAMETERS",
        4096,
        "trainable parameters of a network fitted with `solver='lm'` (Levenberg-Marquardt)",
        "each step solves a dense parameters x parameters normal matrix: 4,096 is a 128 MiB "
        "float64 matrix and a cubic solve per step; larger networks use 'lbfgs'",
    ),
    Limit(
        "MAX_EXPRESSION_LENGTH",
        2000,
        "characters of a target function given to `lamina approximate`",
        "a formula, not a program: Python's parser recurses on nesting, and a longer text "
        "is almost surely a mistake",
    ),
    Limit(
        "MAX_ORBIT_FRAMES",
        100_000,
        "frames of `lamina render --orbit`",
        "each frame is a full render and a stored image; 100,000 frames at 20 fps is "
        "83 minutes of animation",
    ),
    Limit(
        "MAX_FPS",
        120,
        "`lamina render --fps` (animations and the --show viewer)",
        "GIF stores frame delays in whole hundredths of a second and most displays refresh "
        "at 60 to 120 Hz: faster rates only drop frames",
    ),
    Limit(
        "MAX_COMPARE_REPEATS",
        1000,
        "`lamina render --compare --repeat`",
        "the fastest of a thousand runs is settled; more only multiplies the wait",
    ),
    Limit(
        "MAX_SUPERSAMPLES",
        8,
        "supersampling factor per side (`lamina render --samples N`: N x N samples per pixel)",
        "the work and the frame grow with N squared; 64 exact samples per pixel is past "
        "what 8-bit output shows",
    ),
    Limit(
        "MAX_COORDINATE",
        1e150,
        "absolute value of scene vertex coordinates and of a camera's eye, target, near, "
        "far and orthographic height, in world units (a mesh framed by the automatic "
        "camera: a bounding-sphere radius up to 1.78e+149, its far plane 5.6 radii away)",
        "lengths, normals and lighting square coordinates in float64, which overflows "
        "past 1.3e154; the observable universe in metres is below 1e27",
    ),
    Limit(
        "MAX_PROJECTION_SCALE",
        1e300,
        "a camera's 1 / tan(fov_y / 2) and 1 / orthographic height (so fov_y at least "
        "1.15e-298 degrees, orthographic height at least 1e-300 world units)",
        "the projection multiplies by these and then by the aspect ratio (down to 1/16384): "
        "the products stay below 1e305, finite and clear of the subnormals that Taichi's "
        "flush-to-zero makes 0",
    ),
    Limit(
        "MAX_VIEW_MAGNIFICATION",
        1e14,
        "a render's largest image side in pixels times the sum of the lengths of eye, "
        "target and target - eye, over the view's width at the target (2 tan(fov_y / 2) "
        "times the length of target - eye, or the orthographic height): `--zoom`, `--fov`, "
        "a scene file's [camera]",
        "the float64 projection rounds a point by about 1e-16 of those lengths: measured "
        "against a float64 ray caster, edges first land in other pixels at 1.1e15 (zoom "
        "about 1e13 on a framed mesh at 48 pixels); 1e14 keeps them within 1/100 pixel",
    ),
    Limit(
        "MAX_LIGHTS",
        4,
        "directional lights of a render (`--light`, a scene's lights), besides the headlight",
        "each light is one more shading pass over every vertex or face; four directions "
        "are key, fill, rim and back light",
    ),
    Limit(
        "MAX_PEEL_LAYERS",
        4096,
        "layers `k` peeled per geometry pass by multi-layer depth peeling",
        "each pixel keeps a sorted k-entry buffer (up to k steps per fragment inserted); "
        "beyond a few thousand layers the fragment-list renderer is the better choice",
    ),
    Limit(
        "MAX_FRAGMENTS",
        2**31 - 1,
        "a renderer's `max_fragments` budget",
        "Taichi ndarrays index with 32-bit integers",
    ),
    Limit(
        "MAX_PROCEDURAL_LAYERS",
        100_000,
        "`n` of the procedural quad scenes (stacked, partial and intersecting quads)",
        "every pixel is covered n times, so fragments grow with n x pixels",
    ),
    Limit(
        "MAX_PROCEDURAL_SHELLS",
        1000,
        "`n` of the procedural nested spheres and tori",
        "each shell is a full mesh (up to 327,680 triangles for a sphere), "
        "and a ray crosses 2 to 4 n surfaces",
    ),
    Limit(
        "MAX_SPHERE_SUBDIVISIONS",
        7,
        "`subdivisions` of the procedural nested spheres",
        "each subdivision quadruples the triangles: 7 gives 327,680 per shell",
    ),
    Limit(
        "MAX_TORUS_SUBDIVISIONS",
        4096,
        "`segments` and `rings` of the procedural torus",
        "2 x segments x rings triangles per tube: 4,096 each is 33.5 million",
    ),
    Limit(
        "MAX_RANDOM_TRIANGLES",
        10_000_000,
        "`n` of the procedural random-triangles scene",
        "a throughput test; ten million triangles already need gigabytes of vertex and setup arrays",
    ),
    Limit(
        "MAX_RANDOM_COVERAGE",
        1000,
        "`coverage` of the procedural random-triangles scene (the triangles' total "
        "projected area over the view's: about the mean depth complexity)",
        "fragments grow with coverage x pixels; a thousand layers per pixel on average is "
        "far past any real scene",
    ),
    Limit(
        "MAX_PREVIEW_ZOOM",
        32,
        "`lamina vae --zoom` (pixel enlargement of the PNG previews)",
        "the previews are grids of samples: a 28 x 28 image at 32x is already 896 pixels a side",
    ),
    Limit(
        "MAX_TRAVERSE_LATENTS",
        64,
        "latent coordinates shown by `lamina vae --traverse`",
        "one row of the traversal image per coordinate; past 64 rows it is unreadable",
    ),
    Limit(
        "MAX_WORKERS",
        64,
        "`lamina run --workers` (parallel tasks or LocalCluster workers)",
        "one machine's worth: each worker is a process or thread holding its task's data",
    ),
    Limit(
        "MAX_WORKER_TIMEOUT",
        86_400,
        "seconds `lamina run --worker-timeout` waits for a Dask worker to join",
        "a day: a worker that has not joined by then is not coming",
    ),
)

#: Every limit by name.
LIMITS: dict[str, Limit] = {limit.name: limit for limit in _TABLE}

MAX_IMAGE_SIDE: int = int(LIMITS["MAX_IMAGE_SIDE"].value)
MAX_INTERPOLANT_NODES: int = int(LIMITS["MAX_INTERPOLANT_NODES"].value)
MAX_SWEEP_POINTS: int = int(LIMITS["MAX_SWEEP_POINTS"].value)
MAX_TASK_RETRIES: int = int(LIMITS["MAX_TASK_RETRIES"].value)
MAX_HAT_NETWORK_NODES: int = int(LIMITS["MAX_HAT_NETWORK_NODES"].value)
MAX_LM_PARAMETERS: int = int(LIMITS["MAX_LM_PARAMETERS"].value)
MAX_EXPRESSION_LENGTH: int = int(LIMITS["MAX_EXPRESSION_LENGTH"].value)
MAX_ORBIT_FRAMES: int = int(LIMITS["MAX_ORBIT_FRAMES"].value)
MAX_FPS: int = int(LIMITS["MAX_FPS"].value)
MAX_COMPARE_REPEATS: int = int(LIMITS["MAX_COMPARE_REPEATS"].value)
MAX_SUPERSAMPLES: int = int(LIMITS["MAX_SUPERSAMPLES"].value)
MAX_LIGHTS: int = int(LIMITS["MAX_LIGHTS"].value)
MAX_COORDINATE: float = float(LIMITS["MAX_COORDINATE"].value)
MAX_PROJECTION_SCALE: float = float(LIMITS["MAX_PROJECTION_SCALE"].value)
MAX_VIEW_MAGNIFICATION: float = float(LIMITS["MAX_VIEW_MAGNIFICATION"].value)
MAX_PEEL_LAYERS: int = int(LIMITS["MAX_PEEL_LAYERS"].value)
MAX_FRAGMENTS: int = int(LIMITS["MAX_FRAGMENTS"].value)
MAX_PROCEDURAL_LAYERS: int = int(LIMITS["MAX_PROCEDURAL_LAYERS"].value)
MAX_PROCEDURAL_SHELLS: int = int(LIMITS["MAX_PROCEDURAL_SHELLS"].value)
MAX_SPHERE_SUBDIVISIONS: int = int(LIMITS["MAX_SPHERE_SUBDIVISIONS"].value)
MAX_TORUS_SUBDIVISIONS: int = int(LIMITS["MAX_TORUS_SUBDIVISIONS"].value)
MAX_RANDOM_TRIANGLES: int = int(LIMITS["MAX_RANDOM_TRIANGLES"].value)
MAX_RANDOM_COVERAGE: int = int(LIMITS["MAX_RANDOM_COVERAGE"].value)
MAX_PREVIEW_ZOOM: int = int(LIMITS["MAX_PREVIEW_ZOOM"].value)
MAX_TRAVERSE_LATENTS: int = int(LIMITS["MAX_TRAVERSE_LATENTS"].value)
MAX_WORKERS: int = int(LIMITS["MAX_WORKERS"].value)
MAX_WORKER_TIMEOUT: int = int(LIMITS["MAX_WORKER_TIMEOUT"].value)


def markdown_table() -> str:
    """The table as Markdown, for the README.

    >>> markdown_table().splitlines()[0]
    '| limit | value | applies to | why |'
    """
    rows = ["| limit | value | applies to | why |", "|---|---|---|---|"]
    rows += [
        f"| `{limit.name}` | {limit.value:,} | {limit.applies_to} | {limit.why} |"
        for limit in _TABLE
    ]
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
