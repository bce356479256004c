"""A fifth kind of component, added from outside the host: denoisers.

This module is a plugin that adds the kind ``denoiser`` (hook
``lamina_register_denoisers``, a protocol, a tag, conformance checks, a
pipeline result type and a generic command ``lamina denoise``) and registers
two denoisers of it: ``box``, which keeps its promises, and ``brightens``,
which breaks the mean its tags promise to keep.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import click
import numpy as np

import lamina
from lamina import InputError, hookimpl
from lamina.kinds import Kind, ResultType, TagField
from lamina.registry import ComponentInfo
from lamina.testing import Check, build, unchanged

_HERE = __name__  # the factories and checks are looked up in this very module


@runtime_checkable
class Denoiser(Protocol):
    def denoise(self, image: np.ndarray) -> Denoised:
        """Return ``image`` with less noise."""


@dataclass
class Denoised:
    """A denoised image and the noise level removed."""

    image: np.ndarray
    removed_sigma: float


class DenoisedResult(ResultType):
    """Written as ``.npy``, pictured by its image, tabulated by the noise removed."""

    def write(self, value: Denoised, stem: Path, *, durable: bool) -> list[Path]:
        path = stem.with_suffix(".npy")
        np.save(path, value.image)
        return [path]

    def picture(self, value: Denoised) -> np.ndarray:
        return np.clip(value.image, 0, 1)

    def scalars(self, value: Denoised) -> dict[str, Any]:
        return {"removed_sigma": value.removed_sigma}


def check_keeps_shape(info: ComponentInfo) -> None:
    image = np.random.default_rng(0).uniform(size=(12, 10)).astype(np.float32)
    with unchanged(image):
        result = build(info).denoise(image)
    assert isinstance(result, Denoised), f"denoise returned {type(result).__name__}"
    assert result.image.shape == image.shape, f"shape {result.image.shape}, not {image.shape}"


def check_preserves_mean(info: ComponentInfo) -> None:
    image = np.random.default_rng(1).uniform(size=(16, 16)).astype(np.float32)
    found = float(build(info).denoise(image).image.mean())
    assert abs(found - float(image.mean())) < 1e-4, f"mean moved from {image.mean()} to {found}"


def checks(info: ComponentInfo) -> list[Check]:
    found = [Check("denoiser_keeps_shape", check_keeps_shape)]
    if info.tags.preserves_mean:
        found.append(Check("denoiser_preserves_mean", check_preserves_mean))
    return found


class Box:
    """A periodic box filter of odd ``size``."""

    def __init__(self, *, size: int = 3) -> None:
        if size < 1 or size % 2 == 0:
            raise InputError(f"size must be odd and positive, got {size}")
        self.size = size

    def denoise(self, image: np.ndarray) -> Denoised:
        image = np.asarray(image, dtype=np.float32)
        half = self.size // 2
        offsets = range(-half, half + 1)
        total = sum(np.roll(image, (dy, dx), axis=(0, 1)) for dy in offsets for dx in offsets)
        smooth = (total / self.size**2).astype(np.float32)
        return Denoised(smooth, float(np.std(image - smooth)))


class Brightens(Box):
    """Smooths, then adds 0.1: not the mean its tags promise."""

    def denoise(self, image: np.ndarray) -> Denoised:
        result = super().denoise(image)
        return Denoised(result.image + np.float32(0.1), result.removed_sigma)


@click.command()
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--denoiser", "-d", default="box", show_default=True)
def denoise(source: Path, target: Path, denoiser: str) -> None:
    """Denoise the .npy image SOURCE into TARGET with any denoiser."""
    result = lamina.create("denoiser", denoiser).denoise(np.load(source))
    np.save(target, result.image)
    click.echo(f"removed sigma {result.removed_sigma:.4f}")


KIND = Kind(
    name="denoiser",
    plural="denoisers",
    summary="Removes noise from an image.",
    protocol=f"{_HERE}:Denoiser",
    calls={"denoise": ("image",)},
    tags=(TagField("preserves_mean", True, "The output's mean is the input's.", (True, False)),),
    checks=f"{_HERE}:checks",
    results=(DenoisedResult(f"{_HERE}:Denoised"),),
    commands=(("denoise", f"{_HERE}:denoise", "Denoise an .npy image with any denoiser."),),
)


@hookimpl
def lamina_register_kinds(registry: Any) -> None:
    registry.add(KIND)


@hookimpl
def lamina_register_denoisers(registry: Any) -> None:
    registry.add("box", f"{_HERE}:Box", summary="periodic box filter", tags={"gpu": False})
    registry.add("brightens", f"{_HERE}:Brightens", summary="smooths and brightens")
