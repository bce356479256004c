"""The OIT kernels piece by piece: integer coverage and keys against the numpy
definitions in lamina.plugins.oit.raster, binning against brute force, the
per-pixel sorts against numpy.sort, counts and prefix sums against numpy."""

import numpy as np
import pytest

from lamina.plugins.oit import raster
from lamina.scene import Camera, Scene

SIZE = (40, 56)


@pytest.fixture(scope="session")
def ti():
    from lamina.kernels import runtime

    runtime.init()
    import taichi

    return taichi


@pytest.fixture(scope="session")
def common(ti):
    from lamina.kernels import oit_common

    return oit_common.build(ti.f64)


@pytest.fixture(scope="session")
def probes(ti, common):
    """Kernels that expose the ``ti.func`` helpers to the tests."""
    from lamina.kernels import oit_common as oc

    @ti.kernel
    def coverage_and_keys(
        table: oc.table_t,
        covered: ti.types.ndarray(dtype=ti.i32, ndim=3),
        keys: ti.types.ndarray(dtype=ti.i64, ndim=3),
        id_bits: ti.i32,
        depth_shift: ti.i32,
    ):
        for r, j, i in ti.ndrange(covered.shape[0], covered.shape[1], covered.shape[2]):
            covered[r, j, i] = common.covers(table, r, i, j)
            keys[r, j, i] = common.key(table, r, i, j, id_bits, depth_shift)

    @ti.kernel
    def sort_lists(
        keys: oc.keys_t,
        starts: oc.keys_t,
        gaps: oc.keys_t,
        boxes: oc.boxes_t,
        mode: ti.i32,
    ):
        for s in range(starts.shape[0] - 1):
            start = ti.cast(starts[s], ti.i32)
            n = ti.cast(starts[s + 1], ti.i32) - start
            if mode == 1:
                common.shell_sort(keys, boxes, gaps, start, n)
            elif mode == 0:
                common.sort_keys(keys, gaps, start, n)
            elif n <= 64:  # in a thread's own array, as the fragment list does
                local = ti.Vector([0] * 64, dt=ti.i64)
                for a in range(n):
                    local[a] = keys[start + a]
                common.sort_keys(local, gaps, 0, n)
                for a in range(n):
                    keys[start + a] = local[a]

    return coverage_and_keys, sort_lists


def random_scene(seed: int, n: int = 40, *, per_vertex: bool = False) -> Scene:
    rng = np.random.default_rng(seed)
    vertices = rng.uniform(-1.6, 1.6, (3 * n, 3))
    vertices[:, 2] *= 2.0
    # Some slivers, some huge triangles, some through the near plane.
    vertices[:3] = [[-0.5, -0.5, 0], [0.5, 0.5, 0.0], [-0.5, -0.5 + 1e-4, 1.0]]
    vertices[3:6] = [[-40, -30, -1], [50, -20, 1], [0, 60, 0.5]]
    vertices[6:9] = [[-1, -1, 6], [1, -1, -3], [0, 1, 0]]
    faces = np.arange(3 * n).reshape(n, 3)
    colors = rng.uniform(0.1, 0.9, (3 * n if per_vertex else n, 4))
    if per_vertex:
        return Scene(vertices=vertices, faces=faces, vertex_colors=colors)
    return Scene(vertices=vertices, faces=faces, face_colors=colors)


CAMERAS = [
    Camera.look_at((0.3, 0.2, 4), (0, 0, 0), fov_y=50, near=0.5),
    Camera.look_at((0, 0, 4), (0, 0, 0), projection="orthographic", ortho_height=3.0),
]


def test_constants_match_the_raster_setup():
    from lamina.kernels import oit_common

    names = ("TILE", "SUBPIXEL_BITS", "GRADIENT_BITS", "COL_Z", "COL_GX", "COL_GY", "ANCHOR_SHIFT")
    for name in names:
        assert getattr(oit_common, name) == getattr(raster, name)
    assert (oit_common.COL_ZLO, oit_common.COL_ZHI, oit_common.COL_EDGE) == (
        raster.COL_ZLO,
        raster.COL_ZHI,
        raster.COL_EDGE,
    )
    gaps = oit_common.SHELL_GAPS
    assert gaps[-1] == 1 and np.all(np.diff(gaps) < 0) and gaps[0] >= 2**31


