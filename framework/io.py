"""Reading and writing images, arrays and JSON at lamina's edge, always atomically.

Inside lamina images are float32 in [0, 1]; integer files are scaled by their
bit depth on the way in and back on the way out.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import io
import itertools
import json
import logging
import math
import os
import re
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from lamina.errors import InputError, LaminaError
from lamina.journal import begin_write, end_write, record_write
from lamina.memory import array_bytes, check_allocation

__all__ = [
    "IMAGE_SUFFIXES",
    "TiffDamage",
    "atomic_write",
    "check_tiff_pages",
    "dumps_json",
    "failed_run",
    "os_error",
    "quiet_logger",
    "read_image",
    "read_npy_header",
    "remove_stale_parts",
    "tiff_damage",
    "tile_images",
    "unpremultiply",
    "write_bytes",
    "write_image",
    "write_json",
]

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".npy")


# A temporary file is named after its target and its writer's process id, so a
# later write into the same folder can tell one left by a killed process (its
# writer is gone) from one still being written, and remove it.
_PART = re.compile(r"^\..+\.(?P<pid>\d+)\.[A-Za-z0-9_]+\.part$")
_swept: set[str] = set()


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_parts(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files that killed writers left in ``folder``.

    Only lamina's own ``.NAME.PID.XXXX.part`` files whose process is gone are
    touched; returns what was removed.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _PART.match(entry.name)
        if match is None or _alive(int(match.group("pid"))):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)

#: Temporary files' serial numbers: with the process id, a name no other writer
#: uses (O_EXCL catches one that a killed process with the same id left).
_serial = itertools.count()


def _create_beside(folder: str, name: str) -> tuple[int, str]:
    """A new temporary file for ``name`` in ``folder``, named as :func:`remove_stale_parts`
    expects, with the mode ``open()`` gives a new file: the kernel applies the
    umask (mkstemp's private 0600 would need it, and only setting the
    process-wide umask reads it, racing other threads' new files)."""
    while True:
        temporary = os.path.join(folder, f".{name}.{os.getpid()}.{next(_serial)}.part")
        try:
            return os.open(temporary, _NEW_FILE, 0o666), temporary
        except FileExistsError:
            continue


def _open_beside(target: str) -> tuple[int, str]:
    """A new temporary file beside ``target`` (its folder created if missing and, at the
    first write there, swept of killed writers' temporary files)."""
    folder = os.path.dirname(target) or "."
    try:
        # Once per folder (as spelled): creating it and sweeping it cost a
        # system call per part of its path, too much for every small file.
        if folder not in _swept:
            os.makedirs(folder, exist_ok=True)
            _swept.add(folder)
            remove_stale_parts(folder)
        try:
            return _create_beside(folder, os.path.basename(target))
        except FileNotFoundError:  # the folder was removed since
            os.makedirs(folder, exist_ok=True)
            return _create_beside(folder, os.path.basename(target))
    except OSError as error:
        raise _write_error(target, error) from None


#: Errors of a write that say the machine failed, not the path the user named: the
#: run failed (exit 1); a missing folder, permissions or a read-only disk are bad
#: input. Each with what it means and the fix.
_FAILED_RUN_ERRNOS = {
    errno.ENOSPC: ("the disk is full", "free some space"),
    errno.EDQUOT: ("the disk quota is used up", "free some space"),
    errno.EIO: ("the disk failed to read or write", "check the disk"),
    errno.EFBIG: ("a file grew past the file system's limit", "write to another disk"),
}


def failed_run(error: OSError) -> tuple[str, str] | None:
    """What ``error`` says when the machine failed (disk full, quota, I/O error, file
    too large), a failed run (exit 1), and its fix; None when it is about the path the
    user gave (bad input, exit 2). Every place that turns an :class:`OSError` into
    an exit status asks this.

    >>> import errno
    >>> failed_run(OSError(errno.ENOSPC, "No space left on device"))
    ('the disk is full', 'free some space')
    >>> failed_run(OSError(errno.EACCES, "Permission denied")) is None
    True
    """
    return _FAILED_RUN_ERRNOS.get(error.errno) if error.errno is not None else None


def os_error(what: str, error: OSError) -> LaminaError:
    """``what`` (``"cannot create output folder 'out'"``) and the system's reason as one
    error: :class:`LaminaError` (a failed run) when :func:`failed_run` says so, with
    its fix, :class:`InputError` (bad input) otherwise."""
    message = f"{what}: {error.strerror or error}"
    failure = failed_run(error)
    if failure is not None:
        return LaminaError(f"{message} ({failure[0]}); {failure[1]} and run again")
    return InputError(message)


def _write_error(target: str, error: OSError) -> LaminaError:
    """One line for a write that failed: :class:`LaminaError` (a failed run) when the
    disk is full or failing, :class:`InputError` (bad input) otherwise."""
    message = f"cannot write {target!r}: {error.strerror or error}"
    if failed_run(error) is not None:
        return LaminaError(f"{message}; the file was not written (any older one is intact)")
    return InputError(message)


@contextlib.contextmanager
def _replacing(path: str | os.PathLike[str], *, durable: bool) -> Iterator[int]:
    """The descriptor of a temporary file beside ``path``, renamed onto it when the
    block ends without error and removed otherwise; closed either way."""
    target = os.fspath(path)
    fd, temporary = _open_beside(target)
    begin_write(temporary)
    try:
        try:
            yield fd
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, target)
    except OSError as error:
        # Disk full, permissions, a folder in the way: the old file (if any) is intact.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise _write_error(target, error) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    finally:
        end_write(temporary)
    record_write(target)


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike[str], mode: str = "wb", *, durable: bool = True
) -> Iterator[IO[Any]]:
    """Write to a temporary file beside ``path`` and rename it into place on success.

    Readers never see a half-written file and a failure or Ctrl-C leaves
    nothing behind; the temporary files of a process killed outright are
    removed by the next write into the same folder (:func:`remove_stale_parts`).
    The rename is what makes the write atomic; ``durable`` (the default) also
    waits for the bytes to reach the disk. A caller writing many files passes
    ``durable=False`` and makes them durable together (one ``os.sync``) before
    it records them anywhere. :func:`write_bytes` writes bytes already at hand
    the same way, without a file object.
    A missing parent folder is created (callers that take paths from users
    check them first: :func:`lamina.clitools.check_output_file`).
    """
    with _replacing(path, durable=durable) as fd, os.fdopen(fd, mode, closefd=False) as handle:
        yield handle


