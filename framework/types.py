"""Data types shared by the host, the plugins and the conformance suite."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # numpy is imported when first needed: `lamina --help` never needs it
    import numpy as np

__all__ = [
    "KINDS",
    "Kind",
    "PointEstimates",
    "RenderStats",
    "Rendering",
    "ShiftEstimate",
    "Tags",
]

Kind = Literal["renderer", "interpolator", "position_estimator", "learner"]
KINDS: tuple[str, ...] = ("renderer", "interpolator", "position_estimator", "learner")


@dataclass(frozen=True)
class Tags:
    """What a component promises; the conformance suite picks its checks from these.

    Parameters
    ----------
    exact : bool
        Renderer output equals the float64 reference within 1e-5 per channel.
    deterministic : bool
        The same input (and ``random_state``) gives the same output bit for bit.
    gpu : bool
        Can run on a GPU backend (CUDA/Vulkan) when one is present.
    requires : tuple of str
        Importable modules the component needs beyond lamina's own
        dependencies, e.g. ``("torch",)``.
    locate : bool
        Position estimator that also implements ``locate(image)``.
    learner_type : {"classifier", "regressor", "generative", None}
        What a learner learns; decides which learner checks run.
    input_data : {"continuous", "counts", "binary", "categorical", "mixed"}
        The data a learner accepts, so the checks can build suitable inputs.
    """

    exact: bool = False
    deterministic: bool = True
    gpu: bool = False
    requires: tuple[str, ...] = ()
    locate: bool = False
    learner_type: str | None = None
    input_data: str = "continuous"

    @classmethod
    def coerce(cls, tags: Tags | Mapping[str, Any] | None) -> Tags:
        """Accept a ``Tags``, a mapping of its fields, or ``None``."""
        if tags is None:
            return cls()
        if isinstance(tags, Tags):
            return tags
        if not isinstance(tags, Mapping):
            raise TypeError(f"tags must be a lamina.Tags or a mapping, not {type(tags).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(tags) - known)
        if unknown:
            raise TypeError(f"unknown tag(s) {unknown}; valid tags: {sorted(known)}")
        values = dict(tags)
        if "requires" in values:
            values["requires"] = tuple(values["requires"])
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class RenderStats:
    """What a renderer did to produce one frame."""

    geometry_passes: int = 0
    layers: int = 0
    fragments: int = 0
    max_depth_complexity: int = 0
    peak_memory_bytes: int = 0
    bound_hit: bool = False
    tiles: int = 1
    seconds: float = 0.0
    early_stop_error: float | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class Rendering:
    """A rendered frame: premultiplied RGBA float32 ``image`` of shape (H, W, 4),
    the per-pixel ``depth_complexity`` (H, W) and the ``stats``."""

    image: np.ndarray
    depth_complexity: np.ndarray
    stats: RenderStats


@dataclass
class ShiftEstimate:
    """A translation ``moving ≈ reference`` shifted by (dy, dx) pixels.

    ``uncertainty`` is the standard error (dy, dx) in pixels; ``diagnostics``
    holds estimator-specific facts (peak value, iterations, converged, ...).
    """

    dy: float
    dx: float
    uncertainty: tuple[float, float]
    diagnostics: dict[str, Any] = field(default_factory=dict)

    @property
    def shift(self) -> np.ndarray:
        import numpy as np

        return np.array([self.dy, self.dx])

    def as_dict(self) -> dict[str, Any]:
        return {
            "dy": float(self.dy),
            "dx": float(self.dx),
            "uncertainty": [float(u) for u in self.uncertainty],
            "diagnostics": self.diagnostics,
        }


@dataclass
class PointEstimates:
    """Point positions found by ``locate``: ``positions`` (N, 2) as (y, x) pixels,
    ``uncertainty`` (N, 2) standard errors, ``diagnostics`` per run."""

    positions: np.ndarray
    uncertainty: np.ndarray
    diagnostics: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.positions)
