"""``report.html``: one self-contained page (images inlined) with what a run produced."""

from __future__ import annotations

import base64
import dataclasses
import html
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lamina.host import get_host
from lamina.io import atomic_write
from lamina.kinds import result_type

if TYPE_CHECKING:
    from lamina.pipeline.runner import RunResult, StepResult

__all__ = ["write_report"]

_MAX_IMAGES = 12
_PATCHES = 64
_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{margin-bottom:0}.sub{color:#666;margin-top:.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}
figure{display:inline-block;margin:.3em;text-align:center;font-size:.8em;color:#555}
figure img{image-rendering:pixelated;border:1px solid #ccc;
 background:repeating-conic-gradient(#ddd 0 25%,#fff 0 50%) 50%/16px 16px}
section{border-top:2px solid #eee;margin-top:1.5em}.skip{color:#a60}
"""


def _png(array: np.ndarray) -> str:
    from PIL import Image  # directly: the bytes imageio writes through it, in less time

    data = np.rint(np.clip(array, 0, 1) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(data).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _picture(value: Any) -> np.ndarray | None:
    from lamina.pipeline.runner import is_image

    kind_result = result_type(value, get_host().kinds())
    if kind_result is not None:
        return kind_result.picture(value)
    return value if is_image(value) else None


def _display_width(array: np.ndarray) -> int:
    """On-page width: small pictures at 3x, pixelated, so a 96 px frame can be
    judged by eye; capped at 384 px, never below the picture's own width. The
    rule grows with the picture's width, so a smaller image never looks larger."""
    width = int(array.shape[1])
    return max(width, min(3 * width, 384))


def _figure(array: np.ndarray, caption: str) -> str:
    width = _display_width(array)
    return (
        f'<figure><img width="{width}" src="data:image/png;base64,{_png(array)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.5g}"
    if isinstance(value, (list, tuple)) and len(value) <= 4:
        return ", ".join(_cell(v) for v in value)
    return html.escape(str(value))


def _table(rows: list[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(row.get(c, ''))}</td>" for c in columns) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _plot(spec: dict[str, Any]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3.2), dpi=100)
    for name, ys in spec.get("series", {}).items():
        errors = spec.get("errors", {}).get(name)
        axes.errorbar(spec["x"], ys, yerr=errors, marker="o", linestyle="-", capsize=3, label=name)
    axes.axhline(0, color="#999", linewidth=0.8)
    axes.set(
        title=spec.get("title", ""), xlabel=spec.get("xlabel", ""), ylabel=spec.get("ylabel", "")
    )
    axes.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return f'<figure><img src="data:image/png;base64,{encoded}"></figure>'


def _scalars(value: Any) -> dict[str, Any] | None:
    kind_result = result_type(value, get_host().kinds())
    row = kind_result.scalars(value) if kind_result is not None else None
    if row is not None:
        return row
    if dataclasses.is_dataclass(value):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        flat = {
            k: v for k, v in value.items() if isinstance(v, (int, float, str, bool)) or v is None
        }
        return flat or None
    return None


def _caption(step: StepResult, index: int) -> str:
    """A task by its sweep values (``dy=0.25, dx=-0.45``), else by its index."""
    point = step.points[index] if index < len(step.points) else {}
    values = ", ".join(f"{k}={_cell(v)}" for k, v in point.items())
    return values or (f"{step.name}[{index}]" if len(step.values) > 1 else step.name)


def _pictures(step: StepResult) -> list[tuple[np.ndarray, str]]:
    """Every picture a step made: its results, and images held in result tables
    (a generative model's originals, reconstructions and samples)."""
    found = []
    for index, value in enumerate(step.values):
        picture = _picture(value)
        if picture is not None:
            found.append((picture, _caption(step, index)))
        elif isinstance(value, dict) and "X" in value:
            patches = _patches(np.asarray(value["X"]))
            if patches is not None and "y" not in value:
                found.append((patches, f"the first {_PATCHES} of {len(value['X']):,} patches"))
        elif isinstance(value, dict):
            for key, item in value.items():
                picture = _picture(item)
                if picture is not None:
                    label = _caption(step, index) if len(step.values) > 1 else ""
                    found.append((picture, f"{key} {label}".strip()))
    return found


def _patches(X: np.ndarray) -> np.ndarray | None:
    """Rows of square patches (8x8 = 64 values) as one picture, or None."""
    from lamina.io import tile_images

    side = int(np.sqrt(X.shape[1])) if X.ndim == 2 else 0
    if side < 2 or side * side != X.shape[1] or X.dtype.kind != "f":
        return None
    return tile_images(X[:_PATCHES].reshape(-1, side, side), 8, background=1.0)


def _describe(value: Any) -> str:
    """One line saying what a value holds, for values with no picture or number."""
    if isinstance(value, np.ndarray):
        return f"array {'x'.join(map(str, value.shape))} of {value.dtype}"
    if hasattr(value, "faces") and hasattr(value, "vertices"):
        return f"scene: {len(value.faces):,} triangles, {len(value.vertices):,} vertices"
    if dataclasses.is_dataclass(value):
        fields = _scalars(value) or {}
        inner = ", ".join(f"{k}={_cell(v)}" for k, v in fields.items())
        return f"{type(value).__name__}({inner})"
    if isinstance(value, (list, tuple)) and len(value) <= 4:
        return _cell(value)
    if isinstance(value, (list, tuple)):
        return f"{len(value)} items"
    return _cell(value)


def _dataset(value: dict[str, Any]) -> str:
    """A learning table {"X", "y"?}: its size, class counts and first rows."""
    X = np.asarray(value["X"])
    parts = [f"<p>{X.shape[0]:,} rows of {X.shape[1] if X.ndim > 1 else 1} features</p>"]
    names = list(value.get("feature_names") or [f"x{i}" for i in range(X.shape[1])])
    head: list[dict[str, Any]] = [
        {
            **({"y": _cell(value["y"][i])} if "y" in value else {}),
            **dict(zip(names, row, strict=False)),
        }
        for i, row in enumerate(X[:5].tolist())
    ]
    if "y" in value:
        classes, counts = np.unique(np.asarray(value["y"]), return_counts=True)
        parts.append(
            _table(
                [
                    {"class": _cell(c.item()), "rows": int(n)}
                    for c, n in zip(classes, counts, strict=True)
                ]
            )
        )
    if X.ndim == 2 and X.shape[1] <= 16:
        parts.append("<h3>first rows</h3>" + _table(head))
    return "".join(parts)


def _step_section(step: StepResult) -> str:
    parts = [f"<section><h2>{html.escape(step.title)}</h2>"]
    if step.skipped:
        parts.append(f'<p class="skip">skipped: {html.escape(step.skipped)}</p></section>')
        return "".join(parts)
    shown = len(parts)
    pictures = _pictures(step)
    for picture, caption in pictures[:_MAX_IMAGES]:
        parts.append(_figure(picture, caption))
    if len(pictures) > _MAX_IMAGES:
        parts.append(
            f"<p>… and {len(pictures) - _MAX_IMAGES} more in {html.escape(step.name)}/</p>"
        )
    rows = [(i, r) for i, r in ((i, _scalars(v)) for i, v in enumerate(step.values)) if r]
    if rows:
        multiple = len(step.values) > 1
        parts.append(
            _table([{**(step.points[i] or {"task": i}), **r} if multiple else r for i, r in rows])
        )
    for value in step.values:
        if isinstance(value, dict):
            if "X" in value and isinstance(value["X"], np.ndarray) and len(step.values) == 1:
                parts.append(_dataset(value))
            for key, item in value.items():
                if key == "plot" and isinstance(item, dict):
                    parts.append(_plot(item))
                elif isinstance(item, list) and item and all(isinstance(r, dict) for r in item):
                    parts.append(f"<h3>{html.escape(key)}</h3>" + _table(item))
    if len(parts) == shown:
        # Nothing to picture or tabulate: say what the step holds.
        held = [
            {
                "task": _caption(step, i),
                **(
                    {k: _describe(v) for k, v in value.items()}
                    if isinstance(value, dict)
                    else {"holds": _describe(value)}
                ),
            }
            for i, value in enumerate(step.values[:_MAX_IMAGES])
            if value is not None
        ]
        if held:
            parts.append(_table(held))
    parts.append("</section>")
    return "".join(parts)


def write_report(result: RunResult, path: Path) -> None:
    """Write the run's report page atomically."""
    pipeline = result.pipeline
    overview = [
        {
            "step": name,
            "does": (f"{step.uses[0]}:{step.uses[1]}" if step.uses else "")
            + (f" {step.op}" if step.op else ""),
            "tasks": len(result.steps[name].values),
            "reused": result.steps[name].cached,
            "work s": round(result.steps[name].seconds, 3),
            "status": "skipped" if step.unavailable else "done",
        }
        for name, step in pipeline.steps.items()
    ]
    page = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(pipeline.title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(pipeline.title)}</h1>",
        f"<p class='sub'>{html.escape(pipeline.description)}</p>",
        f"<p>{result.tasks} tasks ({result.cached} reused from an earlier run) on the "
        f"{html.escape(result.executor)} executor in {result.seconds:.1f} s. "
        "Work seconds count reused results at the time they took when computed.</p>",
        _table(overview),
        *(_step_section(step) for step in result.steps.values()),
        "</body></html>",
    ]
    with atomic_write(path, "w") as handle:
        handle.write("\n".join(page))
