"""Pipelines: steps that use components and operations, validated before they run,
executed locally or on Dask, with outputs and a report in one folder."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lamina.hookspecs import hookimpl

if TYPE_CHECKING:
    from lamina.pipeline.config import Pipeline, Step, load_pipeline, parse_pipeline
    from lamina.pipeline.operations import Context
    from lamina.pipeline.plan import Selection, plan_pipeline
    from lamina.pipeline.runner import RunResult, StepResult, run_pipeline

# This package is the ``pipeline`` plugin, imported at every start-up: its
# modules (numpy and all) are imported when a pipeline is first used.
_EXPORTS = {
    "Pipeline": "config",
    "Step": "config",
    "load_pipeline": "config",
    "parse_pipeline": "config",
    "Context": "operations",
    "RunResult": "runner",
    "StepResult": "runner",
    "Selection": "plan",
    "plan_pipeline": "plan",
    "run_pipeline": "runner",
}

#: The built-in operations, each a function of the same name in ``operations``.
OPERATION_NAMES = (
    "load",
    "save",
    "crop",
    "add_noise",
    "shift",
    "downsample",
    "to_grey",
    "compare",
    "image_patches",
)

__all__ = [
    "Context",
    "Pipeline",
    "RunResult",
    "Selection",
    "Step",
    "StepResult",
    "load_pipeline",
    "parse_pipeline",
    "plan_pipeline",
    "run_pipeline",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"lamina.pipeline.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'lamina.pipeline' has no attribute {name!r}")


@hookimpl
def lamina_register_operations(registry: Any) -> None:
    """Register the built-in operations by name; pipelines import them on first use."""
    for name in OPERATION_NAMES:
        registry.add(name, f"lamina.pipeline.operations:{name}")