@pytest.mark.parametrize("camera", CAMERAS, ids=["perspective", "orthographic"])
def test_coverage_and_keys_equal_the_numpy_definition(camera, probes):
    tris = raster.setup(random_scene(1), camera, SIZE)
    assert tris.n > 30
    covered = np.zeros((tris.n, *SIZE), np.int32)
    keys = np.zeros((tris.n, *SIZE), np.int64)
    probes[0](tris.table, covered, keys, tris.id_bits, tris.depth_shift)
    r, j, i = (
        a.ravel() for a in np.meshgrid(np.arange(tris.n), *map(np.arange, SIZE), indexing="ij")
    )
    expected_cover = tris.covers(r, tris.edge_values(r, i, j)).reshape(covered.shape)
    np.testing.assert_array_equal(covered, expected_cover)
    expected_keys = tris.keys(r, i, j).reshape(keys.shape)
    inside = expected_cover.astype(bool)
    np.testing.assert_array_equal(keys[inside], expected_keys[inside])
    # Keys at one pixel are distinct (the raster index is in the low bits).
    assert len(np.unique(expected_keys[:, 20, 20][inside[:, 20, 20]])) == inside[:, 20, 20].sum()


def test_packed_records_hold_the_depth_planes_and_colours_bit_for_bit(ti, common):
    """``pack`` copies the depth plane and the f32 RGBA bits (any sign and magnitude,
    so the low word's sign does not leak into the high word); ``packed_rgba`` gives
    ``rgba``'s premultiplied colour from it; each record is one aligned cache line."""
    from lamina.kernels import oit_common as oc
    from lamina.plugins.oit.renderers.device import Device

    rng = np.random.default_rng(7)
    n = 500
    table = rng.integers(-(2**62), 2**62, (n, raster.TABLE_COLUMNS), dtype=np.int64)
    shade = (rng.normal(size=(n, 4)) * 10.0 ** rng.integers(-40, 37, (n, 4))).astype(np.float32)
    shade[:5] = [[-0.0, 0.0, -1.0, 1.0], [1e-45, -1e-45, 3e38, -3e38], [0.5] * 4, [0.0] * 4,
                 [-2.0, 0.25, 1.0, -0.5]]  # fmt: skip
    packed = Device("cpu").empty((n, oc.PACKED_COLUMNS), np.int64)
    assert packed.ctypes.data % 64 == 0 and packed.strides[0] == 64
    common.pack(table, shade, packed)
    # the host's pack (what the CPU renders use) is the kernel's, bit for bit, from
    # float32 and float64 shades alike
    from lamina.plugins.oit.renderers.fragment_list import pack_on_host

    for source in (shade, shade.astype(np.float64)):
        on_host = np.full_like(packed, -1)
        pack_on_host(table, source, on_host)
        np.testing.assert_array_equal(on_host, packed)
    np.testing.assert_array_equal(packed[:, : oc.COL_ZHI + 1], table[:, : oc.COL_ZHI + 1])
    colours = packed[:, oc.PACKED_RGBA : oc.PACKED_RGBA + 2].copy().view("<f4")
    np.testing.assert_array_equal(colours.view(np.int32), shade.view(np.int32))

    @ti.kernel
    def both(packed: oc.table_t, shade: oc.shade_t, out: ti.types.ndarray(dtype=ti.f64, ndim=3)):
        for r in range(out.shape[0]):
            a = common.packed_rgba(packed, r)
            b = common.rgba(shade, r, 0, 0, True)
            for k in ti.static(range(4)):
                out[r, 0, k] = a[k]
                out[r, 1, k] = b[k]

    out = np.zeros((n, 2, 4))
    both(packed, shade, out)
    np.testing.assert_array_equal(out[:, 0], out[:, 1])
    straight = shade.astype(np.float64)
    expected = np.concatenate([straight[:, :3] * straight[:, 3:], straight[:, 3:]], axis=1)
    np.testing.assert_array_equal(out[:, 0], expected)


