"""Reading and writing images, arrays and JSON at lamina's edge, always atomically.

Inside lamina images are float32 in [0, 1]; integer files are scaled by their
bit depth on the way in and back on the way out.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from lamina.errors import InputError

__all__ = [
    "IMAGE_SUFFIXES",
    "atomic_write",
    "dumps_json",
    "read_image",
    "unpremultiply",
    "write_image",
    "write_json",
]

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".npy")


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Write to a temporary file beside ``path`` and rename it into place on success,
    so readers never see a half-written file and a failure leaves nothing behind."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".part", dir=target.parent
        )
        # mkstemp makes the file private (0600); give it the mode open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
    except OSError as error:
        raise InputError(f"cannot write {str(target)!r}: {error.strerror or error}") from None
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except OSError as error:
        # Disk full, permissions, a folder in the way: the old file (if any) is intact.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise InputError(f"cannot write {str(target)!r}: {error.strerror or error}") from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "as_dict"):
        return value.as_dict()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps_json(data: Any) -> str:
    """One JSON document, numpy values converted; non-finite floats become ``null``."""
    return json.dumps(_finite(data), default=_json_default, indent=2, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def unpremultiply(rgba: np.ndarray) -> np.ndarray:
    """Premultiplied RGBA -> straight alpha (what PNG viewers expect); clear pixels stay 0."""
    alpha = rgba[..., 3:4]
    rgb = np.divide(rgba[..., :3], alpha, out=np.zeros_like(rgba[..., :3]), where=alpha > 0)
    return np.concatenate([np.clip(rgb, 0.0, 1.0), alpha], axis=-1)


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as JSON to ``path`` atomically."""
    text = dumps_json(data) + "\n"
    with atomic_write(path, "w") as handle:
        handle.write(text)


def read_image(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Read a PNG/TIFF (8 or 16 bit, or float) or ``.npy`` image.

    Returns
    -------
    image : ndarray of float32
        (H, W) grey or (H, W, C) colour, integer files scaled to [0, 1].
    bit_depth : int
        8 or 16 for integer files, 32 for float data.
    """
    source = Path(path)
    suffix = source.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise InputError(
            f"image {str(source)!r}: unsupported file type {suffix or '(none)'!r}; "
            f"expected one of {', '.join(IMAGE_SUFFIXES)}"
        )
    if not source.is_file():
        raise InputError(f"image {str(source)!r} does not exist or is not a file")
    try:
        if suffix == ".npy":
            data = np.load(source, allow_pickle=False)
        elif suffix == ".png" and _png_bit_depth(source) == 16:
            data = _read_png16(source)
        else:
            import imageio.v3 as iio

            plugin = "pillow" if suffix == ".png" else "tifffile"
            data = iio.imread(source, plugin=plugin)
    except Exception as error:
        raise InputError(f"image {str(source)!r} cannot be read: {error}") from None
    if data.ndim not in (2, 3) or (data.ndim == 3 and data.shape[2] not in (1, 2, 3, 4)):
        raise InputError(
            f"image {str(source)!r} has shape {data.shape}; expected (H, W) or (H, W, C) with C <= 4"
        )
    if data.dtype == np.uint8:
        return data.astype(np.float32) / 255.0, 8
    if data.dtype == np.uint16:
        return data.astype(np.float32) / 65535.0, 16
    if data.dtype == bool:
        return data.astype(np.float32), 8
    if np.issubdtype(data.dtype, np.floating):
        image = data.astype(np.float32)
        if not np.all(np.isfinite(image)):
            raise InputError(f"image {str(source)!r} contains NaN or infinite values")
        return image, 32
    raise InputError(f"image {str(source)!r} has unsupported pixel type {data.dtype}")


def write_image(path: str | os.PathLike[str], image: np.ndarray, *, bit_depth: int = 8) -> None:
    """Write a float image in [0, 1] atomically: ``.png`` as 8 or 16 bit, ``.tif``
    as 8/16 bit or float32 (``bit_depth=32``), ``.npy`` as float32."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise InputError(
            f"output {str(target)!r}: unsupported file type {suffix or '(none)'!r}; "
            f"expected one of {', '.join(IMAGE_SUFFIXES)}"
        )
    array = np.asarray(image)
    if suffix == ".npy":
        buffer = io.BytesIO()
        np.save(buffer, array.astype(np.float32, copy=False), allow_pickle=False)
        with atomic_write(target) as handle:
            handle.write(buffer.getvalue())
        return
    if bit_depth not in (8, 16, 32) or (suffix == ".png" and bit_depth == 32):
        raise InputError(
            f"output {str(target)!r}: bit depth {bit_depth} is not supported for {suffix}"
        )
    if bit_depth == 32:
        data = array.astype(np.float32, copy=False)
    else:
        top = 255 if bit_depth == 8 else 65535
        scaled = np.clip(np.nan_to_num(array, nan=0.0), 0.0, 1.0) * top
        data = np.rint(scaled).astype(np.uint8 if bit_depth == 8 else np.uint16)
    with atomic_write(target) as handle:
        if suffix == ".png" and bit_depth == 16:
            _write_png16(handle, data)
        else:
            import imageio.v3 as iio

            handle.write(iio.imwrite("<bytes>", data, extension=suffix))


# Pillow, behind imageio, neither writes 16-bit colour PNG nor reads it without
# dropping to 8 bits, so 16-bit PNG goes through pypng.
def _png_bit_depth(path: Path) -> int:
    with open(path, "rb") as handle:
        header = handle.read(25)
    return header[24] if len(header) == 25 and header[12:16] == b"IHDR" else 8


def _read_png16(path: Path) -> np.ndarray:
    import png

    width, height, rows, info = png.Reader(filename=str(path)).asDirect()
    planes = info["planes"]
    data = np.vstack([np.asarray(row, np.uint16) for row in rows])
    return data.reshape(height, width, planes) if planes > 1 else data.reshape(height, width)


def _write_png16(handle: IO[bytes], data: np.ndarray) -> None:
    import png

    height, width = data.shape[:2]
    planes = 1 if data.ndim == 2 else data.shape[2]
    writer = png.Writer(
        width, height, bitdepth=16, greyscale=planes in (1, 2), alpha=planes in (2, 4)
    )
    writer.write(handle, data.reshape(height, width * planes))
