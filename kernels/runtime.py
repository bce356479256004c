"""The one place that initialises Taichi: lazily, once per process.

``LAMINA_ARCH`` (or :func:`init`'s ``arch``) picks ``cpu``, ``cuda``, ``vulkan``
or ``auto`` (the first GPU backend that starts, else the CPU). Taichi's banner
is kept off stdout and logged at INFO on the ``lamina`` logger (``lamina -v``
shows it), and compiled kernels go to Taichi's offline cache in the
user cache directory, so only the first run in a fresh environment pays for
Taichi's compilation; every process still runs Taichi's Python front end
(shortened by :mod:`lamina.kernels.frontend`) and LLVM's optimisation and code
generation for each kernel it launches (on the CPU with the loop options of
:mod:`lamina.kernels.codegen`, which halve that).
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from lamina.kernels import codegen

__all__ = ["ARCHES", "active_arch", "init", "offline_cache_dir"]

ARCHES = ("auto", "cpu", "cuda", "vulkan")

_lock = threading.Lock()
_active: str | None = None


def offline_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    # Taichi's cache keys do not cover LLVM's options (lamina.kernels.codegen), which
    # shape the cached IR: the folder is named for them.
    return Path(base) / "lamina" / f"taichi-{codegen.TAG}"


@functools.cache  # Taichi is imported and patched once per process
def _import_taichi() -> ModuleType:
    os.environ.setdefault("ENABLE_TAICHI_HEADER_PRINT", "0")
    # ti.init would start a thread that posts the Taichi version, platform and a
    # machine id to metadata.taichi.graphics once a day: a library makes no network
    # calls of its own accord, and the thread competes for the GIL with the first
    # frame's compilation.  (Set TI_SKIP_VERSION_CHECK=OFF to have it.)
    os.environ.setdefault("TI_SKIP_VERSION_CHECK", "ON")
    import taichi

    from lamina.kernels import frontend

    frontend.install()
    return taichi


def init(arch: str | None = None) -> str:
    """Start Taichi on ``arch`` (default ``LAMINA_ARCH`` or ``auto``) once; return the
    backend in use (``"cpu"``, ``"cuda"`` or ``"vulkan"``). Later calls return the
    backend already running; asking for a different one is an error. On the CPU it
    also sets LLVM's loop options for the process (see :func:`_set_llvm_options`)."""
    global _active
    from lamina.errors import InputError

    requested = (arch or os.environ.get("LAMINA_ARCH") or "auto").lower()
    if requested not in ARCHES:
        raise InputError(f"arch {requested!r} is not one of {', '.join(ARCHES)}")
    with _lock:
        if _active is not None:
            if requested not in ("auto", _active):
                raise InputError(
                    f"Taichi already runs on {_active} in this process; cannot switch to {requested}"
                )
            return _active
        ti = _import_taichi()
        cache = offline_cache_dir()
        cache.mkdir(parents=True, exist_ok=True)
        options = {
            "offline_cache": True,
            "offline_cache_file_path": str(cache),
            "log_level": ti.WARN,
            "default_fp": ti.f32,
            # IEEE arithmetic as written (no FMA contraction, no reciprocal division):
            # the setup kernel (lamina.kernels.oit_setup) matches numpy's float64 bit
            # for bit.
            "fast_math": False,
            "random_seed": 0,
        }
        candidates = {"auto": [*_gpu_backends_present(), "cpu"], "cpu": ["cpu"]}.get(
            requested, [requested]
        )
        errors = []
        for name in candidates:
            backend = ti.x64 if name == "cpu" else getattr(ti, name)
            try:
                with _banner_to_log():
                    ti.init(arch=backend, **options)
            except Exception as error:  # backend missing: try the next one
                errors.append(f"{name}: {error}")
                continue
            actual = ti.lang.impl.current_cfg().arch
            if name != "cpu" and actual != backend:
                # Taichi falls back to the CPU silently when a GPU backend is absent.
                errors.append(f"{name}: not available")
                ti.reset()
                continue
            if name == "cpu":
                _set_llvm_options()
            _active = name
            return name
        raise InputError(f"no Taichi backend could start for arch={requested}: {'; '.join(errors)}")


def _set_llvm_options() -> None:
    """:mod:`lamina.kernels.codegen`'s options for the CPU kernels' LLVM code (GPU
    backends keep LLVM's defaults). LLVM's options hold for the whole process, so
    every Taichi CPU kernel compiled in it after this, lamina's or not, is neither
    unrolled nor vectorised at run time (a user's vectorisable loop over 1 M floats
    took 0.8-1.7 ms instead of 0.3-0.5); ``LAMINA_LLVM_DEFAULTS=1`` keeps LLVM's
    defaults (lamina's first frames then compile about 0.25 s longer)."""
    if os.environ.get("LAMINA_LLVM_DEFAULTS", "") not in ("", "0"):
        return
    library = sys.modules.get("taichi._lib.core.taichi_python")
    path = getattr(library, "__file__", None)
    if path is not None and not codegen.install(Path(path)):
        logging.getLogger("lamina.kernels").info("LLVM's loop options not set (%s)", path)


def _gpu_backends_present() -> list[str]:
    """GPU backends worth trying: those whose driver library is installed, so that
    ``auto`` on a machine without a GPU starts quietly on the CPU."""
    return [name for name in ("cuda", "vulkan") if _library_present(name)]


def _library_present(name: str) -> bool:
    """Whether the driver library ``name`` loads (``cuda``, ``vulkan``: their sonames
    are ``libcuda.so.1`` and ``libvulkan.so.1``).

    On Linux ``ctypes.util.find_library`` runs ``ldconfig -p`` (and, failing
    that, the C compiler and linker) in subprocesses: 60-120 ms of every
    ``auto`` start on this machine.  The dynamic loader answers directly, and
    a backend Taichi then starts loads the same library anyway."""
    import ctypes

    if not sys.platform.startswith("linux"):
        import ctypes.util

        return ctypes.util.find_library(name) is not None  # no subprocess elsewhere
    for soname in (f"lib{name}.so.1", f"lib{name}.so"):
        try:
            ctypes.CDLL(soname)
        except OSError:
            continue
        return True
    return False


@contextlib.contextmanager
def _banner_to_log() -> Iterator[None]:
    """Taichi prints "[Taichi] Starting on arch=..." on stdout, which is for data,
    and its C++ logger may write to fd 1: the banner goes to the ``lamina`` log
    at INFO (shown by ``lamina -v``), anything on fd 1 to stderr."""
    sys.stdout.flush()
    saved = os.dup(1)
    banner = io.StringIO()
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(banner):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        for line in banner.getvalue().splitlines():
            logging.getLogger("lamina.kernels").info("%s", line)


def active_arch() -> str | None:
    """The backend Taichi runs on in this process, or ``None`` before :func:`init`."""
    return _active
