"""lamina: a plugin host for imaging and learning algorithms.

Four kinds of component — renderers, interpolators, position estimators and
learners — come from plugins registered through the ``lamina`` entry-point
group and are created by kind and name::

    import lamina
    bicubic = lamina.create("interpolator", "bicubic")
"""

from __future__ import annotations

# The guard goes first: Ctrl-C while the imports below run is one line, not a traceback.
# ruff: noqa: E402
from lamina.startup import guard_startup

guard_startup()

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from lamina.errors import (
    ComponentNotFound,
    ConfigError,
    InputError,
    LaminaError,
    PluginError,
)
from lamina.hookspecs import hookimpl, hookspec
from lamina.host import (
    ENTRY_POINT_GROUP,
    Host,
    PluginInfo,
    components,
    create,
    get_host,
    reset_host,
)
from lamina.kinds import Tags
from lamina.kinds.interpolator import Interpolator
from lamina.kinds.learner import Learner
from lamina.kinds.position_estimator import (
    Locator,
    PointEstimates,
    PositionEstimator,
    ShiftEstimate,
)
from lamina.kinds.renderer import Renderer, Rendering, RenderStats
from lamina.registry import ComponentInfo, KindRegistry, OperationRegistry
from lamina.types import KINDS

if TYPE_CHECKING:
    from lamina.scene import Camera, Scene

try:
    __version__ = version("lamina")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "ENTRY_POINT_GROUP",
    "KINDS",
    "Camera",
    "ComponentInfo",
    "ComponentNotFound",
    "ConfigError",
    "Host",
    "InputError",
    "Interpolator",
    "KindRegistry",
    "LaminaError",
    "Learner",
    "Locator",
    "OperationRegistry",
    "PluginError",
    "PluginInfo",
    "PointEstimates",
    "PositionEstimator",
    "RenderStats",
    "Renderer",
    "Rendering",
    "Scene",
    "ShiftEstimate",
    "Tags",
    "__version__",
    "components",
    "create",
    "get_host",
    "hookimpl",
    "hookspec",
    "reset_host",
]


def __getattr__(name: str) -> Any:
    # Scenes need numpy; importing it lazily keeps `lamina --help` fast.
    if name in ("Camera", "Scene"):
        from lamina import scene

        return getattr(scene, name)
    raise AttributeError(f"module 'lamina' has no attribute {name!r}")
