"""Writing a sequence of renderings: animated GIF, MP4, or a self-contained HTML viewer.

Animations carry no alpha: each frame is its premultiplied colour, which is the
image composited over black (give the scene an opaque ``--background`` for
another colour).  MP4 goes through imageio's ffmpeg plugin (the
``imageio-ffmpeg`` wheel ships an ffmpeg binary) as H.264 in yuv420p, which
needs even sides: an odd last row or column is repeated.

The HTML viewer (``lamina render --show``) is one file with every frame
embedded as a PNG, a play button and a slider: it opens in any browser, on
any machine, with no server and no display on the machine that rendered it.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lamina.errors import InputError
from lamina.io import atomic_write, unpremultiply

__all__ = ["ANIMATION_SUFFIXES", "to_rgb8", "write_animation", "write_viewer"]

#: Output types written as one animation file.
ANIMATION_SUFFIXES = (".gif", ".mp4")


def to_rgb8(image: np.ndarray) -> np.ndarray:
    """A premultiplied RGBA float image as 8-bit RGB over black."""
    return np.rint(np.clip(image[..., :3], 0.0, 1.0) * 255.0).astype(np.uint8)


def write_animation(path: Path, images: Sequence[np.ndarray], *, fps: float = 20.0) -> None:
    """Write premultiplied RGBA ``images`` as an animated GIF or an MP4, atomically."""
    import imageio.v3 as iio

    suffix = path.suffix.lower()
    if suffix not in ANIMATION_SUFFIXES:
        raise InputError(f"animation {str(path)!r} must end in {' or '.join(ANIMATION_SUFFIXES)}")
    frames = np.stack([to_rgb8(image) for image in images])
    if suffix == ".gif":
        data = iio.imwrite("<bytes>", frames, extension=".gif", duration=1000.0 / fps, loop=0)
    else:
        pad = ((0, 0), (0, frames.shape[1] % 2), (0, frames.shape[2] % 2), (0, 0))
        frames = np.pad(frames, pad, mode="edge")
        data = iio.imwrite(
            "<bytes>", frames, extension=".mp4", fps=fps, codec="libx264", macro_block_size=1
        )
    with atomic_write(path) as handle:
        handle.write(data)


def _png_base64(image: np.ndarray) -> str:
    import imageio.v3 as iio

    straight = np.rint(np.clip(unpremultiply(image), 0.0, 1.0) * 255.0).astype(np.uint8)
    buffer = io.BytesIO(iio.imwrite("<bytes>", straight, extension=".png"))
    return base64.b64encode(buffer.getvalue()).decode("ascii")


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; background: #eee; }}
.checker {{ display: inline-block; background-color: #fff; background-image:
  linear-gradient(45deg, #ccc 25%, transparent 25%, transparent 75%, #ccc 75%),
  linear-gradient(45deg, #ccc 25%, transparent 25%, transparent 75%, #ccc 75%);
  background-size: 16px 16px; background-position: 0 0, 8px 8px; }}
img {{ display: block; image-rendering: pixelated; }}
</style></head><body>
<h1>{title}</h1>
<div class="checker"><img id="frame" alt="rendering" src="data:image/png;base64,{first}"></div>
<p><button id="play">play</button>
<input id="slider" type="range" min="0" max="{last}" value="0" style="width: 24em">
<span id="label">frame 1 of {count}</span></p>
<p>{caption}</p>
<script>
const frames = {frames};
const img = document.getElementById("frame"), slider = document.getElementById("slider");
const label = document.getElementById("label"), button = document.getElementById("play");
let timer = null;
function show(k) {{
  img.src = "data:image/png;base64," + frames[k]; slider.value = k;
  label.textContent = "frame " + (k + 1) + " of " + frames.length;
}}
slider.oninput = () => show(Number(slider.value));
button.onclick = () => {{
  if (timer) {{ clearInterval(timer); timer = null; button.textContent = "play"; return; }}
  button.textContent = "pause";
  timer = setInterval(() => show((Number(slider.value) + 1) % frames.length), {interval});
}};
</script></body></html>
"""


def write_viewer(
    path: Path, images: Sequence[np.ndarray], *, title: str, caption: str, fps: float = 20.0
) -> None:
    """Write a self-contained HTML page showing ``images`` (premultiplied RGBA, straight
    alpha over a checkerboard) with a slider and a play button, atomically."""
    if not images:
        raise InputError("the viewer needs at least one frame")
    encoded = [_png_base64(image) for image in images]
    page = _PAGE.format(
        title=html.escape(title),
        caption=html.escape(caption),
        first=encoded[0],
        last=len(encoded) - 1,
        count=len(encoded),
        frames="[" + ",".join(f'"{frame}"' for frame in encoded) + "]",
        interval=max(1, round(1000.0 / fps)),
    )
    with atomic_write(path, "w") as handle:
        handle.write(page)
