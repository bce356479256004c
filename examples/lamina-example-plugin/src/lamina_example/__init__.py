"""An example lamina plugin: registers the ``area`` interpolator."""

from lamina import KindRegistry, Tags, hookimpl


@hookimpl
def lamina_register_interpolators(registry: KindRegistry) -> None:
    """Register the area-averaging interpolator."""
    registry.add(
        "area",
        "lamina_example.area:AreaInterpolator",
        summary="Exact area averaging: each output pixel is the mean of the input it covers",
        tags=Tags(deterministic=True),
    )
