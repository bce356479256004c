"""``lamina new-plugin``: write a third-party plugin package that installs and
passes ``lamina check`` as written, for an author to grow from.

The package has a ``src`` layout, a ``lamina`` entry point, a component
registered as ``"module:attr"`` (imported only when used), ``py.typed``, and a
test that runs the conformance suite under pytest.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from lamina.errors import InputError

__all__ = ["TEMPLATE_KINDS", "write_plugin"]

_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")

# kind -> (hook, tags, summary, component module source); {cls} is the class name.
_INTERPOLATOR = '''\
"""{title}: a lamina interpolator."""

from __future__ import annotations

import numpy as np

from lamina import InputError
from lamina.memory import array_bytes, check_allocation


class {cls}:
    """Nearest-neighbour resampling: each output pixel takes the input pixel
    under its centre, so values and their range are kept exactly.

    Add keyword-only constructor parameters with type hints and defaults:
    ``lamina describe interpolator {name}`` lists them and ``--set`` sets them.

    Examples
    --------
    >>> import numpy as np
    >>> {cls}().resize(np.eye(2, dtype=np.float32), (4, 4)).shape
    (4, 4)
    """

    def resize(self, image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Return ``image`` resampled to ``shape`` = (height, width), float32."""
        image = np.asarray(image)
        if image.ndim not in (2, 3) or 0 in image.shape[:2]:
            raise InputError(
                f"image: expected a non-empty (H, W) or (H, W, C) array, got shape {{image.shape}}"
            )
        if not np.isfinite(image).all():
            raise InputError("image: expected finite values, got NaN or infinity")
        height, width = (int(side) for side in shape)
        if height < 1 or width < 1:
            raise InputError(f"shape: expected a positive (height, width), got {{tuple(shape)}}")
        check_allocation(
            array_bytes((height, width, *image.shape[2:]), np.float32),
            what=f"a {{height}} x {{width}} output image",
            fix="ask for a smaller shape",
        )
        rows = ((np.arange(height) + 0.5) * image.shape[0] / height).astype(np.intp)
        cols = ((np.arange(width) + 0.5) * image.shape[1] / width).astype(np.intp)
        return image[rows][:, cols].astype(np.float32)
'''

_POSITION = '''\
"""{title}: a lamina position estimator."""

from __future__ import annotations

import numpy as np

from lamina import InputError, ShiftEstimate