def write_bytes(
    path: str | os.PathLike[str], *parts: bytes | memoryview, durable: bool = True
) -> None:
    """Write ``parts``, one after another, to ``path`` atomically (``durable``: as
    :func:`atomic_write`), with a system call per part and no file object."""
    with _replacing(path, durable=durable) as fd:
        for part in parts:
            view = memoryview(part).cast("B")
            while view:  # a large write may be partial
                view = view[os.write(fd, view) :]


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


def tile_images(
    images: np.ndarray,
    columns: int,
    *,
    zoom: int = 1,
    gap: int = 1,
    background: float = 0.5,
) -> np.ndarray:
    """Tile (N, H, W) or (N, H, W, C) images row by row into one picture, ``columns``
    across and ``gap`` pixels of ``background`` apart, each pixel enlarged ``zoom``
    times (nearest neighbour) and clipped to [0, 1]; one channel gives a 2-D picture.

    >>> tile_images(np.zeros((3, 2, 2)), 2, background=1.0).shape
    (7, 7)
    """
    stack = np.asarray(images)
    if stack.ndim == 3:
        stack = stack[..., None]
    n, height, width, channels = stack.shape
    rows = -(-n // columns)
    tile_h, tile_w = height * zoom, width * zoom
    canvas = np.full(
        (rows * tile_h + (rows + 1) * gap, columns * tile_w + (columns + 1) * gap, channels),
        background,
        dtype=np.float32,
    )
    enlarged = np.repeat(np.repeat(np.clip(stack, 0.0, 1.0), zoom, axis=1), zoom, axis=2)
    for index, image in enumerate(enlarged):
        r, c = divmod(index, columns)
        top, left = gap + r * (tile_h + gap), gap + c * (tile_w + gap)
        canvas[top : top + tile_h, left : left + tile_w] = image
    return canvas[..., 0] if channels == 1 else canvas


def write_json(path: str | os.PathLike[str], data: Any, *, durable: bool = True) -> None:
    """Write ``data`` as JSON to ``path`` atomically (``durable``: :func:`atomic_write`)."""
    text = dumps_json(data) + "\n"
    with atomic_write(path, "w", durable=durable) as handle:
        handle.write(text)


def read_image(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Read a PNG/TIFF (8 or 16 bit, or float) or ``.npy`` image.

    The header is checked first: a damaged or truncated file, or one whose
    declared size would not fit in memory (:mod:`lamina.memory`), is one
    :class:`~lamina.InputError` naming the file before any pixel is decoded.

    Returns
    -------
    image : ndarray of float32
        (H, W) grey or (H, W, C) colour, integer files scaled to [0, 1].
    bit_depth : int
        8 or 16 for integer files, 32 for float data.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "ramp.png"
    >>> write_image(path, np.linspace(0, 1, 6, dtype=np.float32).reshape(2, 3))
    >>> image, bit_depth = read_image(path)
    >>> image.shape, bit_depth
    ((2, 3), 8)
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
        data = _decode(source, suffix)
    except InputError:
        raise
    except Exception as error:
        raise InputError(f"image {str(source)!r} cannot be read: {error}") from None
    _check_shape(source, data.shape)
    if data.size == 0:
        raise InputError(f"image {str(source)!r} is empty: shape {data.shape}")
    # By kind and size, not dtype equality: a big-endian file's '>u2' is uint16 too.
    kind, size = data.dtype.kind, data.dtype.itemsize
    if kind == "u" and size in (1, 2):
        return data.astype(np.float32) / (255.0 if size == 1 else 65535.0), 8 * size
    if kind == "b":
        return data.astype(np.float32), 8
    if kind == "f":
        image = data.astype(np.float32)
        if not np.all(np.isfinite(image)):
            raise InputError(f"image {str(source)!r} contains NaN or infinite values")
        return image, 32
    raise InputError(
        f"image {str(source)!r} has pixel type {data.dtype}; lamina reads 8- and 16-bit "
        "unsigned integers, booleans and floats: convert it (e.g. to uint16, or to float32 "
        "scaled to [0, 1])"
    )


def _check_shape(source: Path, shape: tuple[int, ...]) -> None:
    if len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] not in (1, 2, 3, 4)):
        raise InputError(
            f"image {str(source)!r} has shape {tuple(shape)}; expected (H, W) or (H, W, C) "
            "with C <= 4"
        )


