"""Commands of the subpixel plugin: locate, track, field, feasibility (``lamina estimate``
is the position estimator kind's, in :mod:`lamina.kinds.estimate`)."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click
import numpy as np

import lamina
from lamina.clitools import (
    check_output_file,
    emit_json,
    finite_float,
    json_option,
    print_table,
    set_option,
)
from lamina.errors import InputError
from lamina.kinds.estimate import (
    channel_option,
    create_estimator,
    estimator_option,
    image_path,
    mask_options,
    read_channel,
    read_mask,
    read_masks,
    short,
)
from lamina.kinds.position_estimator import require_masked_registration
from lamina.plugins.subpixel import DEFAULT_ESTIMATOR, DEFAULT_LOCATOR
from lamina.plugins.subpixel.checks import MIN_SIZE

__all__ = ["feasibility", "field", "locate", "track"]

F = TypeVar("F", bound=Callable[..., Any])

_CONVENTION = (
    "(dy, dx) is the displacement of the content from the reference to the moving "
    "image, in pixels (the opposite sign of skimage's phase_cross_correlation)."
)


@click.command()
@click.argument("image", type=image_path())
@estimator_option(DEFAULT_LOCATOR)
@set_option
@channel_option
@json_option
def locate(
    image: str, estimator: str, settings: tuple[str, ...], channel: str | None, as_json: bool
) -> None:
    """Sub-pixel positions (y, x) of the isolated point sources in IMAGE.

    The centre of pixel [i, j] is at (i, j). Each position comes with its
    standard error from the Gaussian fit under a noise model fitted to the spots'
    residuals (white or photon noise; the Cramér-Rao bound for white noise),
    enlarged where a spot fits worse than its noise; spots that fit wide and
    badly (two merged ones) are rejected. --set noise=S takes S as white noise.
    """
    info = lamina.get_host().get("position_estimator", estimator)
    if not info.tags.locate:
        locators = [c.name for c in lamina.components("position_estimator") if c.tags.locate]
        raise InputError(
            f"position estimator {estimator!r} does not locate points; use one of {', '.join(locators)}"
        )
    component = create_estimator(estimator, settings)
    found = component.locate(read_channel(image, channel))
    diagnostics = found.diagnostics
    if as_json:
        emit_json(
            {
                "image": image,
                "estimator": estimator,
                "positions": found.positions,
                "uncertainty": found.uncertainty,
                "diagnostics": diagnostics,
            }
        )
        return
    if len(found) == 0:
        # data on stdout: an empty result is a result, with the reason beside it
        click.echo(
            f"0 points in {image}: {diagnostics.get('reason', 'no point source found')} "
            f"(noise_sigma={short(diagnostics['noise_sigma'])})"
        )
        return
    rows = []
    for i, ((y, x), (sy, sx)) in enumerate(zip(found.positions, found.uncertainty, strict=True)):
        rows.append(
            (
                i,
                f"{y:.4f}",
                f"{x:.4f}",
                f"{sy:.2g}",
                f"{sx:.2g}",
                f"{diagnostics['amplitude'][i]:.4g}",
                f"{diagnostics['sigma'][i]:.3f}",
            )
        )
    print_table(
        f"{len(found)} point(s) in {image}",
        ["#", "y", "x", "σy", "σx", "amplitude", "width σ"],
        rows,
    )
    click.echo(
        f"noise_sigma={short(diagnostics['noise_sigma'])}  psf_fwhm={short(diagnostics['psf_fwhm'])}  "
        f"detected={diagnostics['detected']}  rejected={diagnostics['rejected']}"
    )


@click.command()
@click.argument("frames", nargs=-1, required=True, type=image_path())
@estimator_option(DEFAULT_ESTIMATOR)
@set_option
@click.option(
    "--mode",
    type=click.Choice(["reference", "sequential"]),
    default="reference",
    show_default=True,
    help="Register every frame to the reference frame, or each to the previous one and accumulate.",
)
@click.option(
    "--reference",
    "reference",
    type=int,
    default=0,
    show_default=True,
    help="Index of the zero-displacement frame.",
)
@click.option(
    "--roi",
    "rois",
    multiple=True,
    metavar="Y0:Y1,X0:X1",
    help="Track only this region (rows Y0..Y1-1, columns X0..X1-1); repeat for one "
    "series per region.",
)
@click.option(
    "--pixel-size",
    type=finite_float(0, low_open=True),
    default=None,
    help="Size of one pixel in UNIT.",
)
@click.option(
    "--unit",
    default="px",
    show_default=True,
    help="Unit of --pixel-size: a short name such as um, mm or deg (needs --pixel-size).",
)
@click.option(
    "--fps",
    type=finite_float(0, low_open=True),
    default=None,
    help="Frames per second: time in seconds and velocity in UNIT per second. Without "
    "it, a single video's own timestamps give them (variable frame rate included).",
)
@channel_option
@click.option(
    "--mask",
    "mask_path",
    type=image_path(),
    default=None,
    help="Black-and-white image of a frame's size: white marks the pixels to use in every "
    "frame, black those to leave out (static occluders, burnt-in text); cut like the "
    "frames by each --roi (needs masked registration: ml-refine).",
)
@json_option
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write one row per frame and ROI to this file (its name ends in .csv, in any "
    "case), and the displacement plot (±2σ bands) beside it as a .png (both atomically, "
    "as a pair; neither may be an input).",
)
def track(
    frames: tuple[str, ...],
    estimator: str,
    settings: tuple[str, ...],
    mode: str,
    reference: int,
    rois: tuple[str, ...],
    pixel_size: float | None,
    unit: str,
    fps: float | None,
    channel: str | None,
    mask_path: str | None,
    as_json: bool,
    csv_path: str | None,
) -> None:
    """Displacement (dy, dx) of every frame relative to the reference frame.

    FRAMES are image files (PNG, TIFF, .npy; one frame each), multi-page TIFF
    stacks and video files (MP4, AVI, MOV, MKV, WebM), in order. In
    sequential mode the frame-to-frame steps are summed and their uncertainties
    combined, including the correlation of steps that share a frame. --mask
    leaves the same pixels of every frame out. In sequential mode a frame that
    gives no measurement (blank, corrupt, unrecognisable: no estimate, or a
    standard error over a tenth of the frame) is bridged: the next frame is
    registered to the last one that did. A damaged or truncated file is
    refused, never tracked as a shorter series: a video whose header counts its
    frames (MP4, MOV, AVI) must decode all of them but one; where only a duration
    gives the count (MKV, WebM), up to 5 % fewer frames are tracked with a warning.
    """
    from lamina.plugins.subpixel.footage import (
        check_unit,
        frame_times,
        parse_rois,
        physical_series,
        plot_tracks,
        read_frames,
        series_rows,
    )
    from lamina.plugins.subpixel.tracking import track_stack
    from lamina.progress import track as progress

    if as_json and csv_path:
        raise click.UsageError("--json and --csv are exclusive")
    if pixel_size is None and unit != "px":
        raise InputError(
            f"--unit {unit!r} needs --pixel-size (the size of one pixel in {unit}); "
            "without it the track is in pixels"
        )
    shown_unit = check_unit(unit)
    component = create_estimator(estimator, settings)
    outputs: dict[str, Path] = {}
    if csv_path:
        _require_suffix(csv_path, ".csv", "--csv")
        outputs = {"--csv": Path(csv_path), "--csv's plot": Path(csv_path).with_suffix(".png")}
        _check_outputs(outputs, [*frames, *([mask_path] if mask_path else [])])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        stack, labels, stamps = read_frames(list(frames), channel, progress=progress)
    for message in dict.fromkeys(str(w.message) for w in caught):
        click.echo(f"warning: {message}", err=True)
    if not -len(stack) <= reference < len(stack):
        # checked here, not left to each ROI's run, which would blame the --roi
        raise InputError(
            f"--reference {reference} is not one of the {len(stack)} frames read; give an index "
            f"from {-len(stack)} to {len(stack) - 1} (-1 is the last frame)"
        )
    time = frame_times(stamps, fps, frames[0])
    mask = None
    if mask_path is not None:
        require_masked_registration(component, "--mask")
        mask = read_mask(mask_path, "--mask", stack[0])
    regions: list[tuple[slice, slice] | None] = [*parse_rois(rois, stack[0].shape)] or [None]
    series, rows, results = [], [], []
    for text, region in zip(rois or ("all",), regions, strict=True):
        crops = stack if region is None else [frame[region] for frame in stack]
        cut = mask if mask is None or region is None else mask[region]
        if cut is not None and not cut.any():
            where = "" if region is None else f" of --roi {text}"
            raise InputError(f"--mask {mask_path!r} marks no pixel{where} valid")
        pairs = _Registering(progress, f"registering {text}")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            try:
                result = track_stack(
                    crops,
                    component,
                    mode=mode,  # type: ignore[arg-type]
                    reference=reference,
                    mask=cut,
                    progress=pairs,
                )
            except InputError as error:
                if pairs.frame is None:  # refused before any pair: the stack's or the ROI's
                    if region is None:
                        raise
                    raise InputError(f"--roi {text}: {error}") from None
                # one pair the estimator refuses ends the run: say which, with its reason
                raise InputError(
                    f"--roi {text}, frame {pairs.frame} ({labels[pairs.frame]}): {error}; "
                    "choose another --roi or leave the frame out"
                ) from None
        _report_unmeasured(text, result.rows(), caught)
        frame_rows = result.rows()
        for row, label in zip(frame_rows, labels, strict=True):
            row["file"] = label
        physical = physical_series(
            result.displacement, result.uncertainty, pixel_size=pixel_size, fps=fps, time=time
        )
        series.append((text, physical))
        rows += series_rows(text, frame_rows, physical, shown_unit)
        results.append({"roi": text, **result.as_dict(), "frames": frame_rows})
    if as_json:
        emit_json(
            {
                "estimator": estimator,
                "unit": shown_unit,
                "fps": fps,
                "series": results,
                **({"frames": results[0]["frames"], "mode": mode} if len(results) == 1 else {}),
                "rows": rows,
            }
        )
        return
    if csv_path:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        plot = plot_tracks(series, unit=shown_unit, seconds=fps is not None or time is not None)
        table, picture = outputs.values()
        _write_together({table: buffer.getvalue().encode("utf-8"), picture: plot})
        click.echo(f"wrote {len(rows)} rows to {csv_path} and the plot to {picture}", err=True)
        return
    print_table(
        f"{estimator}, {mode} mode, reference frame {reference}",
        ["roi", "frame", "file", f"dy ({shown_unit})", f"dx ({shown_unit})", "σdy", "σdx"],
        (
            (
                r["roi"],
                r["frame"],
                r["file"],
                f"{r[f'dy_{shown_unit}']:.5g}",
                f"{r[f'dx_{shown_unit}']:.5g}",
                f"{r[f'sigma_dy_{shown_unit}']:.2g}",
                f"{r[f'sigma_dx_{shown_unit}']:.2g}",
            )
            for r in rows
        ),
    )


@click.command("field")
@click.argument("reference", type=image_path())
@click.argument("moving", type=image_path())
@estimator_option(DEFAULT_ESTIMATOR)
@set_option
@click.option(
    "--subset",
    type=click.IntRange(min=MIN_SIZE),
    default=32,
    show_default=True,
    help="Subset side (px), up to the smaller image side.",
)
@click.option(
    "--step",
    type=click.IntRange(min=1),
    default=None,
    help="Grid spacing (px); subset/2 by default.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    required=True,
    help="Arrays (.npz: centre_y, centre_x, dy, dx, sigma_dy, sigma_dx, feasible); the "
    "quiver/heat-map PNG is written beside it.",
)
@channel_option
@mask_options
@json_option
def field(
    reference: str,
    moving: str,
    estimator: str,
    settings: tuple[str, ...],
    subset: int,
    step: int | None,
    output: str,
    channel: str | None,
    reference_mask: str | None,
    moving_mask: str | None,
    as_json: bool,
) -> None:
    """Displacement field of MOVING relative to REFERENCE (digital image correlation).

    Subsets of --subset pixels every --step pixels are registered one by one,
    each with its standard error, which includes the deformation bias (a subset
    measures the displacement averaged over its texture, which differs from the
    one at its centre where the field deforms; estimated from the neighbouring
    subsets); subsets that cannot be measured (or hold no pixel a mask marks
    valid) are NaN. --output ends in .npz (in any case).
    """
    from lamina.plugins.subpixel.field import displacement_field, plot_field
    from lamina.progress import track as progress

    _require_suffix(output, ".npz", "--output")
    picture = str(Path(output).with_suffix(".png"))
    masks = [path for path in (reference_mask, moving_mask) if path is not None]
    _check_outputs(
        {"--output": Path(output), "--output's plot": Path(picture)}, [reference, moving, *masks]
    )
    component = create_estimator(estimator, settings)
    first = read_channel(reference, channel)
    second = read_channel(moving, channel)
    result = displacement_field(
        first,
        second,
        component,
        subset=subset,
        step=step,
        **read_masks(component, reference_mask, moving_mask, first, second),
        progress=lambda cells: progress(list(cells), description="subsets"),
    )
    buffer = io.BytesIO()
    # Typed as dict[str, Any]: numpy's stub would match the arrays to savez's allow_pickle.
    arrays: dict[str, Any] = result.arrays()
    np.savez(buffer, **arrays)
    _write_together({Path(output): buffer.getvalue(), Path(picture): plot_field(result, first)})
    measured = int(np.count_nonzero(np.isfinite(result.dy)))
    summary = {
        "reference": reference,
        "moving": moving,
        "estimator": estimator,
        "output": output,
        "plot": picture,
        "grid": list(result.dy.shape),
        "measured": measured,
        "feasible": int(np.count_nonzero(result.feasible)),
        "global_shift": list(result.global_shift),
        "median_sigma": [
            float(np.nanmedian(result.sigma_dy)) if measured else None,
            float(np.nanmedian(result.sigma_dx)) if measured else None,
        ],
        "reasons": result.reasons,
    }
    if as_json:
        emit_json(summary)
        return
    click.echo(
        f"{measured}/{result.dy.size} subsets measured ({summary['feasible']} feasible) on a "
        f"{result.dy.shape[0]}x{result.dy.shape[1]} grid; wrote {output} and {picture}"
    )


class _Registering:
    """``track_stack``'s progress: a progress display over its frames that also
    keeps the frame being registered, to name it if the estimator refuses it."""

    def __init__(self, progress: Callable, description: str) -> None:
        self.progress = progress
        self.description = description
        self.frame: int | None = None

    def __call__(self, items: Iterable[int]) -> Iterator[int]:
        for frame in self.progress(list(items), description=self.description):
            self.frame = frame
            yield frame


#: Unmeasured frames named in a warning line; the rest are counted.
_LISTED = 10


def _report_unmeasured(
    roi: str, rows: list[dict[str, Any]], caught: list[warnings.WarningMessage]
) -> None:
    """The estimator's warnings about frames it could not measure, once each as one
    line on stderr with the frames they concern (Python's own format takes two
    lines per warning and repeats none)."""
    unmeasured = [str(r["frame"]) for r in rows if not np.isfinite(r["dy"])]
    listed = ", ".join(unmeasured[:_LISTED])
    if len(unmeasured) > _LISTED:
        listed += f" and {len(unmeasured) - _LISTED} more"
    frames = f" (frame{'s' if len(unmeasured) > 1 else ''} {listed})" if unmeasured else ""
    for message in dict.fromkeys(str(w.message) for w in caught):
        click.echo(f"warning: --roi {roi}{frames}: {message}", err=True)


def _require_suffix(path: str, suffix: str, option: str) -> None:
    """Refuse an output ``path`` not ending in ``suffix`` (in any case: ``.CSV`` is
    a CSV file); its plot is written beside it with ``.png`` in its place."""
    if Path(path).suffix.lower() != suffix:
        raise InputError(
            f"{option} must end in {suffix} (its plot is written beside it as .png), got {path!r}"
        )


def _same_file(first: Path, second: str) -> bool:
    other = Path(second)
    if first.exists() and other.exists():
        return os.path.samefile(first, other)
    return first.resolve() == other.resolve()


def _check_outputs(outputs: dict[str, Path], inputs: list[str]) -> None:
    """Refuse an output whose folder is missing, that is a folder, or that is one
    of the command's ``inputs`` (a plot beside ``frame0.csv`` is ``frame0.png``)."""
    for name, path in outputs.items():
        check_output_file(path, name=name)
        for source in inputs:
            if _same_file(path, source):
                raise InputError(
                    f"{name} {str(path)!r} is the input {source!r} and would be overwritten; "
                    "name the output otherwise"
                )


