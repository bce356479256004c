"""The Taichi triangle setup (lamina.kernels.oit_setup) against the numpy setup in
lamina.plugins.oit.raster, which stays the reference implementation: every array
equal bit for bit, on seeded scenes with slivers, sub-pixel and huge triangles,
near-plane and guard-band clipping, shared vertices, face and vertex colours,
perspective and orthographic cameras."""

import numpy as np
import pytest

from lamina.plugins.oit import raster
from lamina.scene import Camera, Scene, degenerate_faces

CAMERAS = {
    "perspective": Camera.look_at((0.4, -0.3, 3.5), (0, 0, 0), fov_y=55, near=0.4, far=9.0),
    "wide": Camera.look_at((-2.0, 1.0, 1.2), (0, 0, 0), fov_y=100, near=0.05),
    "orthographic": Camera.look_at(
        (0.2, 0.1, 4), (0, 0, 0), projection="orthographic", ortho_height=2.5, near=2.0, far=6.0
    ),
}
SIZES = [(1, 1), (37, 53), (128, 96), (300, 512)]


def random_scene(seed: int, *, per_vertex: bool) -> Scene:
    """Loose triangles of every scale (sub-pixel to far beyond the guard band, some
    slivers) and a small grid mesh whose faces share vertices, in a box the cameras
    see partly from inside (so faces cross the near and far planes)."""
    rng = np.random.default_rng(seed)
    n = 400
    centres = rng.uniform(-2.5, 2.5, (n, 1, 3))
    scales = 10.0 ** rng.uniform(-3.5, 1.5, (n, 1, 1))
    loose = centres + scales * rng.normal(size=(n, 3, 3))
    loose[: n // 10, 2] = loose[: n // 10, 0] + 1e-5 * rng.normal(size=(n // 10, 3))  # slivers
    u, v = np.meshgrid(np.linspace(-1, 1, 9), np.linspace(-1, 1, 9))
    grid = np.stack([u.ravel(), v.ravel(), 0.3 * np.sin(3 * u).ravel()], axis=1)
    quads = np.array([(a, a + 1, a + 10, a + 9) for a in range(72) if a % 9 != 8])
    mesh_faces = np.concatenate([quads[:, :3], quads[:, [0, 2, 3]]]) + 3 * n
    vertices = np.concatenate([loose.reshape(-1, 3), grid])
    faces = np.concatenate([np.arange(3 * n).reshape(n, 3), mesh_faces])
    keep = ~degenerate_faces(vertices, faces)
    faces = faces[keep]
    if per_vertex:
        colors = rng.uniform(0.05, 0.95, (len(vertices), 4))
        return Scene(vertices=vertices, faces=faces, vertex_colors=colors)
    colors = rng.uniform(0.05, 0.95, (len(faces), 4))
    return Scene(vertices=vertices, faces=faces, face_colors=colors)


@pytest.fixture
def always_kernel(monkeypatch):
    """The kernel setup for every scene size (it starts at SETUP_KERNEL_MIN_FACES)."""
    monkeypatch.setattr(raster, "SETUP_KERNEL_MIN_FACES", 1)
    monkeypatch.setattr(raster, "SETUP_KERNEL_FIRST_FACES", 1)


def assert_same_setup(
    scene: Scene, camera: Camera, size: tuple[int, int]
) -> raster.RasterTriangles:
    expected = raster.setup(scene, camera, size)
    actual = raster.setup(scene, camera, size, arch="cpu")
    for name in ("face", "table", "bbox", "shade"):
        a, b = getattr(actual, name), getattr(expected, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        # Bit for bit, NaN-free: compare the bytes.
        assert a.tobytes() == b.tobytes(), f"{name} differs in {np.sum(a != b)} entries"
    assert (actual.flat, actual.id_bits, actual.depth_shift) == (
        expected.flat,
        expected.id_bits,
        expected.depth_shift,
    )
    return expected


@pytest.mark.parametrize("per_vertex", [False, True], ids=["face-colours", "vertex-colours"])
@pytest.mark.parametrize("camera", list(CAMERAS), ids=list(CAMERAS))
@pytest.mark.parametrize("seed", range(3))
def test_kernel_setup_equals_the_numpy_setup(seed, camera, per_vertex, always_kernel):
    scene = random_scene(seed, per_vertex=per_vertex)
    for size in SIZES:
        tris = assert_same_setup(scene, CAMERAS[camera], size)
    # The grid reaches every case the kernel routes: clipped fans (more raster
    # triangles than faces kept) and faces set up in the kernel.
    clipped = np.bincount(tris.face, minlength=scene.n_triangles) > 1
    assert tris.n > 100 and clipped.any()


def test_scenes_with_nothing_visible_or_everything_clipped(always_kernel):
    scene = random_scene(0, per_vertex=False)
    behind = Camera.look_at((0, 0, 40), (0, 0, 80), fov_y=40, near=1.0)
    assert assert_same_setup(scene, behind, (32, 32)).n == 0
    inside = Camera.look_at((0, 0, 0), (0, 0, -1), fov_y=150, near=0.01, far=2.0)
    assert assert_same_setup(scene, inside, (64, 48)).n > 0


def test_renderings_with_the_kernel_setup_equal_the_numpy_setup(always_kernel, monkeypatch):
    import lamina

    scene = random_scene(5, per_vertex=True)
    camera = CAMERAS["perspective"]
    renderer = lamina.create("renderer", "fragment-list", arch="cpu")
    with_kernel = renderer.render(scene, camera, (96, 128))
    monkeypatch.setattr(raster, "SETUP_KERNEL_MIN_FACES", 10**9)
    with_numpy = renderer.render(scene, camera, (96, 128))
    assert with_kernel.image.tobytes() == with_numpy.image.tobytes()
    np.testing.assert_array_equal(with_kernel.depth_complexity, with_numpy.depth_complexity)


def test_the_kernel_runs_from_the_first_frame_only_for_large_scenes(monkeypatch):
    """Its one-off compilation pays on a first frame only for large scenes; on later
    frames from SETUP_KERNEL_MIN_FACES faces."""
    monkeypatch.setattr(raster, "_large_frames", 0)
    monkeypatch.setattr(raster, "SETUP_KERNEL_MIN_FACES", 100)
    monkeypatch.setattr(raster, "SETUP_KERNEL_FIRST_FACES", 1000)
    assert [raster._kernel_pays(n) for n in (99, 500, 99, 500, 5000)] == [
        False,
        False,
        False,
        True,
        True,
    ]
    monkeypatch.setattr(raster, "_large_frames", 0)
    assert raster._kernel_pays(1000)


def test_constants_match_the_raster_setup():
    from lamina.kernels import oit_setup

    assert oit_setup.DEPTH_BITS == raster.DEPTH_BITS and oit_setup.GUARD == raster.GUARD
    assert oit_setup.GRADIENT_SPAN_BITS == raster.GRADIENT_SPAN_BITS
    assert oit_setup.BIN_REACH == raster._BIN_REACH
    assert 1 << oit_setup.ANCHOR_LIMIT_BITS == raster._ANCHOR_LIMIT


def test_rint_equals_numpy():
    """The kernels' ``rint`` (an added constant below 2**51, ``floor`` above) rounds
    as ``numpy.rint`` does: halves to even on both sides of 0 and of 2**51, values
    past 2**52, infinities and NaN; seeded random values of every magnitude."""
    import taichi as ti

    from lamina.kernels import oit_setup, runtime

    runtime.init("cpu")

    @ti.kernel
    def rounded(values: ti.types.ndarray(dtype=ti.f64, ndim=1)):
        for k in range(values.shape[0]):
            values[k] = oit_setup.rint(values[k])

    rng = np.random.default_rng(5)
    edges = [2.0**51, 2.0**52, 2.0**53]
    special = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999999999999994, -0.3, 1e-300, 0.0]
    special += [e + d for e in edges for d in (-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0)]
    special += [np.inf, 1e300]
    values = np.array(special + [-v for v in special] + [np.nan])
    scales = 2.0 ** rng.integers(-4, 60, 4000)
    halves = np.floor(rng.uniform(-1, 1, 4000) * scales) + 0.5
    values = np.concatenate([values, rng.uniform(-1, 1, 4000) * scales, halves])
    found = values.copy()
    rounded(found)
    np.testing.assert_array_equal(found, np.rint(values))
