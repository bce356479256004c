"""Base interpolators against independent references: exact polynomial
reproduction, scikit-image, scipy.ndimage, Pillow and OpenCV where their
conventions match ours (pixel-area alignment: output pixel j samples input
coordinate (j + 0.5) * n_in / n_out - 0.5)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from skimage.transform import resize as sk_resize

import lamina

RNG = np.random.default_rng(42)
IMAGE = RNG.random((37, 53)).astype(np.float32)
SHAPES = [(80, 111), (20, 30), (37, 120), (9, 7)]


def make(name: str, **params: object) -> object:
    return lamina.create("interpolator", name, **params)


def sample_positions(n_in: int, n_out: int) -> np.ndarray:
    """Input coordinates of the output pixel centres, float64."""
    return (np.arange(n_out) + 0.5) * n_in / n_out - 0.5


def polynomial_image(n: tuple[int, int], degree: int) -> tuple[np.ndarray, object]:
    """A 2-D polynomial of the given degree in each variable, sampled at pixel centres."""
    rng = np.random.default_rng(degree)
    cy = rng.uniform(-1, 1, degree + 1) / np.array([1, n[0], n[0] ** 2, n[0] ** 3][: degree + 1])
    cx = rng.uniform(-1, 1, degree + 1) / np.array([1, n[1], n[1] ** 2, n[1] ** 3][: degree + 1])

    def f(y: np.ndarray, x: np.ndarray) -> np.ndarray:
        py = np.polynomial.polynomial.polyval(y, cy)
        px = np.polynomial.polynomial.polyval(x, cx)
        return 0.5 + 0.2 * np.add.outer(py, px) + 0.1 * np.multiply.outer(py, px)

    image = f(np.arange(n[0], dtype=np.float64), np.arange(n[1], dtype=np.float64))
    return image.astype(np.float32), f


@pytest.mark.parametrize(
    ("name", "params", "degree", "margin"),
    [
        # bilinear reproduces linear ramps wherever its two taps are inside
        ("bilinear", {}, 1, 0.0),
        # Keys a=-0.5 reproduces quadratics wherever its four taps are inside
        ("bicubic", {"clip": False}, 2, 1.0),
        # the prefiltered cubic spline reproduces cubics away from the border,
        # where the boundary's influence (0.268 per pixel) has died out
        ("bspline3", {"clip": False}, 3, 14.0),
    ],
)
@pytest.mark.parametrize("target", [(97, 131), (64, 77), (31, 43)])
def test_polynomial_reproduced_exactly(
    name: str, params: dict, degree: int, margin: float, target: tuple[int, int]
) -> None:
    # Reductions interpolate too when the kernel is not stretched (antialias=False).
    n = (40, 50)
    image, f = polynomial_image(n, degree)
    out = make(name, antialias=False, **params).resize(image, target)
    ys, xs = sample_positions(n[0], target[0]), sample_positions(n[1], target[1])
    expected = f(ys, xs)
    inside_y = (ys >= margin) & (ys <= n[0] - 1 - margin)
    inside_x = (xs >= margin) & (xs <= n[1] - 1 - margin)
    assert inside_y.sum() > 5 and inside_x.sum() > 5
    error = np.abs(out - expected)[np.ix_(inside_y, inside_x)]
    assert error.max() < 2e-6


def test_bicubic_does_not_reproduce_cubics() -> None:
    # The reproduction test above can fail: Keys' kernel is exact only to degree 2.
    x = (np.arange(50) - 25.0) / 3.0
    image = np.tile(x**3, (8, 1)).astype(np.float32)
    out = make("bicubic", clip=False).resize(image, (8, 131))
    expected = ((sample_positions(50, 131) - 25.0) / 3.0) ** 3
    assert np.abs(out[:, 10:-10] - expected[10:-10]).max() > 1e-3


@pytest.mark.parametrize("shape", SHAPES)
def test_bilinear_matches_skimage(shape: tuple[int, int]) -> None:
    out = make("bilinear", antialias=False).resize(IMAGE, shape)
    reference = sk_resize(
        IMAGE.astype(np.float64), shape, order=1, mode="symmetric", anti_aliasing=False
    )
    np.testing.assert_allclose(out, reference, atol=1e-6)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    ("edge", "ndimage_mode"),
    [
        ("reflect", "reflect"),
        ("mirror", "mirror"),
        ("clamp", "nearest"),
        ("wrap", "grid-wrap"),
        ("constant", "grid-constant"),
    ],
)
def test_bspline3_matches_ndimage_zoom(
    shape: tuple[int, int], edge: str, ndimage_mode: str
) -> None:
    out = make("bspline3", edge=edge, cval=0.3, antialias=False, clip=False).resize(IMAGE, shape)
    zoom = (shape[0] / IMAGE.shape[0], shape[1] / IMAGE.shape[1])
    reference = ndimage.zoom(
        IMAGE.astype(np.float64), zoom, order=3, mode=ndimage_mode, cval=0.3, grid_mode=True
    )
    np.testing.assert_allclose(out, reference, atol=2e-6)


def test_bspline3_matches_skimage_order3_enlarging() -> None:
    # both clip to the input's range by default
    out = make("bspline3").resize(IMAGE, (90, 100))
    reference = sk_resize(IMAGE.astype(np.float64), (90, 100), order=3, mode="symmetric")
    np.testing.assert_allclose(out, reference, atol=2e-6)


@pytest.mark.parametrize("shape", SHAPES[:3])
@pytest.mark.parametrize(
    ("name", "filter_", "radius"),
    [
        ("bilinear", Image.Resampling.BILINEAR, 1),
        ("bicubic", Image.Resampling.BICUBIC, 2),
        ("lanczos3", Image.Resampling.LANCZOS, 3),
    ],
)
def test_matches_pillow_inside(
    shape: tuple[int, int], name: str, filter_: int, radius: int
) -> None:
    # Pillow uses the same kernels, stretched the same way when reducing; it
    # truncates the kernel at the border instead of extending the image, so
    # only pixels whose support stays inside the image are compared.
    params = {} if name == "bilinear" else {"clip": False}
    out = make(name, **params).resize(IMAGE, shape)
    reference = np.asarray(Image.fromarray(IMAGE).resize(shape[::-1], filter_))
    inside = []
    for n, m in zip(IMAGE.shape, shape, strict=True):
        centres, reach = sample_positions(n, m), radius * max(1.0, n / m)
        inside.append((centres - reach >= -0.5) & (centres + reach <= n - 0.5))
    assert inside[0].sum() > 2 and inside[1].sum() > 2
    np.testing.assert_allclose(out[np.ix_(*inside)], reference[np.ix_(*inside)], atol=2e-6)


def test_nearest_matches_pillow() -> None:
    for shape in SHAPES:
        out = make("nearest").resize(IMAGE, shape)
        reference = np.asarray(Image.fromarray(IMAGE).resize(shape[::-1], Image.Resampling.NEAREST))
        np.testing.assert_array_equal(out, reference)


def test_nearest_antialias_is_block_mean_for_integer_factors() -> None:
    image = RNG.random((36, 48, 3)).astype(np.float32)
    out = make("nearest", antialias=True).resize(image, (9, 12))
    reference = image.astype(np.float64).reshape(9, 4, 12, 4, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(out, reference, atol=1e-6)


class TestOpenCV:
    """OpenCV extends the border by replication (our ``clamp``) and does not
    anti-alias, so those settings compare like for like."""

    @pytest.fixture
    def cv2(self) -> object:
        return pytest.importorskip("cv2")

    @pytest.mark.parametrize("shape", SHAPES)
    def test_bilinear(self, cv2: object, shape: tuple[int, int]) -> None:
        out = make("bilinear", edge="clamp", antialias=False).resize(IMAGE, shape)
        reference = cv2.resize(IMAGE, shape[::-1], interpolation=cv2.INTER_LINEAR)
        np.testing.assert_allclose(out, reference, atol=2e-6)

    @pytest.mark.parametrize("shape", SHAPES)
    def test_bicubic_with_opencv_parameter(self, cv2: object, shape: tuple[int, int]) -> None:
        interpolator = make("bicubic", a=-0.75, edge="clamp", antialias=False, clip=False)
        out = interpolator.resize(IMAGE, shape)
        reference = cv2.resize(IMAGE, shape[::-1], interpolation=cv2.INTER_CUBIC)
        np.testing.assert_allclose(out, reference, atol=2e-6)

    @pytest.mark.parametrize("shape", SHAPES)
    def test_lanczos4(self, cv2: object, shape: tuple[int, int]) -> None:
        interpolator = make("lanczos4", edge="clamp", antialias=False, clip=False)
        out = interpolator.resize(IMAGE, shape)
        reference = cv2.resize(IMAGE, shape[::-1], interpolation=cv2.INTER_LANCZOS4)
        np.testing.assert_allclose(out, reference, atol=1e-5)

    @pytest.mark.parametrize("shape", [(12, 20), (30, 17), (5, 5)])
    def test_area_reduction(self, cv2: object, shape: tuple[int, int]) -> None:
        out = make("nearest", antialias=True).resize(IMAGE, shape)
        reference = cv2.resize(IMAGE, shape[::-1], interpolation=cv2.INTER_AREA)
        np.testing.assert_allclose(out, reference, atol=2e-6)
