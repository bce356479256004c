"""``report.html``: one self-contained page (images inlined) with what a run produced."""

from __future__ import annotations

import base64
import dataclasses
import html
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lamina.io import atomic_write, unpremultiply
from lamina.types import Rendering, ShiftEstimate

if TYPE_CHECKING:
    from lamina.pipeline.runner import RunResult, StepResult

__all__ = ["write_report"]

_MAX_IMAGES = 12
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
    import imageio.v3 as iio

    data = np.rint(np.clip(array, 0, 1) * 255).astype(np.uint8)
    return base64.b64encode(iio.imwrite("<bytes>", data, extension=".png")).decode()


def _picture(value: Any) -> np.ndarray | None:
    from lamina.pipeline.runner import is_image

    if isinstance(value, Rendering):
        return unpremultiply(value.image)
    return value if is_image(value) else None


def _figure(array: np.ndarray, caption: str) -> str:
    scale = max(1, 160 // max(array.shape[:2]))
    width = array.shape[1] * scale
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
    if isinstance(value, ShiftEstimate):
        return {
            "dy": value.dy,
            "dx": value.dx,
            "sigma_dy": value.uncertainty[0],
            "sigma_dx": value.uncertainty[1],
        }
    if isinstance(value, Rendering):
        stats = value.stats.as_dict()
        return {k: v for k, v in stats.items() if isinstance(v, (int, float, bool))}
    if dataclasses.is_dataclass(value):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        flat = {
            k: v for k, v in value.items() if isinstance(v, (int, float, str, bool)) or v is None
        }
        return flat or None
    return None


def _step_section(step: StepResult) -> str:
    parts = [f"<section><h2>{html.escape(step.title)}</h2>"]
    if step.skipped:
        parts.append(f'<p class="skip">skipped: {html.escape(step.skipped)}</p></section>')
        return "".join(parts)
    pictures = [
        (i, p) for i, p in ((i, _picture(v)) for i, v in enumerate(step.values)) if p is not None
    ]
    for index, picture in pictures[:_MAX_IMAGES]:
        parts.append(_figure(picture, f"{step.name}[{index}]"))
    if len(pictures) > _MAX_IMAGES:
        parts.append(
            f"<p>… and {len(pictures) - _MAX_IMAGES} more in {html.escape(step.name)}/</p>"
        )
    rows = [s for s in (_scalars(v) for v in step.values) if s]
    if rows:
        parts.append(
            _table([{"task": i, **r} for i, r in enumerate(rows)] if len(rows) > 1 else rows)
        )
    for value in step.values:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "plot" and isinstance(item, dict):
                    parts.append(_plot(item))
                elif isinstance(item, list) and item and all(isinstance(r, dict) for r in item):
                    parts.append(f"<h3>{html.escape(key)}</h3>" + _table(item))
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
            "seconds": round(result.steps[name].seconds, 3),
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
        f"{html.escape(result.executor)} executor in {result.seconds:.1f} s.</p>",
        _table(overview),
        *(_step_section(step) for step in result.steps.values()),
        "</body></html>",
    ]
    with atomic_write(path, "w") as handle:
        handle.write("\n".join(page))
