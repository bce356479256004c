"""Interpolation quality and speed: lamina beside Pillow, OpenCV and scikit-image.

Quality: scikit-image's bundled camera (grey), astronaut, coffee and chelsea
(colour) are cropped to a multiple of 4, reduced x4 by exact 4x4 area
averaging (the same anti-aliased input for every method), then enlarged x4
back by each method and compared with the original: PSNR and SSIM
(scikit-image metrics, data range 1, a 4-pixel border excluded), averaged
over the four images. Every output is clipped to [0, 1] before scoring, so
clipping gives no method an edge.

Speed: a 512 x 512 grey float32 image enlarged to 2048 x 2048, best of
several runs (lamina's weight plans are cached after the first call; the
``cold`` column times a first call with an empty cache).

Stairstep runs over each base twice: composed (the default: the product of
all steps' per-axis matrices applied in one pass) and step by step
(``compose=False``, one resize per step); the JSON gives the largest
difference between the two on each quality image.

Like-for-like pairs: bilinear / OpenCV INTER_LINEAR; bicubic (Keys a=-0.5) /
Pillow BICUBIC (same kernel) and bicubic with a=-0.75 / OpenCV INTER_CUBIC
(OpenCV's kernel); lanczos3 / OpenCV INTER_LANCZOS4 (four lobes) and Pillow
LANCZOS (three); bspline3 / scikit-image order 3; nearest / OpenCV
INTER_NEAREST. The timing ratio compares each with its OpenCV peer.

Usage::

    python benchmarks/interpolate.py            # table on stdout
    python benchmarks/interpolate.py --json     # one JSON document
    python benchmarks/interpolate.py --quick    # small images, few repeats

Needs the ``bench`` extra (Pillow, opencv-python-headless).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from skimage import data as skdata
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from skimage.util import img_as_float32

import lamina
from lamina.clitools import emit_json, print_table

Resize = Callable[[np.ndarray, tuple[int, int]], np.ndarray]

IMAGES = ("camera", "astronaut", "coffee", "chelsea")
FACTOR = 4
BORDER = 4
BASES = ("bilinear", "bicubic", "bspline3", "lanczos3", "lanczos4")

#: lamina row -> the peer row that uses the same filter (for the time ratio)
LIKE_FOR_LIKE = {
    "nearest": "OpenCV INTER_NEAREST",
    "bilinear": "OpenCV INTER_LINEAR",
    "bicubic": "Pillow BICUBIC",
    "bicubic a=-0.75": "OpenCV INTER_CUBIC",
    "lanczos3": "Pillow LANCZOS",
    "lanczos4": "OpenCV INTER_LANCZOS4",
    "bspline3": "scikit-image order 3",
}


@dataclass
class Method:
    name: str
    library: str
    resize: Resize
    base: str | None = None  # lamina base name (also for stairstep rows)
    stairstep: bool = False
    composed: bool | None = None  # stairstep rows: composite or step by step
    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)
    ms: float | None = None
    cold_ms: float | None = None
    steps: int | None = None


def _per_channel(function: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], Any]:
    def run(image: np.ndarray) -> np.ndarray:
        if image.ndim == 2:
            return function(image)
        return np.stack([function(image[:, :, c]) for c in range(image.shape[2])], axis=2)

    return run


def _pillow(filter_name: str) -> Resize:
    from PIL import Image

    method = getattr(Image.Resampling, filter_name)

    def resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        def one(plane: np.ndarray) -> np.ndarray:
            return np.asarray(Image.fromarray(plane).resize(shape[::-1], method))

        return _per_channel(one)(image)

    return resize


def _opencv(flag: str) -> Resize:
    import cv2

    code = getattr(cv2, flag)

    def resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        return cv2.resize(image, shape[::-1], interpolation=code)

    return resize


def _skimage_order3(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    from skimage.transform import resize

    return resize(image, shape, order=3).astype(np.float32)


def methods() -> list[Method]:
    found = []
    for name in ("nearest", *BASES):
        found.append(Method(name, "lamina", lamina.create("interpolator", name).resize, base=name))
    bicubic_cv = lamina.create("interpolator", "bicubic", a=-0.75)
    found.append(Method("bicubic a=-0.75", "lamina", bicubic_cv.resize, base="bicubic"))
    for compose, label in ((True, ""), (False, " step by step")):
        for name in BASES:
            stairstep = lamina.create("interpolator", "stairstep", base=name, compose=compose)
            found.append(
                Method(
                    f"stairstep({name}){label}",
                    "lamina",
                    stairstep.resize,
                    base=name,
                    stairstep=True,
                    composed=compose,
                )
            )
    found += [
        Method("Pillow BICUBIC", "Pillow", _pillow("BICUBIC")),
        Method("Pillow LANCZOS", "Pillow", _pillow("LANCZOS")),
        Method("OpenCV INTER_NEAREST", "OpenCV", _opencv("INTER_NEAREST")),
        Method("OpenCV INTER_LINEAR", "OpenCV", _opencv("INTER_LINEAR")),
        Method("OpenCV INTER_CUBIC", "OpenCV", _opencv("INTER_CUBIC")),
        Method("OpenCV INTER_LANCZOS4", "OpenCV", _opencv("INTER_LANCZOS4")),
        Method("scikit-image order 3", "scikit-image", _skimage_order3),
    ]
    return found


def load_images(quick: bool) -> dict[str, np.ndarray]:
    images = {}
    for name in IMAGES:
        image = img_as_float32(getattr(skdata, name)())
        if quick:
            top, left = (image.shape[0] - 128) // 2, (image.shape[1] - 128) // 2
            image = image[top : top + 128, left : left + 128]
        height, width = (n - n % FACTOR for n in image.shape[:2])
        images[name] = np.ascontiguousarray(image[:height, :width])
    return images


def area_reduce(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[0] // FACTOR, image.shape[1] // FACTOR
    blocks = image.reshape(height, FACTOR, width, FACTOR, *image.shape[2:])
    return blocks.mean(axis=(1, 3), dtype=np.float64).astype(np.float32)


def score(reference: np.ndarray, result: np.ndarray) -> tuple[float, float]:
    inner = (slice(BORDER, -BORDER), slice(BORDER, -BORDER))
    ref = reference[inner].astype(np.float64)
    out = np.clip(result[inner], 0.0, 1.0).astype(np.float64)
    psnr = peak_signal_noise_ratio(ref, out, data_range=1.0)
    ssim = structural_similarity(
        ref, out, data_range=1.0, channel_axis=2 if ref.ndim == 3 else None
    )
    return float(psnr), float(ssim)


def best_time(function: Callable[[], Any], repeats: int) -> float:
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times) * 1e3


def _clear_caches() -> None:
    from lamina.plugins.interpolate import engine, stairstep

    engine.axis_plan.cache_clear()
    stairstep.composite_matrix.cache_clear()
    stairstep._composite_plan.cache_clear()


def measure(quick: bool) -> dict[str, Any]:
    found = methods()
    images = load_images(quick)
    differences: dict[str, dict[str, float]] = {}
    for image_name, image in images.items():
        small = area_reduce(image)
        outputs = {}
        for method in found:
            outputs[method.name] = method.resize(small, image.shape[:2])
            psnr, ssim = score(image, outputs[method.name])
            method.psnr.append(psnr)
            method.ssim.append(ssim)
        for method in found:
            if method.composed is False:
                composed = outputs[f"stairstep({method.base})"]
                differences.setdefault(method.name, {})[image_name] = float(
                    np.abs(outputs[method.name] - composed).max()
                )

    size = 128 if quick else 512
    source = np.ascontiguousarray(img_as_float32(skdata.camera())[:size, :size])
    target = (size * FACTOR, size * FACTOR)
    for method in found:
        slow = method.library == "scikit-image"
        repeats = (1 if slow else 3) if quick else (3 if slow else 7)
        if method.library == "lamina":
            _clear_caches()
            start = time.perf_counter()
            method.resize(source, target)
            method.cold_ms = (time.perf_counter() - start) * 1e3
        method.ms = best_time(lambda m=method: m.resize(source, target), repeats)
        if method.stairstep:
            method.steps = method.resize.__self__.n_steps_
    return report(found, images, size, target, differences)


def report(
    found: list[Method],
    images: dict[str, np.ndarray],
    size: int,
    target: tuple[int, int],
    differences: dict[str, dict[str, float]],
) -> dict[str, Any]:
    by_name = {m.name: m for m in found}
    skimage_ms = by_name["scikit-image order 3"].ms
    rows = []
    for m in found:
        peer = LIKE_FOR_LIKE.get(m.name) if m.library == "lamina" and not m.stairstep else None
        direct = by_name[m.base] if m.stairstep else None
        rows.append(
            {
                "method": m.name,
                "library": m.library,
                "psnr_db": float(np.mean(m.psnr)),
                "ssim": float(np.mean(m.ssim)),
                "psnr_per_image": dict(zip(images, m.psnr, strict=True)),
                "ssim_per_image": dict(zip(images, m.ssim, strict=True)),
                "ms": m.ms,
                "cold_ms": m.cold_ms,
                "speedup_vs_skimage_order3": skimage_ms / m.ms,
                "like_for_like_peer": peer,
                "time_vs_peer": m.ms / by_name[peer].ms if peer else None,
                "steps": m.steps,
                "composed": m.composed,
                "max_abs_difference_vs_composed": differences.get(m.name),
                "psnr_vs_direct_db": float(np.mean(m.psnr) - np.mean(direct.psnr))
                if direct
                else None,
                "time_vs_steps_x_direct": m.ms / (m.steps * direct.ms) if direct else None,
            }
        )
    rows_by_name = {r["method"]: r for r in rows}
    lamina_rows = [r for r in rows if r["library"] == "lamina"]

    def at_least(ours: str, theirs: str) -> bool:
        return rows_by_name[ours]["psnr_db"] >= rows_by_name[theirs]["psnr_db"]

    # As stated in the issue, then like for like: OpenCV's INTER_CUBIC is
    # Keys' kernel with a = -0.75 (lamina and Pillow default to a = -0.5),
    # its INTER_LANCZOS4 has four lobes.
    musts = {
        "lanczos3 PSNR >= OpenCV INTER_LANCZOS4": at_least("lanczos3", "OpenCV INTER_LANCZOS4"),
        "bicubic PSNR >= OpenCV INTER_CUBIC": at_least("bicubic", "OpenCV INTER_CUBIC"),
        "like for like: lanczos4 PSNR >= OpenCV INTER_LANCZOS4": at_least(
            "lanczos4", "OpenCV INTER_LANCZOS4"
        ),
        "like for like: bicubic a=-0.75 PSNR >= OpenCV INTER_CUBIC": at_least(
            "bicubic a=-0.75", "OpenCV INTER_CUBIC"
        ),
        "like for like: lanczos3 PSNR >= Pillow LANCZOS": at_least("lanczos3", "Pillow LANCZOS"),
        "like for like: bicubic PSNR >= Pillow BICUBIC": at_least("bicubic", "Pillow BICUBIC"),
        "base interpolators >= 10x faster than scikit-image order 3": all(
            r["speedup_vs_skimage_order3"] >= 10 for r in lamina_rows if r["steps"] is None
        ),
        "stairstep (composed, the default) >= 10x faster than scikit-image order 3": all(
            r["speedup_vs_skimage_order3"] >= 10 for r in lamina_rows if r["composed"]
        ),
    }
    goals = {
        "within 2x of OpenCV for the same filter": all(
            r["time_vs_peer"] <= 2
            for r in lamina_rows
            if r["like_for_like_peer"] and "OpenCV" in r["like_for_like_peer"]
        ),
        "stairstep time <= steps x direct time": all(
            r["time_vs_steps_x_direct"] <= 1 for r in lamina_rows if r["composed"]
        ),
        "stairstep step by step: time <= steps x direct time": all(
            r["time_vs_steps_x_direct"] <= 1 for r in lamina_rows if r["composed"] is False
        ),
    }
    return {
        "benchmark": "interpolate",
        "quality": f"{', '.join(images)}: area-reduced x{FACTOR}, enlarged x{FACTOR}; "
        f"PSNR/SSIM vs original, {BORDER}-px border excluded",
        "timing": f"{size}x{size} grey float32 -> {target[0]}x{target[1]}, best of runs (ms)",
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
            "numpy": np.__version__,
            "opencv_threads": _opencv_threads(),
        },
        "rows": rows,
        "musts": musts,
        "goals": goals,
    }


def _opencv_threads() -> int:
    import cv2

    return int(cv2.getNumThreads())


def _fmt(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)


def print_report(result: dict[str, Any]) -> None:
    print_table(
        f"Interpolation x{FACTOR}: quality ({result['quality']}) and speed ({result['timing']})",
        [
            "method",
            "PSNR dB",
            "SSIM",
            "ms",
            "cold ms",
            "x faster than skimage o3",
            "same-filter peer",
            "time / peer",
            "steps",
            "stairstep ΔPSNR vs direct",
            "stairstep time / (steps x direct)",
        ],
        (
            (
                r["method"],
                f"{r['psnr_db']:.3f}",
                f"{r['ssim']:.4f}",
                f"{r['ms']:.2f}",
                _fmt(r["cold_ms"], ".1f"),
                f"{r['speedup_vs_skimage_order3']:.1f}",
                r["like_for_like_peer"],
                _fmt(r["time_vs_peer"], ".2f"),
                r["steps"],
                _fmt(r["psnr_vs_direct_db"], "+.3f"),
                _fmt(r["time_vs_steps_x_direct"], ".2f"),
            )
            for r in result["rows"]
        ),
    )
    for r in result["rows"]:
        if r["max_abs_difference_vs_composed"]:
            largest = max(r["max_abs_difference_vs_composed"].values())
            print(f"{r['method']}: largest |difference| from the composed result {largest:.2e}")
    for title in ("musts", "goals"):
        for what, ok in result[title].items():
            print(f"{title[:-1]}: {what}: {'PASS' if ok else 'FAIL'}")
    print(f"machine: {result['machine']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--quick", action="store_true", help="small images, few repeats")
    args = parser.parse_args(argv)
    result = measure(args.quick)
    if args.json:
        emit_json(result)
    else:
        print_report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
