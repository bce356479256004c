"""pytest plugin (entry point ``pytest11``): fixtures only, no behaviour changes."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator

import pytest

from lamina.host import Host, get_host, reset_host


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


@pytest.fixture
def lamina_hide_modules(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """``hide("torch", ...)``: make modules look uninstalled to the host's requirement
    check and start a fresh process-wide host, to test how a plugin behaves
    without an optional dependency."""

    def hide(*names: str) -> None:
        real = importlib.util.find_spec

        def find_spec(name: str, *args: object, **kwargs: object) -> object:
            if any(name == hidden or name.startswith(f"{hidden}.") for hidden in names):
                return None
            return real(name, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(importlib.util, "find_spec", find_spec)
        reset_host()

    yield hide
    reset_host()
