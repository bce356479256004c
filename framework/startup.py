"""Ctrl-C while the ``lamina`` command is still starting.

Importing lamina, click and the plugins' modules takes a tenth of a second or
more; Ctrl-C then would print Python's traceback. When the process is the
``lamina`` command (its console script, named ``lamina`` and importing
``lamina.cli.main``, is ``__main__``), ``import lamina``
first installs a SIGINT handler that prints one line and exits 130; the
command's own exit path (:func:`lamina.clitools.standalone`) takes over with
:func:`end_startup_guard` once it runs. Imported by code that is a library
in someone else's program, lamina leaves their SIGINT handler alone.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any

__all__ = ["end_startup_guard", "guard_startup"]

#: What Ctrl-C during start-up prints; nothing can have been written yet.
INTERRUPTED_LINE = "lamina: interrupted while starting; no file was written\n"


def _on_interrupt(signum: int, frame: Any) -> None:
    os.write(2, INTERRUPTED_LINE.encode())
    os._exit(130)


#: The console script pip writes for lamina imports its entry point so; a user's own
#: script that happens to be named ``lamina`` and imports lamina as a library does not.
_ENTRY_POINT = b"from lamina.cli import main"

#: Bytes read from each end of a script: pip's scripts are a few lines, its Windows
#: launchers (an .exe with the script zipped, uncompressed, at its end) ~100 KiB.
_SCRIPT_READ = 1 << 16


def _is_lamina_command() -> bool:
    script = getattr(sys.modules.get("__main__"), "__file__", None) or ""
    name = os.path.basename(script)
    if name.removesuffix(".exe") != "lamina" and name != "lamina-script.py":
        return False
    try:
        with open(script, "rb") as handle:
            head = handle.read(_SCRIPT_READ)
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(size - _SCRIPT_READ, len(head)))
            text = head + handle.read(_SCRIPT_READ)
    except OSError:
        return False
    return _ENTRY_POINT in text


def guard_startup() -> None:
    """Make Ctrl-C one line and exit status 130 until :func:`end_startup_guard`, when
    this process is the ``lamina`` command and nobody else has set a SIGINT handler."""
    if (
        _is_lamina_command()
        and threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    ):
        signal.signal(signal.SIGINT, _on_interrupt)


def end_startup_guard() -> None:
    """Give Ctrl-C back to Python (a KeyboardInterrupt the command handles itself)."""
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is _on_interrupt
    ):
        signal.signal(signal.SIGINT, signal.default_int_handler)
