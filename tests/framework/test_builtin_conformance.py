"""Every installed component — built-in or third party — passes the conformance suite."""

from __future__ import annotations

import lamina
from lamina.testing import parametrize_with_checks


def test_no_installed_plugin_failed_to_load() -> None:
    failed = {
        name: record.error
        for name, record in lamina.get_host().plugins.items()
        if record.status == "failed"
    }
    assert failed == {}


@parametrize_with_checks([(c.kind, c.name) for c in lamina.components()])
def test_component_conforms(component, check) -> None:  # type: ignore[no-untyped-def]
    check(component)
