"""lamina plugin ``interpolate``: resampling images up and down.

Base interpolators (``nearest``, ``bilinear``, ``bicubic``, ``bspline3``,
``lanczos3``, ``lanczos4``) and ``stairstep``, which enlarges in small steps with any of
them. The interpolator kind's ``lamina resize`` command resizes image files with any
of them.
"""

from __future__ import annotations

from typing import Any

from lamina import Tags, hookimpl

_MODULE = "lamina.plugins.interpolate"


@hookimpl
def lamina_register_interpolators(registry: Any) -> None:
    """Register the base interpolators and stairstep."""
    tags = Tags(deterministic=True)
    for name, factory, summary in (
        (
            "nearest",
            "separable:Nearest",
            "nearest neighbour (baseline); antialias=True averages areas",
        ),
        ("bilinear", "separable:Bilinear", "bilinear (triangle filter), anti-aliased reduction"),
        ("bicubic", "separable:Bicubic", "Keys cubic convolution (a=-0.5), anti-aliased reduction"),
        ("bspline3", "separable:BSpline3", "prefiltered cubic B-spline interpolation"),
        ("lanczos3", "separable:Lanczos3", "Lanczos, three lobes, anti-aliased reduction"),
        ("lanczos4", "separable:Lanczos4", "Lanczos, four lobes (OpenCV's INTER_LANCZOS4 kernel)"),
        (
            "stairstep",
            "stairstep:Stairstep",
            "resize in steps of at most 10% with a base interpolator",
        ),
    ):
        registry.add(name, f"{_MODULE}.{factory}", summary=summary, tags=tags)