def _decode(source: Path, suffix: str) -> np.ndarray:
    """The file's pixels as stored, after its header passed :func:`_check_declared`."""
    if suffix == ".npy":
        with open(source, "rb") as handle:
            shape, dtype = _npy_header(source, handle)
            _check_declared(source, shape, dtype)
            handle.seek(0)
            return np.load(handle, allow_pickle=False)
    if suffix == ".png":
        width, height, depth, planes = _png_header(source)
        _check_declared(source, (height, width, planes), np.uint16 if depth == 16 else np.uint8)
        return _read_png16(source) if depth == 16 else _read_png8(source)
    import tifffile

    # tifffile logs what it finds wrong and carries on (an edited height reads as
    # rows of zeros): its records about the structure are damage, checked before
    # and after decoding; what it cannot read it raises.
    name = f"image {str(source)!r}"
    with tiff_damage(name) as damage, tifffile.TiffFile(source) as tif:
        if not tif.series:
            damage.check()
            raise InputError(f"{name} holds no image data")
        series = tif.series[0]
        _check_shape(source, series.shape)  # a stack of pages is refused before it is read
        _check_declared(source, series.shape, series.dtype)
        damage.check()
        check_tiff_pages(list(series.pages), name=name)
        data = series.asarray()
        damage.check()
        return data