def _write_together(files: dict[Path, bytes]) -> None:
    """Write ``files`` each atomically and as a set: every one goes to a temporary
    file first and none is renamed into place until all are written, so a failure
    while writing (disk full, Ctrl-C) or at the first rename (permissions) leaves
    the previous set whole, never a new table beside an old plot. The renames run
    last file first, in one folder; only a rename failing after another succeeded
    (a race with another process) could still mix two runs."""
    from lamina.io import atomic_write

    with contextlib.ExitStack() as stack:
        for path, content in files.items():
            stack.enter_context(atomic_write(path, "wb")).write(content)


@click.command()
@click.argument("images", nargs=-1, required=True, type=image_path())
@estimator_option(DEFAULT_ESTIMATOR)
@set_option
@click.option(
    "--pixel-size",
    type=finite_float(0, low_open=True),
    default=None,
    help="Size of one pixel in UNIT, to state the precision physically.",
)
@click.option("--unit", default="m", show_default=True, help="Unit of --pixel-size and --target.")
@click.option(
    "--target",
    type=finite_float(0, low_open=True),
    default=None,
    help="Precision wanted (in UNIT with --pixel-size, else px).",
)
@channel_option
@json_option
def feasibility(
    images: tuple[str, ...],
    estimator: str,
    settings: tuple[str, ...],
    pixel_size: float | None,
    unit: str,
    target: float | None,
    channel: str | None,
    as_json: bool,
) -> None:
    """Is sub-pixel measurement feasible on IMAGES? Noise, PSF width, expected
    precision (Cramér-Rao bound) and a pixel-locking check of the estimator.

    One image, or several frames of a stationary scene (noise then comes from
    their temporal fluctuations).
    """
    from lamina.plugins.subpixel.feasibility import feasibility_report

    component = create_estimator(estimator, settings)
    stack = [read_channel(path, channel) for path in images]
    report = feasibility_report(
        stack if len(stack) > 1 else stack[0],
        estimator=component,
        pixel_size=pixel_size,
        unit=unit if pixel_size is not None else "px",
        target=target,
    )
    if as_json:
        emit_json({"images": list(images), "estimator": estimator, **report.as_dict()})
        return
    precision = report.precision
    psf = report.psf
    locking = report.locking
    rows = [
        ("frames", report.frames),
        ("noise sigma", short(report.noise["used"])),
        (
            "PSF FWHM (px)",
            f"{psf['fwhm']:.3f} from {psf['method']} ({psf['count']})"
            if psf.get("method")
            else psf["reason"],
        ),
        (
            "expected σ per pair",
            " x ".join(short(v) for v in precision["pair_sigma"])
            + f" {precision['unit']} (dy x dx)"
            if "pair_sigma" in precision
            else precision["reason"],
        ),
        ("pixel locking", locking.get("verdict", locking.get("reason"))),
    ]
    print_table("feasibility", ["measure", "value"], rows)
    click.echo(report.verdict)
