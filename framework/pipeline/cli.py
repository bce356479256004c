"""``lamina run`` and ``lamina demo``."""

from __future__ import annotations

from pathlib import Path

import click

from lamina.clitools import emit_json, json_option, print_table

__all__ = ["demo", "run"]

DEMO = Path(__file__).with_name("demo.toml")


def _options(function):  # type: ignore[no-untyped-def]
    function = click.option(
        "--workers",
        type=click.IntRange(1, 64),
        default=None,
        help="Parallel tasks (local) or Dask workers.",
    )(function)
    function = click.option(
        "--scheduler", default=None, metavar="ADDRESS", help="Dask scheduler, e.g. tcp://host:8786."
    )(function)
    function = click.option(
        "--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True
    )(function)
    return json_option(function)


def _finish(result, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    if as_json:
        emit_json(result.summary())
        return
    summary = result.summary()
    print_table(
        f"{result.pipeline.name}: {summary['tasks']} tasks, {summary['cached']} reused, {summary['seconds']} s",
        ["step", "tasks", "reused", "seconds", "status"],
        (
            (
                name,
                s["tasks"],
                s["cached"],
                s["seconds"],
                "skipped: " + s["skipped"] if s["skipped"] else "done",
            )
            for name, s in summary["steps"].items()
        ),
    )
    click.echo(f"report: {result.outdir / 'report.html'}")


@click.command()
@click.argument(
    "pipeline_file", metavar="PIPELINE.toml", type=click.Path(dir_okay=False, path_type=Path)
)
@click.option(
    "-o",
    "--outdir",
    type=click.Path(path_type=Path),
    default=None,
    help="Output folder [default: PIPELINE name].",
)
@_options
def run(
    pipeline_file: Path,
    outdir: Path | None,
    executor: str,
    scheduler: str | None,
    workers: int | None,
    as_json: bool,
) -> None:
    """Run a pipeline: validate all of it, then execute, reusing stored results."""
    from lamina.pipeline import load_pipeline, run_pipeline

    pipeline = load_pipeline(pipeline_file)
    result = run_pipeline(
        pipeline,
        outdir or Path(pipeline.name),
        executor=executor,
        scheduler=scheduler,
        workers=workers,
    )
    _finish(result, as_json)


@click.command()
@click.option(
    "-o",
    "--outdir",
    type=click.Path(path_type=Path),
    default=Path("lamina-demo"),
    show_default=True,
)
@_options
def demo(
    outdir: Path, executor: str, scheduler: str | None, workers: int | None, as_json: bool
) -> None:
    """Run the bundled demo: all four kinds of component end to end, with a report."""
    from lamina.pipeline import load_pipeline, run_pipeline

    result = run_pipeline(
        load_pipeline(DEMO), outdir, executor=executor, scheduler=scheduler, workers=workers
    )
    _finish(result, as_json)
