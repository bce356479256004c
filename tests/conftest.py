"""Shared test configuration: run plugins from the installed entry points, and keep
Taichi's compiled kernels in the user cache between runs."""

from __future__ import annotations

import os
import signal

# Plugin tests must see every plugin; a developer's own settings must not leak in.
os.environ.pop("LAMINA_DISABLE_PLUGINS", None)
os.environ.pop("LAMINA_STRICT_PLUGINS", None)
os.environ.setdefault("LAMINA_ARCH", "cpu")

# A shell starts background jobs with Ctrl-C ignored, and an ignored signal stays
# ignored across exec: CI or `make test &` would then run the Ctrl-C tests on
# subprocesses that cannot be interrupted. A handler (unlike SIG_IGN) is reset to
# the default on exec, so every subprocess a test starts gets Python's usual
# KeyboardInterrupt, as it does under a terminal.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
