"""``lamina run``, ``lamina demo`` and ``lamina cache``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from lamina.clitools import check_output_folder, emit_json, json_option, limited, print_table

__all__ = ["cache", "demo", "run"]

DEMO = Path(__file__).with_name("demo.toml")


def _options(function):  # type: ignore[no-untyped-def]
    for option in reversed(
        [
            click.option(
                "--executor",
                type=click.Choice(["local", "dask"]),
                default="local",
                show_default=True,
            ),
            click.option(
                "--scheduler",
                default=None,
                metavar="ADDRESS",
                help="Dask scheduler, e.g. tcp://127.0.0.1:8786 [default: a LocalCluster].",
            ),
            click.option(
                "--workers",
                type=limited("MAX_WORKERS"),
                default=None,
                help="Parallel tasks (local) or LocalCluster workers.",
            ),
            click.option(
                "--worker-timeout",
                type=limited("MAX_WORKER_TIMEOUT", low=0, floats=True),
                default=60.0,
                show_default=True,
                metavar="SECONDS",
                help="How long to wait for a Dask worker to join the scheduler.",
            ),
            click.option(
                "--keep-going",
                is_flag=True,
                help="Run every task that does not need a failed one; report all failures at the end.",
            ),
            click.option(
                "--dry-run",
                is_flag=True,
                help="Say what would run and what is stored (with reasons); run nothing.",
            ),
            click.option(
                "--only", multiple=True, metavar="STEP", help="Run only STEP (repeatable)."
            ),
            click.option(
                "--from",
                "start",
                multiple=True,
                metavar="STEP",
                help="Run STEP and the steps after it.",
            ),
            click.option(
                "--to", multiple=True, metavar="STEP", help="Run STEP and the steps it needs."
            ),
            click.option(
                "--force",
                multiple=True,
                metavar="STEP",
                help="Rerun STEP and the steps after it even if stored.",
            ),
            json_option,
        ]
    ):
        function = option(function)
    return function


def _finish(result: Any, as_json: bool) -> None:
    if as_json:
        emit_json(result.summary())
        return
    summary = result.summary()
    print_table(
        f"{result.pipeline.name}: {summary['tasks']} tasks, {summary['cached']} reused, "
        f"{summary['seconds']} s",
        ["step", "tasks", "reused", "work s", "status"],
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


def _dry_run(plan: Any, as_json: bool) -> None:
    summary = plan.summary()
    if as_json:
        emit_json(summary)
        return
    print_table(
        f"{summary['pipeline']} (dry run): {summary['run']} of {summary['tasks']} tasks would "
        f"run, {summary['stored']} are stored in {summary['outdir']}",
        ["step", "tasks", "stored", "run", "why"],
        (
            (
                name,
                s["tasks"],
                s["stored"],
                s["run"],
                "skipped: " + s["skipped"]
                if s["skipped"]
                else "; ".join(f"{n}: {why}" for why, n in s["why"].items())
                or ("not selected" if s["left"] else ""),
            )
            for name, s in summary["steps"].items()
        ),
    )


def _execute(pipeline: Any, outdir: Path, options: dict[str, Any]) -> None:
    from lamina.pipeline.plan import Selection, plan_pipeline
    from lamina.pipeline.runner import Interrupted, run_pipeline

    check_output_folder(outdir, name="--outdir")
    selection = Selection(
        only=options.pop("only"),
        start=options.pop("start"),
        to=options.pop("to"),
        force=options.pop("force"),
    )
    as_json = options.pop("as_json")
    if options.pop("dry_run"):
        _dry_run(plan_pipeline(pipeline, outdir, selection=selection, load=False), as_json)
        return
    try:
        result = run_pipeline(pipeline, outdir, selection=selection, **options)
    except Interrupted as stop:
        # The wording of every other command's Ctrl-C (lamina.clitools.standalone).
        click.echo(f"lamina: {stop.word}; {stop}", err=True)
        sys.exit(stop.exit_code)
    _finish(result, as_json)


@click.command()
@click.argument(
    "pipeline_file", metavar="PIPELINE.toml", type=click.Path(dir_okay=False, path_type=Path)
)
@click.option(
    "-o",
    "--outdir",
    type=click.Path(path_type=Path),
    default=None,
    help="Output folder [default: the pipeline's name].",
)
@_options
def run(pipeline_file: Path, outdir: Path | None, **options: Any) -> None:
    """Run a pipeline: validate all of it, then execute, reusing stored results.

    Exit status 2 for an invalid pipeline or input, 1 for a failed run, 130
    when interrupted and 143 when terminated (SIGTERM); finished results are
    kept and a rerun continues.
    """
    from lamina.pipeline import load_pipeline

    pipeline = load_pipeline(pipeline_file)
    _execute(pipeline, outdir or Path(pipeline.name), options)


@click.command()
@click.option(
    "-o",
    "--outdir",
    type=click.Path(path_type=Path),
    default=Path("lamina-demo"),
    show_default=True,
)
@_options
def demo(outdir: Path, **options: Any) -> None:
    """Run the bundled demo: all four kinds of component end to end, with a report."""
    from lamina.pipeline import load_pipeline

    _execute(load_pipeline(DEMO), outdir, options)


@click.group()
def cache() -> None:
    """Inspect or prune the stored results of an output folder."""


_FOLDER = click.argument(
    "outdir", metavar="OUTDIR", type=click.Path(file_okay=False, exists=True, path_type=Path)
)


@cache.command("info")
@_FOLDER
@json_option
def cache_info(outdir: Path, as_json: bool) -> None:
    """How many results OUTDIR stores, their size, and how many the last run used."""
    from lamina.pipeline.cache import CACHE, Cache

    info = Cache(outdir / CACHE).info().as_dict()
    if as_json:
        emit_json(info)
        return
    print_table(f"stored results in {outdir}", ["", "value"], list(info.items()))


@cache.command("prune")
@_FOLDER
@click.option("--all", "everything", is_flag=True, help="Remove every stored result.")
@json_option
def cache_prune(outdir: Path, everything: bool, as_json: bool) -> None:
    """Remove stored results the last run did not use (or all with --all)."""
    from lamina.pipeline.cache import CACHE, Cache

    removed, freed = Cache(outdir / CACHE).prune(everything=everything)
    if as_json:
        emit_json({"removed": removed, "bytes": freed})
        return
    click.echo(f"removed {removed} stored results ({freed / 1e6:.1f} MB) from {outdir}")
