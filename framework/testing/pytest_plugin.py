"""pytest plugin (entry point ``pytest11``): fixtures only, no behaviour changes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lamina.host import Host, get_host


@pytest.fixture(scope="session")
def lamina_host() -> Host:
    """The process-wide lamina host with every installed plugin loaded."""
    return get_host()


@pytest.fixture
def lamina_isolated_host(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[Host]]:
    """The :class:`~lamina.Host` class with plugin environment variables cleared,
    for building hosts from hand-made entry points."""
    monkeypatch.delenv("LAMINA_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("LAMINA_STRICT_PLUGINS", raising=False)
    yield Host