def check_tiff_pages(pages: list[Any], *, name: str) -> None:
    """Refuse, before anything is decoded, TIFF pages that tifffile would allocate
    for and then fail on: pixel data that the tags place past the end of the file (a
    cut file), uncompressed strips holding fewer bytes than the page's declared size
    (an edited width or height), a compression tifffile cannot decode here.

    ``name`` names the file in the :class:`InputError` (``"image 'a.tif'"``).
    """
    from tifffile import COMPRESSION, TIFF

    for index, page in enumerate(pages):
        where = f"page {index} of {name}"
        size = page.parent.filehandle.size
        offsets, counts = page.dataoffsets, page.databytecounts
        end = max((o + n for o, n in zip(offsets, counts, strict=False)), default=0)
        if end > size:
            raise InputError(
                f"{where} is damaged (truncated): its pixels end at byte {end:,} of a "
                f"{size:,}-byte file; copy or export it again"
            )
        declared = _stored_bytes(page)
        if page.compression == COMPRESSION.NONE and sum(counts) < declared:
            raise InputError(
                f"{where} is damaged (edited): its header declares {declared:,} bytes of "
                f"pixels ({' x '.join(map(str, page.shape))} {page.dtype}, "
                f"{page.bitspersample} bits a sample), its strips hold {sum(counts):,}; "
                "copy or export it again"
            )
        try:
            TIFF.DECOMPRESSORS[page.compression]
        except KeyError:
            if not isinstance(page.compression, COMPRESSION):
                raise InputError(
                    f"{where} is damaged: it declares an unknown compression "
                    f"({int(page.compression)}); copy or export it again"
                ) from None
            raise InputError(
                f"{where} is {page.compression.name}-compressed, which tifffile decodes "
                "only with the imagecodecs package: pip install imagecodecs, or save it "
                "uncompressed"
            ) from None


