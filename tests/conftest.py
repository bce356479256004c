"""Shared test configuration: run plugins from the installed entry points, and keep
Taichi's compiled kernels in the user cache between runs."""

from __future__ import annotations

import os

# Plugin tests must see every plugin; a developer's own settings must not leak in.
os.environ.pop("LAMINA_DISABLE_PLUGINS", None)
os.environ.pop("LAMINA_STRICT_PLUGINS", None)
os.environ.setdefault("LAMINA_ARCH", "cpu")