@pytest.mark.parametrize("mode", ["keys", "pairs", "local"])
def test_sorts_equal_numpy(mode, probes):
    from lamina.kernels import oit_common

    rng = np.random.default_rng(2)
    lists = [rng.integers(0, 2**62, n) for n in (0, 1, 2, 3, 17, 50, 333)]
    lists += [np.sort(rng.integers(0, 2**62, 64)), np.sort(rng.integers(0, 2**62, 80))[::-1]]
    ordered = np.sort(rng.integers(0, 2**62, 60))
    ordered[[5, 30]] = ordered[[30, 5]]  # nearly sorted
    lists.append(ordered)
    lists.append(rng.integers(0, 5, 40))  # many ties
    keys = np.concatenate(lists)
    starts = np.cumsum([0] + [len(x) for x in lists])
    boxes = -3 * np.arange(len(keys), dtype=np.int64)  # a 64-bit payload
    original = keys.copy()
    mode_index = ["keys", "pairs", "local"].index(mode)
    probes[1](keys, starts, oit_common.SHELL_GAPS, boxes, mode_index)
    for s in range(len(lists)):
        segment = slice(starts[s], starts[s + 1])
        if mode == "local" and len(lists[s]) > 64:
            continue  # left alone
        np.testing.assert_array_equal(keys[segment], np.sort(original[segment]))
        if mode == "pairs":  # the 64-bit payload travelled with its keys
            np.testing.assert_array_equal(original[boxes[segment] // -3], keys[segment])


def bin_triangles(
    common, tris: raster.RasterTriangles, bits: int
) -> tuple[int, int, np.ndarray, ...]:
    """Bin ``tris`` into bins of ``2**bits`` pixels with the kernels: (bins_x, bins,
    starts, entries, per-bin order flags, per-entry pixel boxes or coverage masks)."""
    from lamina.kernels import oit_common
    from lamina.plugins.oit.renderers import binning

    height, width = tris.size
    tiles_x, tiles_y = -(-width >> bits), -(-height >> bits)
    n_tiles = tiles_x * tiles_y
    # Chunks of a few triangles each, so that the scenes here span several.
    counts = np.zeros((min(7, tris.n), n_tiles), np.int32)
    extent = {"bins_x": tiles_x, "bin_bits": bits, "width": width, "height": height}
    extent.update(id_bits=tris.id_bits, depth_shift=tris.depth_shift)
    gaps = oit_common.SHELL_GAPS
    unused = {"i32": np.zeros(1, np.int32), "i64": np.zeros(1, np.int64)}
    common.bin_tiles(0, tris.table, tris.bbox, unused["i64"], unused["i32"], counts,
                     unused["i64"], gaps, unused["i64"], unused["i32"], **extent)  # fmt: skip
    start = np.concatenate([[0], np.cumsum(counts.sum(axis=0))]).astype(np.int64)
    entries = np.zeros(max(1, start[-1]), np.int32)
    boxes = np.zeros(len(entries), np.int64)
    ordered = np.full(n_tiles, -1, np.int32)
    scratch = np.zeros(len(entries), np.int64)
    cursor = binning.cursors(counts, start)
    for phase in (1, 2):
        common.bin_tiles(phase, tris.table, tris.bbox, start, entries, cursor, scratch, gaps,
                         boxes, ordered, **extent)  # fmt: skip
    # Each chunk's cursors end where the next chunk's begin, the last at the bin's end.
    np.testing.assert_array_equal(cursor[:-1], binning.cursors(counts, start)[1:])
    np.testing.assert_array_equal(cursor[-1], start[1:])
    return tiles_x, n_tiles, start, entries, ordered, boxes


@pytest.mark.parametrize("bits", [3, 4])
@pytest.mark.parametrize("n", [40, 150])  # bins sorted by rank (<= 64 entries), by Shell sort
def test_binning_is_conservative_and_exact_on_full_tiles(bits, n, ti, common):
    from lamina.kernels.oit_common import RANK_SORT

    tris = raster.setup(random_scene(3, n), CAMERAS[0], SIZE)
    height, width = SIZE
    tile = 1 << bits
    tiles_x, n_tiles, start, entries, _, boxes = bin_triangles(common, tris, bits)
    assert (np.diff(start).max() > RANK_SORT) == (n > RANK_SORT)
    jj, ii = np.mgrid[0:height, 0:width]
    for t in range(n_tiles):
        tx, ty = t % tiles_x, t // tiles_x
        in_tile = (ii // tile == tx) & (jj // tile == ty)
        i, j = ii[in_tile], jj[in_tile]
        binned = entries[start[t] : start[t + 1]]
        pairs = zip((binned >> 1).tolist(), boxes[start[t] : start[t + 1]].tolist(), strict=True)
        box_of = dict(pairs)
        for r in range(tris.n):
            hits = tris.covers(np.full(len(i), r), tris.edge_values(np.full(len(i), r), i, j))
            listed = [e for e in binned if e >> 1 == r]
            if hits.any():
                assert len(listed) == 1, (t, r)
            if listed and bits == 3:
                # 8x8 bins: the entry's coverage mask is the coverage, pixel for pixel.
                mask = box_of[r] >> (8 * (j - ty * tile) + i - tx * tile) & 1
                np.testing.assert_array_equal(mask, hits, str((t, r)))
            elif hits.any():
                # 16x16: every covered pixel lies in the entry's box (the pixels' cheap test).
                box = box_of[r]
                li, lj = i[hits] - tx * tile, j[hits] - ty * tile
                assert (box & 15) <= li.min() and li.max() <= (box >> 4) & 15, (t, r)
                assert (box >> 8) & 15 <= lj.min() and lj.max() <= (box >> 12) & 15, (t, r)
            if listed and listed[0] & 1:
                assert hits.all(), (t, r)
        # Bins are ordered by key at the tile centre.
        ci, cj = min(tx * tile + tile // 2, width - 1), min(ty * tile + tile // 2, height - 1)
        centre_keys = tris.keys(binned >> 1, np.full(len(binned), ci), np.full(len(binned), cj))
        assert np.all(np.diff(centre_keys) > 0)


@pytest.mark.parametrize("bits", [3, 4])
@pytest.mark.parametrize("n_full", [63, 64])  # bins of RANK_SORT - 1, RANK_SORT, RANK_SORT + 1
def test_bins_either_side_of_the_rank_sort_carry_their_boxes(bits, n_full, ti, common):
    """Bins of exactly RANK_SORT entries (the rank sort's largest) and one more (Shell
    sort): triangles covering the whole frame at random tilts and one small triangle
    in a few bins, its entry and box (the only partial ones) moved with it."""
    from lamina.kernels.oit_common import FULL_BIT, RANK_SORT

    rng = np.random.default_rng(n_full + bits)
    big = np.array([[-6, -2, 0], [6, -2, 0], [0, 4.4, 0]], float)  # the frame, in the guard band
    vertices = np.tile(big, (n_full + 1, 1, 1))
    vertices[:, :, 2] = rng.uniform(-1, 1, (n_full + 1, 3))
    small = rng.integers(n_full + 1)  # somewhere in the order of the faces
    corner = np.array([[0, 0, 0], [0.25, 0, 0.1], [0, 0.25, -0.1]])
    vertices[small] = corner + rng.uniform(-0.5, 0.5, 3)
    faces = np.arange(3 * n_full + 3).reshape(-1, 3)
    scene = Scene(vertices=vertices.reshape(-1, 3), faces=faces, face_colors=(0.5, 0.5, 0.5, 0.5))
    tris = raster.setup(scene, CAMERAS[1], SIZE)
    assert tris.n == n_full + 1
    height, width = SIZE
    tiles_x, n_tiles, start, entries, _, boxes = bin_triangles(common, tris, bits)
    sizes = np.diff(start)
    assert set(sizes) == {n_full, n_full + 1} and RANK_SORT in sizes
    tile = 1 << bits
    for t in range(n_tiles):
        binned = entries[start[t] : start[t + 1]]
        r, box = binned >> 1, boxes[start[t] : start[t + 1]]
        assert sorted(r) == sorted({*range(tris.n)} - ({small} if len(r) == n_full else set()))
        tx, ty = t % tiles_x, t // tiles_x
        ci, cj = min(tx * tile + tile // 2, width - 1), min(ty * tile + tile // 2, height - 1)
        assert np.all(np.diff(tris.keys(r, np.full(len(r), ci), np.full(len(r), cj))) > 0)
        full = r != small
        np.testing.assert_array_equal(binned & 1, full)
        if bits == 3:
            np.testing.assert_array_equal(box == -1, full)
        else:
            np.testing.assert_array_equal((box >> FULL_BIT) & 1, full)


def screen_parallel_stack(n: int = 12) -> Scene:
    """Jittered quads facing an orthographic camera at distinct depths, plus a steep
    quad on the left crossing them: ordered tiles away from it, unordered near it."""
    rng = np.random.default_rng(7)
    square = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], float)
    vertices = [square * [2.0, 2.0, 1] + [*rng.uniform(-0.3, 0.3, 2), -0.2 * k] for k in range(n)]
    vertices.append(np.array([[-2, -2, -2.5], [-1, -2, 0.3], [-1, 2, 0.3], [-2, 2, -2.5]]))
    faces = (np.array([[0, 1, 2], [0, 2, 3]]) + 4 * np.arange(n + 1)[:, None, None]).reshape(-1, 3)
    return Scene(vertices=np.concatenate(vertices), faces=faces, face_colors=(0.5, 0.5, 0.5, 0.5))


@pytest.mark.parametrize("bits", [3, 4])
@pytest.mark.parametrize("scene_name", ["random", "stack"])
def test_tile_order_flags_only_tiles_whose_lists_arrive_sorted(scene_name, bits, ti, common):
    scene, camera = {
        "random": (random_scene(3), CAMERAS[0]),
        "stack": (screen_parallel_stack(), CAMERAS[1]),
    }[scene_name]
    tris = raster.setup(scene, camera, SIZE)
    tiles_x, n_tiles, start, entries, ordered, _ = bin_triangles(common, tris, bits)
    assert set(np.unique(ordered)) <= {0, 1}
    jj, ii = np.mgrid[0 : SIZE[0], 0 : SIZE[1]]
    sorted_everywhere = np.zeros(n_tiles, bool)
    for t in range(n_tiles):
        tx, ty = t % tiles_x, t // tiles_x
        in_tile = (ii >> bits == tx) & (jj >> bits == ty)
        r = entries[start[t] : start[t + 1]] >> 1
        i, j = ii[in_tile], jj[in_tile]
        rr, pi = np.meshgrid(r, np.arange(len(i)), indexing="ij")
        covered = tris.covers(rr, tris.edge_values(rr, i[pi], j[pi]))
        keys = np.where(covered, tris.keys(rr, i[pi], j[pi]), -1)
        # In bin order, each pixel's covered keys must increase.
        running = np.maximum.accumulate(keys, axis=0)
        sorted_everywhere[t] = not np.any(covered[1:] & (keys[1:] <= running[:-1]))
    # Sound: a flagged tile never holds an unsorted list.
    assert not np.any(ordered.astype(bool) & ~sorted_everywhere)
    if scene_name == "stack":  # and useful: most tiles of a screen-parallel stack qualify
        assert ordered.mean() > 0.5 and not ordered.all()
    else:
        assert not sorted_everywhere.all()


def test_count_and_tile_scan(ti, common):
    from lamina.plugins.oit.reference import fragments
    from lamina.plugins.oit.renderers import FragmentList

    tris = raster.setup(random_scene(4), CAMERAS[0], SIZE)
    pixel, _, _ = fragments(tris)
    expected = np.bincount(pixel, minlength=SIZE[0] * SIZE[1]).reshape(SIZE)
    out = FragmentList().render(random_scene(4), CAMERAS[0], SIZE)
    np.testing.assert_array_equal(out.depth_complexity, expected)
    # tile_scan: exclusive prefix sums in tile-major order.
    tile = raster.TILE
    tiles_x = -(-SIZE[1] // tile)
    n_tiles = tiles_x * -(-SIZE[0] // tile)
    offsets = np.zeros(SIZE, np.int64)
    sums, maxima = np.zeros(n_tiles, np.int64), np.zeros(n_tiles, np.int64)
    common.tile_scan(expected.astype(np.int32), offsets, sums, maxima, tiles_x)
    for t in range(n_tiles):
        tx, ty = t % tiles_x, t // tiles_x
        block = expected[ty * tile : (ty + 1) * tile, tx * tile : (tx + 1) * tile]
        local = offsets[ty * tile : (ty + 1) * tile, tx * tile : (tx + 1) * tile]
        flat = block.ravel()
        np.testing.assert_array_equal(local.ravel(), np.cumsum(flat) - flat)
        assert sums[t] == flat.sum() and maxima[t] == flat.max()


@pytest.mark.parametrize("per_vertex", [False, True])
def test_device_arrays_and_float32_paths(per_vertex, monkeypatch):
    """The GPU code path (ti.ndarray buffers, copies at the edges) and the float32
    accumulation used on Vulkan, both exercised on the CPU backend."""
    from lamina.plugins.oit import renderers
    from lamina.plugins.oit.reference import Reference
    from lamina.plugins.oit.renderers import device

    scene, camera = random_scene(5, per_vertex=per_vertex), CAMERAS[0]
    expected = Reference().render(scene, camera, SIZE)
    original = device.Device
    for options in ({"host": False}, {"real": "f32"}):
        monkeypatch.setattr(
            device,
            "Device",
            lambda arch, options=options, **kw: original(arch, **options, **kw),
        )
        spilling = renderers.FragmentList()
        spilling._local_keys = 1  # the global count -> prefix sum -> fill path
        for renderer in (
            renderers.FragmentList(),
            spilling,
            renderers.DepthPeeling(),
            renderers.DualDepthPeeling(),
            renderers.MultiLayerDepthPeeling(),
        ):
            found = renderer.render(scene, camera, SIZE)
            np.testing.assert_array_equal(found.depth_complexity, expected.depth_complexity)
            np.testing.assert_allclose(found.image, expected.image, rtol=0, atol=2e-6)
        monkeypatch.undo()


def test_clipping_removes_triangles_outside_the_frustum_corner():
    # No single clip plane rejects this triangle, yet none of it is in the guard
    # band: clipping must leave nothing (and not fail).
    camera = Camera.look_at((0, 0, 5), (0, 0, 0), projection="orthographic", ortho_height=2.0)
    aspect = SIZE[1] / SIZE[0]
    corners = np.array([[5, 1.5], [1.5, 5], [5, 5]]) * [aspect, 1.0]  # in NDC-sized units
    inside = np.array([[0.0, 0.0], [0.5, 0.0], [0.0, 0.5]])
    vertices = np.column_stack([np.vstack([corners, inside]), np.zeros(6)])
    scene = Scene(vertices=vertices, faces=[[0, 1, 2], [3, 4, 5]], face_colors=(1, 0, 0, 0.5))
    tris = raster.setup(scene, camera, SIZE)
    np.testing.assert_array_equal(tris.face, [1])


@pytest.mark.parametrize("seed", [11, 12])
def test_bin_size_does_not_change_any_render(seed, ti, monkeypatch):
    """8x8 and 16x16 bins give every renderer the same pixels bit for bit (a bin is
    a work list: it changes the order of work, never a fragment), with the
    reference's depth complexity."""
    from lamina.plugins.oit import renderers
    from lamina.plugins.oit.reference import Reference
    from lamina.plugins.oit.renderers import binning

    scene, camera = random_scene(seed, n=120, per_vertex=seed % 2 == 0), CAMERAS[seed % 2]
    size = (37, 61)  # bins cut by the frame's edges
    expected = Reference().render(scene, camera, size).depth_complexity
    for renderer in (
        renderers.FragmentList(),
        renderers.DepthPeeling(),
        renderers.DualDepthPeeling(),
        renderers.MultiLayerDepthPeeling(k=3, max_fragments=1024),
    ):
        images = []
        for small_box, bits in ((0, 4), (size[0] * size[1], 3)):
            monkeypatch.setattr(binning, "SMALL_BOX", small_box)
            assert binning.bin_bits(raster.setup(scene, camera, size)) == bits
            found = renderer.render(scene, camera, size)
            assert found.stats.notes["bin_size"] == 1 << bits
            np.testing.assert_array_equal(found.depth_complexity, expected)
            images.append(found.image)
        np.testing.assert_array_equal(images[0], images[1])


def test_bin_bits_follows_the_mean_pixel_box():
    from lamina.plugins.oit.renderers import binning

    rng = np.random.default_rng(3)
    corners = rng.uniform(-1, 1, (500, 1, 3))
    small = corners + rng.uniform(-0.02, 0.02, (500, 3, 3))  # a few pixels each
    camera = Camera.look_at((0, 0, 4), (0, 0, 0), projection="orthographic", ortho_height=3)
    large = rng.uniform(-9, 9, (500, 3, 3))  # most cover the frame
    side = 1024  # frame-sized boxes above binning.SMALL_BOX
    for vertices, bits in ((small, 3), (large, 4)):
        scene = Scene(
            vertices=vertices.reshape(-1, 3),
            faces=np.arange(1500).reshape(500, 3),
            face_colors=(0.5, 0.5, 0.5, 0.5),
        )
        tris = raster.setup(scene, camera, (side, side))
        b = tris.bbox
        area = ((np.minimum(b[:, 1], side - 1) - np.maximum(b[:, 0], 0) + 1)
                * (np.minimum(b[:, 3], side - 1) - np.maximum(b[:, 2], 0) + 1))  # fmt: skip
        assert (area.mean() <= binning.SMALL_BOX) == (bits == 3)
        assert binning.bin_bits(tris) == bits


def test_chunks_and_cursors_on_a_seeded_grid():
    """binning.chunks stays within its bounds (chunks, triangles a chunk, cursors) on
    a grid of scene and frame sizes, and binning.cursors equals numpy's exclusive
    cumulative sum down the chunks, offset by the bins' starts, on seeded counts."""
    from lamina.plugins.oit.renderers import binning

    for n in (0, 1, 2047, 2048, 4095, 4096, 16_385, 10**6, 10**8):
        for n_bins in (1, 7, 4096, 1 << 20, binning.MAX_CURSORS, binning.MAX_CURSORS + 1):
            k = binning.chunks(n, n_bins)
            assert 1 <= k <= binning.MAX_CHUNKS, (n, n_bins)
            if k > 1:
                assert n // k >= binning.CHUNK_TRIANGLES and k * n_bins <= binning.MAX_CURSORS
            if n >= binning.MAX_CHUNKS * binning.CHUNK_TRIANGLES and n_bins <= 4096:
                assert k == binning.MAX_CHUNKS, (n, n_bins)
    rng = np.random.default_rng(11)
    for shape in ((1, 1), (1, 9), (3, 5), (8, 300)):
        counts = rng.integers(0, 50, shape).astype(np.int32)
        start = np.zeros(shape[1] + 1, np.int64)
        np.cumsum(counts.sum(axis=0), out=start[1:])
        expected = start[:-1] + np.cumsum(counts, axis=0) - counts
        found = binning.cursors(counts, start)
        assert found.dtype == np.int32
        np.testing.assert_array_equal(found, expected)


def test_compile_errors_still_name_the_file_line_and_source(ti):
    # lamina.kernels.frontend replaces Taichi's source reader and position format.
    import inspect

    line = inspect.currentframe().f_lineno + 4  # the return statement below

    @ti.kernel
    def broken() -> ti.i32:
        return name_nobody_defined + 1  # noqa: F821

    with pytest.raises(Exception) as caught:
        broken()
    message = str(caught.value)
    assert f'File "{__file__}", line {line}, in broken' in message
    assert "return name_nobody_defined + 1" in message