def _stored_bytes(page: Any) -> int:
    """The bytes an uncompressed TIFF page's pixels take in the file: each row of
    samples is packed to whole bytes, so a 1-bit (bilevel) or 12-bit page holds
    fewer bytes than its decoded array (``page.nbytes``). Tiles pad their rows at
    least as much as the image's."""
    planes = page.samplesperpixel if page.planarconfig == 2 else 1
    row_samples = page.imagewidth * page.samplesperpixel // planes
    row_bytes = -(-row_samples * page.bitspersample // 8)
    return int(page.imagedepth * planes * page.imagelength * row_bytes)


#: tifffile's warnings about a file's structure (the others concern metadata: an
#: odd GeoTIFF key, a non-ASCII description), which it works around by returning
#: fewer, misread or zero-filled pages.
_TIFF_STRUCTURE = re.compile(
    r"TiffPages|incorrect (Strip|Tile)|corrupted (IFD|tag list)|missing data"
)


class TiffDamage(logging.Handler):
    """tifffile's log records while it reads one file: its errors (a broken chain of
    pages, a corrupted tag list, strip counts that disagree with an edited height)
    and its warnings about the structure are damage.

    ``name`` names the file in the :class:`InputError` (``"image 'a.tif'"``).
    """

    def __init__(self, name: str) -> None:
        super().__init__(logging.WARNING)
        self.name = name
        self.records: list[logging.LogRecord] = []
        # a pipeline's worker threads read files side by side: each its own records
        self.thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.records.append(record)

    def check(self) -> None:
        """Raise :class:`InputError` for the first record that is damage."""
        for record in self.records:
            message = record.getMessage()
            if record.levelno >= logging.ERROR or _TIFF_STRUCTURE.search(message):
                # "<tifffile.TiffPages @8> invalid page offset 24832": the object is noise
                reason = re.sub(r"^<[^>]*>\s*", "", message)
                raise InputError(
                    f"{self.name} is damaged (truncated or edited): {reason}; "
                    "copy or export it again"
                )


#: Loggers lamina holds changed while it reads files, possibly on several threads at
#: once: (logger name, attribute) -> (how many hold it, the value to give back).
_held_loggers: dict[tuple[str, str], tuple[int, Any]] = {}
_held_lock = threading.Lock()


@contextlib.contextmanager
def _holding(logger: logging.Logger, attribute: str, value: Any) -> Iterator[None]:
    """``logger.<attribute>`` set to ``value`` while any thread is inside; the first in
    keeps the old value and the last out gives it back (in whatever order they leave)."""
    key = (logger.name, attribute)
    with _held_lock:
        count, old = _held_loggers.get(key, (0, getattr(logger, attribute)))
        if not count:
            _set(logger, attribute, value)
        _held_loggers[key] = (count + 1, old)
    try:
        yield
    finally:
        with _held_lock:
            count, old = _held_loggers.pop(key)
            if count > 1:
                _held_loggers[key] = (count - 1, old)
            else:
                _set(logger, attribute, old)


def _set(logger: logging.Logger, attribute: str, value: Any) -> None:
    if attribute == "level":
        logger.setLevel(value)  # which also clears the loggers' cached levels
    else:
        setattr(logger, attribute, value)


@contextlib.contextmanager
def tiff_damage(name: str) -> Iterator[TiffDamage]:
    """Collect tifffile's log records (off stderr) while the file ``name`` names is
    read, for :meth:`TiffDamage.check`; the ones that are not damage go to the
    ``lamina`` log (shown with ``lamina -v``).

    >>> import logging
    >>> with tiff_damage("image 'a.tif'") as damage:
    ...     logging.getLogger("tifffile").error("<tifffile.TiffPage 0 @8> incorrect StripOffsets")
    >>> damage.check()
    Traceback (most recent call last):
    lamina.errors.InputError: image 'a.tif' is damaged (truncated or edited): incorrect StripOffsets; copy or export it again
    """
    logger = logging.getLogger("tifffile")
    handler = TiffDamage(name)
    logger.addHandler(handler)
    try:
        with _holding(logger, "propagate", False):
            yield handler
    finally:
        logger.removeHandler(handler)
        for record in handler.records:
            logging.getLogger("lamina").info("%s: %s", name, record.getMessage())


@contextlib.contextmanager
def quiet_logger(logger_name: str) -> Iterator[None]:
    """Keep a third-party library's log records (tracebacks of parse failures,
    warnings about damaged files) off stderr while lamina reads a file: the
    ``InputError`` raised for a damaged file says it once."""
    with _holding(logging.getLogger(logger_name), "level", logging.CRITICAL):
        yield


def read_npy_header(handle: IO[bytes], *, what: str) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    """Shape, Fortran order and dtype from the ``.npy`` header at ``handle``'s position
    (which is left at the data), refusing unknown versions and Python objects, so a
    caller can check the declared size before anything is allocated.

    ``what`` names the file (or archive member) in the :class:`InputError`.
    """
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
    else:
        raise InputError(f"{what}: unsupported .npy format version {version}")
    if dtype.hasobject:
        raise InputError(f"{what} holds Python objects; only numbers are read (no pickle)")
    return shape, fortran, dtype


def _npy_header(source: Path, handle: IO[bytes]) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """Shape and dtype from a ``.npy`` header, refusing files shorter than it declares."""
    shape, _, dtype = read_npy_header(handle, what=f"image {str(source)!r}")
    declared = math.prod(shape) * dtype.itemsize
    present = os.fstat(handle.fileno()).st_size - handle.tell()
    if present < declared:
        raise InputError(
            f"image {str(source)!r} is truncated: its header declares {declared} bytes of "
            f"pixels, the file holds {present}"
        )
    return shape, dtype


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Samples per pixel by PNG colour type; palette images may decode to RGBA.
_PNG_PLANES = {0: 1, 2: 3, 3: 4, 4: 2, 6: 4}


def _png_header(source: Path) -> tuple[int, int, int, int]:
    """Width, height, bit depth and samples per pixel from a PNG's IHDR chunk."""
    with open(source, "rb") as handle:
        header = handle.read(33)
    if len(header) < 33 or header[:8] != _PNG_SIGNATURE or header[12:16] != b"IHDR":
        raise InputError(f"image {str(source)!r} is not a PNG file (no PNG signature and header)")
    width, height = int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
    depth, colour = header[24], header[25]
    if not (0 < width < 2**31 and 0 < height < 2**31) or colour not in _PNG_PLANES:
        raise InputError(
            f"image {str(source)!r} has a damaged PNG header "
            f"({width} x {height} pixels, colour type {colour})"
        )
    return width, height, depth, _PNG_PLANES[colour]


def _check_declared(source: Path, shape: tuple[int, ...], dtype: np.typing.DTypeLike) -> None:
    """The memory guard for a file's declared size: its pixels and their float32 copy."""
    shape = tuple(int(n) for n in shape)
    check_allocation(
        array_bytes(shape, dtype) + array_bytes(shape, np.float32),
        what=f"image {str(source)!r} ({' x '.join(map(str, shape))} {np.dtype(dtype).name})",
        fix="check the file, or raise LAMINA_MEMORY_LIMIT if it is right",
    )


def write_image(
    path: str | os.PathLike[str], image: np.ndarray, *, bit_depth: int = 8, durable: bool = True
) -> None:
    """Write a float image in [0, 1] atomically (``durable``: :func:`atomic_write`).

    ``.png`` as 8 or 16 bit, ``.tif`` as 8/16 bit or float32 (``bit_depth=32``),
    ``.npy`` as float32 only (``bit_depth`` 32, or 8, the default, which means
    "the format's own"; 16 is refused rather than ignored). The working memory
    goes through :func:`lamina.memory.check_allocation` first.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "a.npy"
    >>> write_image(path, np.zeros((2, 2), np.float32), bit_depth=16)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lamina.errors.InputError: output '...a.npy': .npy images are float32; bit depth 16 ...
    """
    target = os.fspath(path)
    suffix = os.path.splitext(target)[1].lower()
    if suffix not in IMAGE_SUFFIXES:
        raise InputError(
            f"output {target!r}: unsupported file type {suffix or '(none)'!r}; "
            f"expected one of {', '.join(IMAGE_SUFFIXES)}"
        )
    if suffix == ".npy" and bit_depth == 16:
        raise InputError(
            f"output {target!r}: .npy images are float32; bit depth 16 cannot be written "
            "(use .png or .tif for 16-bit integers)"
        )
    if bit_depth not in (8, 16, 32) or (suffix == ".png" and bit_depth == 32):
        raise InputError(f"output {target!r}: bit depth {bit_depth} is not supported for {suffix}")
    array = np.asarray(image)
    # A float32 working copy, the stored samples and the encoded file, at most.
    stored = 4 if suffix == ".npy" or bit_depth == 32 else bit_depth // 8
    check_allocation(
        array.size * (4 + 2 * stored),
        what=f"writing a {' x '.join(map(str, array.shape))} image to {target!r}",
        fix="choose a smaller size, or raise LAMINA_MEMORY_LIMIT",
    )
    if suffix == ".npy":
        write_bytes(target, *_npy_parts(array.astype(np.float32, copy=False)), durable=durable)
        return
    if bit_depth == 32:
        data = array.astype(np.float32, copy=False)
    else:
        scaled = array.astype(np.float32)
        # Clipped to [0, 1] with NaN to 0: fmax and fmin return the number of a
        # (NaN, number) pair, so two passes do what nan_to_num's several and clip did.
        np.fmax(scaled, 0.0, out=scaled)
        np.fmin(scaled, 1.0, out=scaled)
        scaled *= 255 if bit_depth == 8 else 65535
        data = np.rint(scaled, out=scaled).astype(np.uint8 if bit_depth == 8 else np.uint16)
        del scaled
    if suffix == ".png" and bit_depth == 16:
        encoded = io.BytesIO()
        _write_png16(encoded, data)
        write_bytes(target, encoded.getbuffer(), durable=durable)
    elif suffix == ".png":
        write_bytes(target, _png8(data), durable=durable)
    else:
        import imageio.v3 as iio

        write_bytes(target, iio.imwrite("<bytes>", data, extension=suffix), durable=durable)


@functools.lru_cache(maxsize=64)
def _npy_save_header(shape: tuple[int, ...], fortran: bool) -> bytes:
    """The header ``np.save`` writes for a float32 array (one per image size in a run)."""
    encoded = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        encoded,
        {
            "descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
            "fortran_order": fortran,
            "shape": shape,
        },
    )
    return encoded.getvalue()


