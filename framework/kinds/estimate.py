"""``lamina estimate``: the shift between two image files with any position
estimator (the position estimator kind's generic command), and the options and
readers that position-estimator commands share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click
import numpy as np

import lamina
from lamina.clitools import emit_json, json_option, parse_settings, print_table, set_option
from lamina.errors import InputError
from lamina.kinds.position_estimator import DEFAULT, require_masked_registration

__all__ = [
    "channel_option",
    "create_estimator",
    "estimate",
    "estimator_option",
    "image_path",
    "mask_options",
    "read_channel",
    "read_mask",
    "read_masks",
    "select_channel",
    "short",
]

F = TypeVar("F", bound=Callable[..., Any])


def estimator_option(default: str) -> Callable[[F], F]:
    """``--estimator/-e NAME``, a position estimator defaulting to ``default``."""
    return click.option(
        "--estimator",
        "-e",
        default=default,
        show_default=True,
        help="Position estimator (`lamina components position_estimator` lists them).",
    )


def channel_option(function: F) -> F:
    """``--channel C``: which channel of a colour image to measure on."""
    return click.option(
        "--channel",
        default=None,
        metavar="C",
        help="For colour images: channel index, 'luminance' or 'mean' (required for colour).",
    )(function)


def mask_options(function: F) -> F:
    """``--reference-mask FILE`` and ``--moving-mask FILE``: the pixels of each image
    to use (see :func:`read_masks`)."""
    function = click.option(
        "--moving-mask", type=image_path(), default=None, help="The same for MOVING."
    )(function)
    return click.option(
        "--reference-mask",
        type=image_path(),
        default=None,
        help="Black-and-white image of REFERENCE's size: white marks the pixels to use, "
        "black those to leave out (needs an estimator with masked registration: ml-refine).",
    )(function)


def read_masks(
    estimator: Any,
    reference_mask: str | None,
    moving_mask: str | None,
    reference: np.ndarray,
    moving: np.ndarray,
) -> dict[str, np.ndarray]:
    """The ``reference_mask=`` / ``moving_mask=`` keywords of ``estimator.estimate``
    from the files of :func:`mask_options` (none without files; see
    :func:`read_mask`)."""
    files = {"--reference-mask": reference_mask, "--moving-mask": moving_mask}
    given = [option for option, path in files.items() if path is not None]
    if given:
        require_masked_registration(estimator, " and ".join(given))
    return {
        option[2:].replace("-", "_"): read_mask(path, option, image)
        for (option, path), image in zip(files.items(), (reference, moving), strict=True)
        if path is not None
    }


def read_mask(path: str, option: str, image: np.ndarray) -> np.ndarray:
    """The mask file given to ``option`` for ``image``, True where a pixel is valid.

    Any image file lamina reads, white (full scale, 1.0 or True) marking a valid
    pixel and black (0) one to leave out, of the image's shape. Refused, naming
    the option: an unreadable file, another shape, grey values.
    """
    from lamina.io import read_image

    try:
        mask, _ = read_image(path)
    except InputError as error:
        raise InputError(f"{option}: {error}") from None
    if mask.shape != image.shape:
        raise InputError(
            f"{option} {path!r} has shape {mask.shape}; a mask holds one value per pixel "
            f"of its image, of shape {image.shape}"
        )
    grey = (mask != 0) & (mask != 1)
    if grey.any():
        raise InputError(
            f"{option} {path!r} must be black and white (white: a valid pixel, black: one "
            f"to leave out), got {float(mask[grey][0]):.3g} on a scale of 0 to 1"
        )
    return mask == 1


def image_path(**kwargs: Any) -> click.Path:
    """An image file argument."""
    return click.Path(dir_okay=False, **kwargs)


def read_channel(path: str, channel: str | None) -> np.ndarray:
    """The image at ``path`` as one channel (see :func:`select_channel`)."""
    from lamina.io import read_image

    image, _ = read_image(path)
    return select_channel(image, channel, name=f"image {path!r}")


def create_estimator(name: str, settings: tuple[str, ...]) -> Any:
    """The position estimator ``name`` built with ``--set`` ``settings``."""
    return lamina.create("position_estimator", name, **parse_settings(settings))


def short(value: Any) -> str:
    """A diagnostic value for a one-line summary (floats to four digits)."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def select_channel(image: np.ndarray, channel: str | None, name: str = "image") -> np.ndarray:
    """Reduce an (H, W, C) image to one channel, as the user asked explicitly.

    ``channel`` (the ``--channel`` option) is an index (``"0"``..``"3"``),
    ``"luminance"`` (Rec. 709 weights via :func:`skimage.color.rgb2gray`, RGB or
    RGBA only) or ``"mean"`` (of the colour channels: the alpha of a 2- or
    4-channel image, its last, is coverage, not brightness); ``None`` leaves grey
    images alone and rejects colour ones. A grey image is its own channel 0, mean
    and luminance; any other channel of it is refused, as on a colour image.

    >>> select_channel(np.zeros((2, 2), np.float32), "5")
    Traceback (most recent call last):
    ...
    lamina.errors.InputError: --channel 5 does not exist in image, which has 1 channel (0)
    """
    grey = image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1)
    channels = 1 if grey else image.shape[2]
    if channel is None and not grey:
        raise InputError(
            f"{name} is a colour image of shape {image.shape}; choose a channel with "
            "--channel (an index, 'luminance' or 'mean')"
        )
    if channel is None or (grey and channel in ("mean", "luminance")):
        return image if image.ndim == 2 else image[:, :, 0]
    if channel == "mean":
        colour = image[:, :, : channels - 1] if channels in (2, 4) else image
        return colour.mean(axis=2, dtype=np.float64).astype(np.float32)
    if channel == "luminance":
        if channels not in (3, 4):
            raise InputError(
                f"--channel luminance needs an RGB(A) image; {name} has {channels} channels "
                "(use an index or 'mean')"
            )
        from skimage.color import rgb2gray

        rgb = image[:, :, :3]
        return rgb2gray(rgb).astype(np.float32)
    try:
        index = int(channel)
    except ValueError:
        raise InputError(
            f"--channel must be an index, 'luminance' or 'mean', got {channel!r}"
        ) from None
    if not 0 <= index < channels:
        plural = "s" if channels > 1 else ""
        raise InputError(
            f"--channel {channel} does not exist in {name}, which has {channels} "
            f"channel{plural} (0{f'..{channels - 1}' if channels > 1 else ''})"
        )
    return image if image.ndim == 2 else image[:, :, index]


