"""Deliberately broken components, one fault each, to prove every conformance check can fail."""

from __future__ import annotations

from typing import Any

import numpy as np

import lamina
from lamina import InputError, PointEstimates, Rendering, RenderStats, ShiftEstimate, Tags

# -- interpolators -------------------------------------------------------------


class GoodResize:
    """Nearest-neighbour resize with full validation: the baseline that passes."""

    def __init__(self, *, order: int = 0) -> None:
        self.order = order

    def validate(self, image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        image = np.asarray(image)
        if image.ndim not in (2, 3) or 0 in image.shape[:2] or not np.isfinite(image).all():
            raise InputError("bad image")
        if min(shape) < 1:
            raise InputError("bad shape")
        return image

    def resize(self, image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        image = self.validate(image, shape)
        rows = (np.arange(shape[0]) * image.shape[0]) // shape[0]
        cols = (np.arange(shape[1]) * image.shape[1]) // shape[1]
        return image[rows][:, cols].astype(np.float32)


class ReturnsFloat64(GoodResize):
    def resize(self, image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        return super().resize(image, shape).astype(np.float64)


class Overshoots(GoodResize):
    def resize(self, image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        return super().resize(image, shape) * np.float32(1.5)


class Darkens(GoodResize):
    def resize(self, image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        out = super().resize(image, shape)
        return out * np.float32(0.98)


class NoValidation(GoodResize):
    def validate(self, image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        return np.asarray(image)


class Noisy(GoodResize):
    def resize(self, image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        out = super().resize(image, shape)
        return out + np.random.default_rng().uniform(0, 1e-6, out.shape).astype(np.float32)


class ModifiesInput(GoodResize):
    def resize(self, image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        image[0, 0] = 0.0
        return super().resize(image, shape)


class PositionalParameter:
    def __init__(self, order: int = 0) -> None:
        self.order = order


class RaisesOnDefaults:
    def __init__(self, *, order: int = 0) -> None:
        raise RuntimeError("cannot build")


# -- position estimators -----------------------------------------------------------


class CentroidShift:
    """Shift of the intensity centroid: crude but a real, validated estimator."""

    def __init__(self, *, jitter: bool = False) -> None:
        self.jitter = jitter

    def check(self, reference: np.ndarray, moving: np.ndarray) -> None:
        if reference.ndim != 2 or reference.shape != moving.shape:
            raise InputError("bad images")
        if not (np.isfinite(reference).all() and np.isfinite(moving).all()):
            raise InputError("NaN")

    def estimate(self, reference: np.ndarray, moving: np.ndarray) -> ShiftEstimate:
        self.check(reference, moving)

        def centroid(image: np.ndarray) -> np.ndarray:
            weights = np.clip(image - np.median(image), 0, None)
            grid = np.indices(image.shape).reshape(2, -1)
            return grid @ weights.ravel() / weights.sum()

        dy, dx = centroid(moving) - centroid(reference)
        if self.jitter:
            dy += np.random.default_rng().normal(0, 1e-3)
        return ShiftEstimate(dy, dx, self.uncertainty())

    def uncertainty(self) -> tuple[float, float]:
        return (0.1, 0.1)

    def locate(self, image: np.ndarray) -> PointEstimates:
        flat = np.argsort(image.ravel())[::-1][:3]
        positions = np.column_stack(np.unravel_index(flat, image.shape)).astype(float)
        return PointEstimates(positions, np.full_like(positions, 0.5))


class ZeroShift(CentroidShift):
    def estimate(self, reference: np.ndarray, moving: np.ndarray) -> ShiftEstimate:
        self.check(reference, moving)
        return ShiftEstimate(0.0, 0.0, (0.1, 0.1))


class NoUncertainty(CentroidShift):
    def uncertainty(self) -> tuple[float, float]:
        return (0.0, float("nan"))


class UncheckedShift(CentroidShift):
    def check(self, reference: np.ndarray, moving: np.ndarray) -> None:
        return None


# -- renderers -------------------------------------------------------------------


class FlatRenderer:
    """Paints every covered pixel with the premultiplied colour of face 0 (not exact)."""

    def __init__(
        self, *, premultiply: bool = True, noise: bool = False, validate: bool = True
    ) -> None:
        self.premultiply, self.noise, self.validate = premultiply, noise, validate

    def render(self, scene: Any, camera: Any, size: tuple[int, int]) -> Rendering:
        if self.validate and not (0 < size[0] <= 16384 and 0 < size[1] <= 16384):
            raise InputError("bad size")
        height, width = size
        if not self.validate and height * width > 10**8:
            raise MemoryError("too big")
        rgba = np.array(scene.face_colors[0], np.float32)
        if self.premultiply:
            rgba[:3] *= rgba[3]
        image = np.zeros((height, width, 4), np.float32)
        image[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = rgba
        if self.noise:
            image += np.random.default_rng().uniform(0, 1e-7, image.shape).astype(np.float32)
        complexity = np.zeros(size, np.int32)
        complexity[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = 2
        stats = RenderStats(geometry_passes=1, layers=2, fragments=int(complexity.sum()))
        return Rendering(image, complexity, stats)


def not_premultiplied(*, premultiply: bool = False) -> FlatRenderer:
    return FlatRenderer(premultiply=premultiply)


def noisy_renderer(*, noise: bool = True) -> FlatRenderer:
    return FlatRenderer(noise=noise)


def unvalidated_renderer(*, validate: bool = False) -> FlatRenderer:
    return FlatRenderer(validate=validate)


# -- learners ---------------------------------------------------------------------


class NearestCentroid:
    """A nearest-centroid classifier with the scikit-learn API, validated."""

    def __init__(self, *, shrink: float = 0.0) -> None:
        self.shrink = shrink

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"shrink": self.shrink}

    def set_params(self, **params: Any) -> NearestCentroid:
        for key, value in params.items():
            setattr(self, key, value)
        return self

    def fit(self, X: np.ndarray, y: np.ndarray) -> NearestCentroid:
        X, y = np.asarray(X, float), np.asarray(y)
        if X.ndim != 2 or len(X) != len(y) or len(X) == 0:
            raise InputError("bad X or y")
        self.classes_, codes = np.unique(y, return_inverse=True)
        self.centres_ = np.array([X[codes == k].mean(axis=0) for k in range(len(self.classes_))])
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        if not hasattr(self, "centres_"):
            raise ValueError("not fitted")
        distance = ((np.asarray(X, float)[:, None, :] - self.centres_) ** 2).sum(axis=2)
        return self.classes_[distance.argmin(axis=1)]


class ForgetsParameter(NearestCentroid):
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {}


class PredictsUnfitted(NearestCentroid):
    def predict(self, X: np.ndarray) -> np.ndarray:
        if not hasattr(self, "centres_"):
            return np.zeros(len(X))
        return super().predict(X)


class FitReturnsNone(NearestCentroid):
    def fit(self, X: np.ndarray, y: np.ndarray) -> None:  # type: ignore[override]
        super().fit(X, y)


class AcceptsAnything(NearestCentroid):
    def fit(self, X: np.ndarray, y: np.ndarray) -> NearestCentroid:
        X, y = np.asarray(X, float), np.asarray(y)
        if X.ndim != 2 or len(X) == 0:
            raise IndexError("crash")
        n = min(len(X), len(y))
        return super().fit(X[:n], y[:n])


class RandomTieBreak(NearestCentroid):
    def predict(self, X: np.ndarray) -> np.ndarray:
        out = super().predict(X)
        flip = np.random.default_rng().random(len(out)) < 0.3
        return np.where(flip, self.classes_[0], out)


class NoResize:
    """Registered as an interpolator, but has no ``resize``."""

    def scale(self, image: np.ndarray, factor: float) -> np.ndarray:
        return np.asarray(image, dtype=np.float32)


REGISTRATIONS: dict[str, list[tuple[str, Any, str, dict[str, Any]]]] = {
    "interpolator": [
        ("good-resize", GoodResize, "nearest neighbour", {}),
        ("returns-float64", ReturnsFloat64, "float64 output", {}),
        ("overshoots", Overshoots, "leaves the range", {}),
        ("darkens", Darkens, "shifts constants", {}),
        ("no-validation", NoValidation, "accepts NaN", {}),
        ("noisy", Noisy, "random output", {}),
        ("modifies-input", ModifiesInput, "writes into its input", {}),
        ("positional-parameter", PositionalParameter, "positional parameter", {}),
        ("raises-on-defaults", RaisesOnDefaults, "cannot be built", {}),
        ("no-summary", GoodResize, "", {}),
        ("no-resize", NoResize, "resamples nothing", {}),
    ],
    "position_estimator": [
        ("centroid", CentroidShift, "intensity centroid", {"locate": True}),
        ("zero-shift", ZeroShift, "always zero", {}),
        ("no-uncertainty", NoUncertainty, "zero uncertainty", {}),
        ("unchecked-shift", UncheckedShift, "accepts anything", {}),
    ],
    "renderer": [
        ("flat", FlatRenderer, "flat paint, premultiplied", {}),
        ("flat-exact-claim", FlatRenderer, "claims to be exact", {"exact": True}),
        ("not-premultiplied", not_premultiplied, "straight alpha out", {}),
        ("noisy-renderer", noisy_renderer, "random output", {}),
        ("unvalidated-renderer", unvalidated_renderer, "accepts any size", {}),
    ],
    "learner": [
        ("nearest-centroid", NearestCentroid, "nearest centroid", {"learner_type": "classifier"}),
        (
            "forgets-parameter",
            ForgetsParameter,
            "incomplete get_params",
            {"learner_type": "classifier"},
        ),
        ("predicts-unfitted", PredictsUnfitted, "no fitted check", {"learner_type": "classifier"}),
        ("fit-returns-none", FitReturnsNone, "fit returns None", {"learner_type": "classifier"}),
        ("accepts-anything", AcceptsAnything, "no input checks", {"learner_type": "classifier"}),
        ("random-tie-break", RandomTieBreak, "nondeterministic", {"learner_type": "classifier"}),
    ],
}


class BrokenPlugin:
    """Registers every component above."""

    def _add(self, kind: str, registry: lamina.KindRegistry) -> None:
        for name, factory, summary, tags in REGISTRATIONS[kind]:
            registry.add(name, factory, summary=summary, tags=Tags(**tags))

    @lamina.hookimpl
    def lamina_register_interpolators(self, registry: lamina.KindRegistry) -> None:
        self._add("interpolator", registry)

    @lamina.hookimpl
    def lamina_register_position_estimators(self, registry: lamina.KindRegistry) -> None:
        self._add("position_estimator", registry)

    @lamina.hookimpl
    def lamina_register_renderers(self, registry: lamina.KindRegistry) -> None:
        self._add("renderer", registry)

    @lamina.hookimpl
    def lamina_register_learners(self, registry: lamina.KindRegistry) -> None:
        self._add("learner", registry)