def _npy_parts(array: np.ndarray) -> tuple[bytes, memoryview]:
    """The bytes ``np.save`` writes for a float32 ``array``: its header and its data."""
    fortran = not array.flags.c_contiguous and array.flags.f_contiguous
    header = _npy_save_header(array.shape, fortran)
    return header, np.ascontiguousarray(array.T if fortran else array).data


def _png8(data: np.ndarray) -> bytes:
    """The 8-bit PNG file Pillow's ``Image.save`` writes for ``data`` (uint8, 2-D or
    2, 3 or 4 channels), through Pillow's own encoder and chunk layout: the bytes
    imageio wrote, without the ~0.2 ms that ``save``'s Python path costs per file
    (pipelines write thousands of small PNGs)."""
    from PIL import Image

    image = Image.fromarray(data)
    try:
        return _png8_encoded(image)
    except (AttributeError, KeyError, TypeError, ValueError):
        # Pillow's encoder internals are not its public API: if a release changes
        # them, the public path writes the same file, only slower.
        encoded = io.BytesIO()
        image.save(encoded, format="PNG")
        return encoded.getvalue()


def _png8_encoded(image: Any) -> bytes:
    from PIL import Image, ImageFile, PngImagePlugin

    rawmode, depth, colour = PngImagePlugin._OUTMODES[image.mode]
    width, height = image.size
    parts = [
        _PNG_SIGNATURE,
        _png_chunk(b"IHDR", struct.pack(">II", width, height) + depth + colour + b"\0\0\0"),
    ]
    # As Pillow's PNG plugin configures it: no optimize, default level and strategy.
    encoder = Image._getencoder(image.mode, "zip", rawmode, (False, -1, -1, b""))
    try:
        encoder.setimage(image.im, (0, 0, width, height))
        while True:  # an IDAT chunk per buffer, as ImageFile._save writes them
            _, status, compressed = encoder.encode(max(ImageFile.MAXBLOCK, width * 4))
            parts.append(_png_chunk(b"IDAT", compressed))
            if status:
                break
    finally:
        encoder.cleanup()
    if status < 0:
        raise RuntimeError(f"Pillow's PNG encoder failed with status {status}")
    parts.append(_png_chunk(b"IEND", b""))
    return b"".join(parts)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind))
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