@click.command()
@click.argument("reference", type=image_path())
@click.argument("moving", type=image_path())
@estimator_option(DEFAULT)
@set_option
@channel_option
@mask_options
@click.option(
    "--strict",
    is_flag=True,
    help="Refuse (exit 2) an estimate that comes with warnings (low SNR, small overlap, ...).",
)
@json_option
def estimate(
    reference: str,
    moving: str,
    estimator: str,
    settings: tuple[str, ...],
    channel: str | None,
    reference_mask: str | None,
    moving_mask: str | None,
    strict: bool,
    as_json: bool,
) -> None:
    """Shift (dy, dx) of MOVING relative to REFERENCE, with standard errors.

    (dy, dx) is the displacement of the content from REFERENCE to MOVING in
    pixels (the opposite sign of skimage's phase_cross_correlation). Images:
    PNG, TIFF or .npy. What limits the estimate (low SNR, small overlap,
    periodic texture) is printed as warnings on stderr; --strict refuses it.
    --reference-mask/--moving-mask leave pixels out of the match.
    """
    import warnings

    component = create_estimator(estimator, settings)
    first, second = read_channel(reference, channel), read_channel(moving, channel)
    masks = read_masks(component, reference_mask, moving_mask, first, second)
    with warnings.catch_warnings():
        # the constant-image warning is in the result's own warnings
        warnings.simplefilter("ignore", UserWarning)
        result = component.estimate(first, second, **masks)
    notes = result.diagnostics.get("warnings", [])
    if strict and notes:
        raise InputError(f"refused (--strict): {'; '.join(notes)}")
    for note in notes:
        click.echo(f"warning: {note}", err=True)
    if as_json:
        emit_json(
            {"reference": reference, "moving": moving, "estimator": estimator, **result.as_dict()}
        )
        return
    sy, sx = result.uncertainty
    print_table(
        f"{estimator}: {moving} relative to {reference}",
        ["axis", "shift (px)", "standard error (px)"],
        [("dy", f"{result.dy:.6f}", f"{sy:.3g}"), ("dx", f"{result.dx:.6f}", f"{sx:.3g}")],
    )
    shown = {
        k: result.diagnostics[k]
        for k in ("feasible", "peak", "iterations", "converged", "noise_sigma")
        if k in result.diagnostics
    }
    click.echo("  ".join(f"{key}={short(value)}" for key, value in shown.items()))
