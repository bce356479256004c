"""Pipelines: steps that use components and operations, validated before they run,
executed locally or on Dask, with outputs and a report in one folder."""

from __future__ import annotations

from lamina.pipeline.config import Pipeline, Step, load_pipeline, parse_pipeline
from lamina.pipeline.operations import Context
from lamina.pipeline.runner import RunResult, StepResult, run_pipeline

__all__ = [
    "Context",
    "Pipeline",
    "RunResult",
    "Step",
    "StepResult",
    "load_pipeline",
    "parse_pipeline",
    "run_pipeline",
]