# Pillow, behind imageio, neither writes 16-bit colour PNG nor reads it without
# dropping to 8 bits, so 16-bit PNG goes through pypng.
def _read_png8(path: Path) -> np.ndarray:
    from PIL import Image

    # lamina.memory has already judged the declared size; Pillow's own bomb check
    # (in open: a warning, then an error past 2 x 89.5 megapixels) would refuse a
    # large image the memory guard let through.
    with _pillow_pixel_limit_off(Image):
        opened = Image.open(path)
    with opened as image:
        if image.mode in ("P", "PA"):
            transparent = image.mode == "PA" or "transparency" in image.info
            return np.asarray(image.convert("RGBA" if transparent else "RGB"))
        return np.asarray(image)


_PILLOW_LIMIT = threading.Lock()


@contextlib.contextmanager
def _pillow_pixel_limit_off(image_module: Any) -> Iterator[None]:
    """Pillow's process-wide ``MAX_IMAGE_PIXELS`` off while lamina opens a file whose
    size it has checked, and back as it was (other code may rely on it)."""
    with _PILLOW_LIMIT:
        limit = image_module.MAX_IMAGE_PIXELS
        image_module.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            image_module.MAX_IMAGE_PIXELS = limit


def _read_png16(path: Path) -> np.ndarray:
    fast = _read_png16_unfiltered(path.read_bytes())
    if fast is not None:
        return fast
    import png

    # pypng leaves a file it opened itself open when decoding fails.
    with open(path, "rb") as handle:
        width, height, rows, info = png.Reader(file=handle).asDirect()
        planes = info["planes"]
        data = np.vstack([np.asarray(row, np.uint16) for row in rows])
    return data.reshape(height, width, planes) if planes > 1 else data.reshape(height, width)