class {cls}:
    """Cross-correlation (by FFT, periodic) with a three-point parabola through
    the peak on each axis.

    Add keyword-only constructor parameters with type hints and defaults:
    ``lamina describe position_estimator {name}`` lists them.

    Examples
    --------
    >>> import numpy as np
    >>> y, x = np.mgrid[:32, :32]
    >>> blob = lambda cy, cx: np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 8.0)
    >>> found = {cls}().estimate(blob(15, 15), blob(17, 14))
    >>> round(found.dy), round(found.dx)
    (2, -1)
    """

    def estimate(self, reference: np.ndarray, moving: np.ndarray) -> ShiftEstimate:
        """The shift (dy, dx) with ``moving`` ≈ ``reference`` translated by it."""
        reference, moving = np.asarray(reference), np.asarray(moving)
        if reference.ndim != 2 or reference.shape != moving.shape:
            raise InputError(
                "reference, moving: expected two 2-D images of one shape, got shapes "
                f"{{reference.shape}} and {{moving.shape}}"
            )
        if not (np.isfinite(reference).all() and np.isfinite(moving).all()):
            raise InputError("reference, moving: expected finite values, got NaN or infinity")
        spectrum = np.fft.fft2(moving - moving.mean()) * np.conj(
            np.fft.fft2(reference - reference.mean())
        )
        surface = np.fft.ifft2(spectrum).real
        peak = np.unravel_index(np.argmax(surface), surface.shape)
        shift = []
        for axis, size in enumerate(surface.shape):
            before, after = list(peak), list(peak)
            before[axis] = (peak[axis] - 1) % size
            after[axis] = (peak[axis] + 1) % size
            left, centre, right = surface[tuple(before)], surface[peak], surface[tuple(after)]
            curvature = left - 2 * centre + right
            offset = 0.5 * (left - right) / curvature if curvature < 0 else 0.0
            wrapped = (peak[axis] + size // 2) % size - size // 2
            shift.append(float(wrapped + offset))
        # A parabola through three samples is good to about a tenth of a pixel on
        # smooth images; report that, not a claim of precision.
        return ShiftEstimate(shift[0], shift[1], (0.1, 0.1), {{"peak": float(surface[peak])}})
'''

_LEARNER = '''\
"""{title}: a lamina learner (the scikit-learn estimator API)."""

from __future__ import annotations

from typing import Any

import numpy as np

from lamina import InputError


class {cls}:
    """Nearest-centroid classifier: each class is the mean of its training rows.

    Parameters
    ----------
    temperature : float
        Scale of the distances in ``predict_proba`` (softmax of -distance² / temperature).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 0.0], [0.2, 0.0], [5.0, 5.0], [5.2, 5.0]])
    >>> {cls}().fit(X, ["a", "a", "b", "b"]).predict(np.array([[4.0, 4.5]])).tolist()
    ['b']
    """

    def __init__(self, *, temperature: float = 1.0) -> None:
        self.temperature = temperature

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {{"temperature": self.temperature}}

    def set_params(self, **params: Any) -> {cls}:
        for key, value in params.items():
            if key not in self.get_params():
                raise ValueError(f"{{type(self).__name__}} has no parameter {{key!r}}")
            setattr(self, key, value)
        return self

    def fit(self, X: Any, y: Any) -> {cls}:
        X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
        if X.ndim != 2 or len(X) == 0:
            raise InputError(f"X: expected a non-empty 2-D table, got shape {{X.shape}}")
        if y.shape != (len(X),):
            raise InputError(f"y: expected {{len(X)}} labels (one per row of X), got {{y.shape}}")
        if not np.isfinite(X).all():
            raise InputError("X: expected finite values, got NaN or infinity")
        self.classes_, codes = np.unique(y, return_inverse=True)
        self.centroids_ = np.stack([X[codes == k].mean(axis=0) for k in range(len(self.classes_))])
        self.n_features_in_ = X.shape[1]
        return self

    def _distances(self, X: Any) -> np.ndarray:
        if not hasattr(self, "centroids_"):
            raise ValueError(f"this {{type(self).__name__}} is not fitted yet: call fit first")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise InputError(f"X: expected {{self.n_features_in_}} columns, got shape {{X.shape}}")
        return ((X[:, None, :] - self.centroids_[None]) ** 2).sum(axis=2)

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[np.argmin(self._distances(X), axis=1)]

    def predict_proba(self, X: Any) -> np.ndarray:
        logits = -self._distances(X) / self.temperature
        weights = np.exp(logits - logits.max(axis=1, keepdims=True))
        return weights / weights.sum(axis=1, keepdims=True)

    def score(self, X: Any, y: Any) -> float:
        return float(np.mean(self.predict(X) == np.asarray(y)))
'''

_RENDERER = """\
\"\"\"{title}: a lamina renderer.\"\"\"

from __future__ import annotations

import time

import numpy as np

from lamina import Camera, InputError, Rendering, RenderStats, Scene
from lamina.limits import MAX_IMAGE_SIDE
from lamina.memory import array_bytes, check_allocation


class {cls}:
    \"\"\"Painter's algorithm: whole triangles sorted far to near by their mean
    depth, each composited over the image with premultiplied alpha.

    Not exact where triangles interpenetrate or overlap cyclically (lamina's
    ``fragment-list`` renderer is); triangles reaching behind the camera are
    left out, and vertex colours are averaged per face.

    Examples
    --------
    >>> import numpy as np
    >>> from lamina import Camera, Scene
    >>> quad = Scene(
    ...     vertices=np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], float),
    ...     faces=np.array([[0, 1, 2], [0, 2, 3]]),
    ...     face_colors=(1.0, 0.0, 0.0, 0.5),
    ... )
    >>> camera = Camera(eye=(0, 0, 4), target=(0, 0, 0))
    >>> {cls}().render(quad, camera, (8, 8)).image[4, 4].tolist()
    [0.5, 0.0, 0.0, 0.5]
    \"\"\"

    def render(self, scene: Scene, camera: Camera, size: tuple[int, int]) -> Rendering:
        \"\"\"Render ``scene`` seen by ``camera`` at ``size`` = (height, width).\"\"\"
        start = time.perf_counter()
        height, width = (int(side) for side in size)
        if not (1 <= height <= MAX_IMAGE_SIDE and 1 <= width <= MAX_IMAGE_SIDE):
            raise InputError(
                f"size: expected height and width in 1..{{MAX_IMAGE_SIDE}}, got {{tuple(size)}}"
            )
        check_allocation(
            array_bytes((height, width, 6), np.float32),
            what=f"a {{height}} x {{width}} image and its depth-complexity map",
            fix="ask for a smaller size",
        )
        transform = camera.projection_matrix(width / height) @ camera.view_matrix()
        clip = np.c_[scene.vertices, np.ones(len(scene.vertices))] @ transform.T
        w = clip[:, 3]
        safe_w = np.where(w > 1e-12, w, 1.0)
        columns = (clip[:, 0] / safe_w + 1.0) * 0.5 * width
        rows = (1.0 - clip[:, 1] / safe_w) * 0.5 * height
        depth = clip[:, 2] / safe_w
        faces = scene.faces
        if scene.face_colors is not None:
            colors = np.asarray(scene.face_colors, np.float64)
        else:
            colors = np.asarray(scene.vertex_colors, np.float64)[faces].mean(axis=1)
        in_front = (w[faces] > 1e-12).all(axis=1)
        order = np.argsort(-depth[faces].mean(axis=1), kind="stable")  # far first
        image = np.empty((height, width, 4), np.float64)
        image[:] = scene.premultiplied_background()
        complexity = np.zeros((height, width), np.int32)
        for face in order[in_front[order]]:
            ys, xs = rows[faces[face]], columns[faces[face]]
            top, bottom = max(int(np.floor(ys.min())), 0), min(int(np.ceil(ys.max())), height)
            left, right = max(int(np.floor(xs.min())), 0), min(int(np.ceil(xs.max())), width)
            if top >= bottom or left >= right:
                continue
            py, px = np.mgrid[top:bottom, left:right] + 0.5  # pixel centres
            edges = [
                (xs[(k + 1) % 3] - xs[k]) * (py - ys[k]) - (ys[(k + 1) % 3] - ys[k]) * (px - xs[k])
                for k in range(3)
            ]
            inside = (edges[0] >= 0) & (edges[1] >= 0) & (edges[2] >= 0)
            inside |= (edges[0] <= 0) & (edges[1] <= 0) & (edges[2] <= 0)  # either winding
            r, g, b, alpha = colors[face]
            window = image[top:bottom, left:right]
            window[inside] = np.array([r * alpha, g * alpha, b * alpha, alpha]) + (
                1.0 - alpha
            ) * window[inside]
            complexity[top:bottom, left:right] += inside
        stats = RenderStats(
            geometry_passes=1,
            layers=int(complexity.max()),
            fragments=int(complexity.sum()),
            max_depth_complexity=int(complexity.max()),
            seconds=time.perf_counter() - start,
        )
        return Rendering(np.clip(image, 0.0, 1.0).astype(np.float32), complexity, stats)
"""

_KINDS = {
    "interpolator": (
        "lamina_register_interpolators",
        "{}",
        "nearest-neighbour resampling",
        _INTERPOLATOR,
    ),
    "position_estimator": (
        "lamina_register_position_estimators",
        "{}",
        "cross-correlation with a parabolic peak",
        _POSITION,
    ),
    "renderer": (
        "lamina_register_renderers",
        "{}",
        "painter's algorithm: triangles sorted by depth",
        _RENDERER,
    ),
    "learner": (
        "lamina_register_learners",
        '{"learner_type": "classifier"}',
        "nearest-centroid classifier",
        _LEARNER,
    ),
}

#: The kinds ``new-plugin`` writes a working starting point for.
TEMPLATE_KINDS: tuple[str, ...] = tuple(_KINDS)

_INIT = '''\
"""lamina plugin {name}: {summary}."""

from __future__ import annotations

from typing import Any

from lamina import hookimpl


@hookimpl
def {hook}(registry: Any) -> None:
    # A "module:attr" string: the module is imported only when the component is used.
    registry.add(
        "{name}",
        "{package}.component:{cls}",
        summary="{summary}",
        tags={tags},
    )
'''

_PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{distribution}"
version = "0.1.0"
description = "lamina plugin: {summary}"
requires-python = ">=3.11"
dependencies = ["lamina"]

[project.optional-dependencies]
test = ["pytest>=8"]

[project.entry-points.lamina]
{name} = "{package}"

[tool.setuptools.package-data]
{package} = ["py.typed"]
"""

_TEST = '''\
"""The conformance suite on {name}, run by pytest (the same checks as `lamina check {name}`)."""

from lamina.testing import parametrize_with_checks


@parametrize_with_checks([("{kind}", "{name}")])
def test_conformance(component, check):  # type: ignore[no-untyped-def]
    check(component)
'''

_README = """\
# {distribution}

A lamina plugin: the {kind} `{name}` ({summary}).

    pip install -e .            # registers the plugin through its `lamina` entry point
    lamina components {kind}    # lists `{name}`
    lamina check {name}         # runs lamina's conformance suite on it
    pytest                      # the same checks under pytest (pip install -e '.[test]')

Grow the component in `src/{package}/component.py`: constructor parameters are
keyword-only with type hints and defaults, bad input raises `lamina.InputError`
naming the argument, and `lamina check` says what a change broke.
"""


def write_plugin(name: str, *, kind: str, output: Path) -> Path:
    """Write the package ``lamina-NAME`` for a component ``name`` of ``kind`` into
    ``output``; return its folder. Nothing is written when anything fails.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = write_plugin("tiny", kind="interpolator", output=Path(tempfile.mkdtemp()))
    >>> sorted(p.name for p in (folder / "src" / "lamina_tiny").iterdir())
    ['__init__.py', 'component.py', 'py.typed']
    """
    if not _NAME.match(name):
        raise InputError(
            f"NAME: expected lower-case words joined by '-' (like 'sharp-resize'), got {name!r}"
        )
    if kind not in _KINDS:
        raise InputError(f"--kind: expected one of {', '.join(_KINDS)}, got {kind!r}")
    if not output.is_dir():
        raise InputError(f"--output: {str(output)!r} is not a folder; create it first")
    distribution = f"lamina-{name}"
    target = output / distribution
    if target.exists():
        raise InputError(f"{str(target)!r} already exists; choose another NAME or --output")
    hook, tags, summary, component = _KINDS[kind]
    fields = {
        "name": name,
        "kind": kind,
        "distribution": distribution,
        "package": f"lamina_{name.replace('-', '_')}",
        "cls": "".join(part.capitalize() for part in name.split("-")),
        "title": distribution,
        "hook": hook,
        "tags": tags,
        "summary": summary,
    }
    files = {
        "pyproject.toml": _PYPROJECT,
        "README.md": _README,
        f"src/{fields['package']}/__init__.py": _INIT,
        f"src/{fields['package']}/component.py": component,
        f"src/{fields['package']}/py.typed": "",
        f"tests/test_{fields['package']}.py": _TEST,
    }
    staging = Path(tempfile.mkdtemp(prefix=f".{distribution}.", dir=output))
    try:
        for relative, template in files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(template.format(**fields), encoding="utf-8")
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
