"""Shared test data for the subpixel plugin: scenes moved by known sub-pixel shifts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable

import numpy as np
import pytest
from scipy import ndimage
from skimage import data

from lamina.plugins.subpixel.spectral import periodic_component


def fourier_shift(image: np.ndarray, shift: tuple[float, float]) -> np.ndarray:
    """``image`` circularly moved by ``shift`` (content displacement) via scipy."""
    return np.fft.ifft2(ndimage.fourier_shift(np.fft.fft2(image), shift)).real


@pytest.fixture(scope="session")
def camera() -> np.ndarray:
    return data.camera().astype(np.float64) / 255.0


@pytest.fixture(scope="session")
def scene(camera: np.ndarray) -> np.ndarray:
    """A textured 128 x 128 crop of scikit-image's camera (float64, about [0, 1]),
    made periodic (Moisan) so that Fourier shifts of it are free of the ringing
    that a circular shift of non-periodic content creates near the wrap-around
    edge (which no camera produces)."""
    return periodic_component(camera[150:278, 180:308])


@pytest.fixture(scope="session")
def large_scene(camera: np.ndarray) -> np.ndarray:
    """The periodic component of the whole camera image, to cut non-periodic views."""
    return periodic_component(camera)


def gaussian_spots(
    shape: tuple[int, int],
    positions: np.ndarray,
    *,
    sigma: float,
    amplitude: float = 0.6,
    background: float = 0.1,
) -> np.ndarray:
    """Point-sampled Gaussian spots ``amplitude exp(-r^2 / 2 sigma^2)`` on a background."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    image = np.full(shape, background, dtype=np.float64)
    for y, x in positions:
        image += amplitude * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * sigma**2))
    return image


def spot_grid(shape: tuple[int, int], spacing: int, rng: np.random.Generator) -> np.ndarray:
    """Spot positions on a grid with uniformly random sub-pixel offsets."""
    ys = np.arange(spacing, shape[0] - spacing + 1, spacing)
    xs = np.arange(spacing, shape[1] - spacing + 1, spacing)
    grid = np.array([(y, x) for y in ys for x in xs], dtype=np.float64)
    return grid + rng.uniform(-0.5, 0.5, grid.shape)


def match(found: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Index of the nearest true position for each found one."""
    distance = np.hypot(*(found[:, None, :] - truth[None, :, :]).transpose(2, 0, 1))
    return distance.argmin(axis=1)


@pytest.fixture(scope="session")
def shifted():
    """``shifted(image, shift)``: Fourier (circular) shift by a known amount."""
    return fourier_shift


@pytest.fixture(scope="session")
def spots():
    """Helpers for synthetic point-source images: ``make``, ``grid`` and ``match``."""

    class Spots:
        make = staticmethod(gaussian_spots)
        grid = staticmethod(spot_grid)
        match = staticmethod(match)

    return Spots


# -- the contract of issue 12 over a seeded grid of registrations ---------------------
# Each record is a dict: "error" and "sigma" (arrays, one value per axis) and
# "feasible" where an estimate came back, "refused" (the message) where not.


def coverage_table(records: list[dict], key: Callable[[dict], Hashable]) -> list[dict]:
    """Per condition cell (``key`` of a record): pairs, refusals, +-2 sigma coverage
    (all / feasible estimates), values beyond five standard errors."""
    groups: dict = defaultdict(list)
    for record in records:
        groups[key(record)].append(record)
    rows = []
    for name, group in sorted(groups.items(), key=lambda item: str(item[0])):
        measured = [r for r in group if "error" in r]
        feasible = [r for r in measured if r["feasible"]]
        z, zf = (
            np.concatenate([np.abs(r["error"]) / r["sigma"] for r in chosen] or [np.zeros(0)])
            for chosen in (measured, feasible)
        )
        rows.append(
            {
                "cell": name,
                "pairs": len(group),
                "refused": len(group) - len(measured),
                "feasible": len(feasible),
                "coverage": float(np.mean(z <= 2)) if z.size else float("nan"),
                "coverage_feasible": float(np.mean(zf <= 2)) if zf.size else float("nan"),
                "beyond_5": int(np.sum(z > 5)),
                "values": int(z.size),
                "values_feasible": int(zf.size),
            }
        )
    return rows


def check_five_sigma(records: list[dict]) -> None:
    """|error| <= 5 reported standard errors in at least 99.5 % of the axis values."""
    z = np.concatenate([np.abs(r["error"]) / r["sigma"] for r in records if "error" in r])
    assert np.mean(z <= 5) >= 0.995, np.sort(z)[-10:]


def check_no_confident_gross_error(records: list[dict]) -> None:
    """Never an error over 0.5 (px or voxel) with a standard error under 0.05."""
    for record in records:
        if "error" in record:
            wrong = (np.abs(record["error"]) > 0.5) & (record["sigma"] < 0.05)
            assert not np.any(wrong), record


def measure_volumes(record: dict, register: Callable, *args: object, **kwargs: object) -> dict:
    """Fill ``record`` (with its ``truth``) from ``register(*args, **kwargs)``, a
    volume registration: ``error``, ``sigma`` (z, y, x), ``feasible`` and
    ``warnings``, or ``refused``."""
    import lamina

    try:
        estimate = register(*args, **kwargs)
    except lamina.InputError as error:
        record["refused"] = str(error)
    else:
        record["error"] = estimate.shift - record["truth"]
        record["sigma"] = np.array(estimate.diagnostics["uncertainty_zyx"])
        record["feasible"] = estimate.diagnostics["feasible"]
        record["warnings"] = estimate.diagnostics["warnings"]
    return record


def coverage_outside(rows: list[dict]) -> list[dict]:
    """The cells whose +-2 sigma coverage of feasible estimates is outside [0.90, 0.98],
    widened by three binomial standard errors; cells of under 16 values are not
    judged."""
    outside = []
    for row in rows:
        n = row["values_feasible"]
        slack = 3.0 * np.sqrt(0.95 * 0.05 / max(n, 1))
        if n >= 16 and not 0.90 - slack <= row["coverage_feasible"] <= 0.98 + slack:
            outside.append(row)
    return outside


def print_coverage(records: list[dict], key: Callable[[dict], Hashable]) -> None:
    """The reviewer's report: the five-sigma share and the coverage table per cell."""
    z = np.concatenate([np.abs(r["error"]) / r["sigma"] for r in records if "error" in r])
    print(f"pairs {len(records)}, axis values {z.size}, |z| <= 5: {np.mean(z <= 5):.4f}")
    print("cell | pairs | refused | feasible | cov all | cov feasible | |z|>5")
    for row in coverage_table(records, key):
        print(
            f"{row['cell']!s:22} | {row['pairs']:5d} | {row['refused']:7d} | {row['feasible']:8d} "
            f"| {row['coverage']:7.3f} | {row['coverage_feasible']:12.3f} | {row['beyond_5']:5d}"
        )


@pytest.fixture(scope="session")
def contract():
    """The grid contract's helpers: ``coverage_table``, ``check_five_sigma``,
    ``check_no_confident_gross_error`` and ``coverage_outside``."""

    class Contract:
        coverage_table = staticmethod(coverage_table)
        check_five_sigma = staticmethod(check_five_sigma)
        check_no_confident_gross_error = staticmethod(check_no_confident_gross_error)
        coverage_outside = staticmethod(coverage_outside)
        measure_volumes = staticmethod(measure_volumes)

    return Contract