# Colour type -> samples per pixel, for the 16-bit PNGs the fast path reads.
_PNG16_PLANES = {0: 1, 2: 3, 4: 2, 6: 4}


def _read_png16_unfiltered(data: bytes) -> np.ndarray | None:
    """A 16-bit PNG decoded with zlib and numpy, or None to leave it to pypng.

    pypng unpacks every sample in Python (4 s for 2048 x 2048 RGB); this path
    takes the common case, the one lamina writes: not interlaced, rows filtered
    with None, Sub or Up, no tRNS or sBIT chunk to apply. Chunk CRCs are checked
    as pypng checks them.
    """
    chunks, position, idat = {}, 8, []
    while position + 12 <= len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        crc = data[position + 8 + length : position + 12 + length]
        if len(body) != length or len(crc) != 4:
            raise ValueError("a chunk is truncated")
        if zlib.crc32(kind + body) != int.from_bytes(crc, "big"):
            raise ValueError(f"the {kind.decode('latin-1')!r} chunk fails its CRC check")
        if kind == b"IDAT":
            idat.append(body)
        chunks[kind] = body
        position += 12 + length
        if kind == b"IEND":
            break
    header = chunks.get(b"IHDR", b"")
    if len(header) != 13 or b"IEND" not in chunks or b"tRNS" in chunks or b"sBIT" in chunks:
        return None
    width, height = int.from_bytes(header[0:4], "big"), int.from_bytes(header[4:8], "big")
    depth, colour, interlace = header[8], header[9], header[12]
    if depth != 16 or colour not in _PNG16_PLANES or interlace != 0:
        return None
    planes = _PNG16_PLANES[colour]
    stride = width * planes * 2
    expected = height * (stride + 1)
    # At most what the header declares (and the memory guard passed): a stream
    # that inflates to more is damaged, not a reason to allocate more.
    raw = zlib.decompressobj().decompress(b"".join(idat), expected + 1)
    if len(raw) != expected:
        raise ValueError(f"the image data inflates to {len(raw)} bytes, not {expected}")
    rows = np.frombuffer(raw, np.uint8).reshape(height, stride + 1)
    if rows[:, 0].max(initial=0) > 2:  # Average or Paeth: sequential per pixel
        return None
    pixels = rows[:, 1:].copy()
    bpp = planes * 2
    for y in range(height):
        if rows[y, 0] == 1:  # Sub: each byte adds the one bpp to its left, mod 256
            lanes = pixels[y].reshape(width, bpp)
            np.cumsum(lanes, axis=0, dtype=np.uint8, out=lanes)
        elif rows[y, 0] == 2 and y > 0:  # Up: adds the byte above
            pixels[y] += pixels[y - 1]
    samples = pixels.view(">u2").astype(np.uint16)
    return samples.reshape(height, width, planes) if planes > 1 else samples.reshape(height, width)


def _write_png16(handle: IO[bytes], data: np.ndarray) -> None:
    import png

    height, width = data.shape[:2]
    planes = 1 if data.ndim == 2 else data.shape[2]
    writer = png.Writer(
        width, height, bitdepth=16, greyscale=planes in (1, 2), alpha=planes in (2, 4)
    )
    writer.write(handle, data.reshape(height, width * planes))
