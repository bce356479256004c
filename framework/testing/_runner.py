"""Collect the checks that apply to a component and run them in isolation."""

from __future__ import annotations

import time
import traceback
import unittest
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lamina.host import Host, get_host
from lamina.registry import ComponentInfo, resolve_target

__all__ = [
    "Check",
    "CheckResult",
    "SkipCheck",
    "check_component",
    "check_plugin",
    "checks_for",
    "parametrize_with_checks",
]


class SkipCheck(unittest.SkipTest):
    """Raised by a check that does not apply to this component (pytest reports a skip)."""


@dataclass(frozen=True)
class Check:
    """One named check; ``run(info)`` raises ``AssertionError`` on failure."""

    name: str
    run: Callable[[ComponentInfo], None]

    def __call__(self, info: ComponentInfo) -> None:
        self.run(info)

    def __repr__(self) -> str:
        return self.name


@dataclass
class CheckResult:
    """The outcome of one check on one component."""

    kind: str
    component: str
    check: str
    status: str  # passed | failed | skipped | xfail
    message: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "component": self.component,
            "check": self.check,
            "status": self.status,
            "message": self.message,
            "seconds": round(self.seconds, 4),
        }


def checks_for(info: ComponentInfo, *, host: Host | None = None) -> list[Check]:
    """The checks that apply to ``info``: the common ones, then those of its kind
    (:attr:`lamina.kinds.Kind.checks`, found in ``host``) selected by its tags."""
    from lamina.testing import _common

    kind = (host or get_host()).kind(info.kind)
    found = _common.checks(info, kind)
    if kind.checks is not None:
        found += resolve_target(kind.checks, what=f"the checks of kind {kind.name!r}")(info)
    return found


def _run_one(info: ComponentInfo, check: Check, expected_failure: str | None) -> CheckResult:
    start = time.perf_counter()
    try:
        check(info)
    except SkipCheck as skip:
        status, message = "skipped", str(skip)
    except Exception as error:  # any failure of the component is the check's finding
        if expected_failure is not None:
            status, message = "xfail", expected_failure
        else:
            last = traceback.extract_tb(error.__traceback__)[-1]
            status = "failed"
            message = f"{type(error).__name__}: {error} ({last.filename.rsplit('/', 1)[-1]}:{last.lineno})"
    else:
        status, message = "passed", ""
        if expected_failure is not None:
            status, message = "failed", f"expected to fail ({expected_failure}) but passed"
    return CheckResult(
        info.kind, info.name, check.name, status, message, time.perf_counter() - start
    )


def check_component(
    kind: str,
    name: str,
    *,
    host: Host | None = None,
    expected_failed_checks: Mapping[str, str] | None = None,
) -> list[CheckResult]:
    """Run every applicable check on component ``name`` of ``kind``.

    Parameters
    ----------
    kind, name : str
        The component to check.
    host : Host, optional
        Where to find it; the process-wide host by default.
    expected_failed_checks : mapping of check name to reason, optional
        Checks known to fail, reported as ``xfail``; one that passes is a failure.

    Returns
    -------
    list of CheckResult
    """
    info = (host or get_host()).get(kind, name)
    expected = dict(expected_failed_checks or {})
    if not info.available:
        return [
            CheckResult(kind, name, "available", "skipped", f"unavailable: {info.install_hint}")
        ]
    return [
        _run_one(info, check, expected.get(check.name)) for check in checks_for(info, host=host)
    ]


def check_plugin(plugin: str, *, host: Host | None = None) -> list[CheckResult]:
    """Run the checks on every component of plugin ``plugin``; a plugin that failed
    to load yields one failed ``loaded`` result."""
    host = host or get_host()
    record = host.plugins.get(plugin)
    if record is None:
        return [CheckResult("plugin", plugin, "loaded", "failed", f"no plugin named {plugin!r}")]
    results = []
    if record.status == "failed":
        results.append(CheckResult("plugin", plugin, "loaded", "failed", record.error or ""))
    for info in record.components:
        results += check_component(info.kind, info.name, host=host)
    return results


def parametrize_with_checks(
    components: Iterable[tuple[str, str]],
    *,
    expected_failed_checks: Callable[[ComponentInfo], Mapping[str, str]] | None = None,
    host: Host | None = None,
) -> Any:
    """A ``pytest.mark.parametrize`` over (component, check) pairs.

    The test receives ``component`` (a :class:`~lamina.ComponentInfo`) and
    ``check`` (a :class:`Check`) and calls ``check(component)``. Checks listed by
    ``expected_failed_checks(component)`` are marked ``xfail(strict=True)``.
    """
    import pytest

    host = host or get_host()
    params = []
    for kind, name in components:
        info = host.get(kind, name)
        if not info.available:
            params.append(
                pytest.param(
                    info,
                    Check("available", lambda i: None),
                    id=f"{kind}:{name}-available",
                    marks=pytest.mark.skip(reason=info.install_hint),
                )
            )
            continue
        expected = dict(expected_failed_checks(info)) if expected_failed_checks else {}
        for check in checks_for(info, host=host):
            marks = []
            if check.name in expected:
                marks.append(pytest.mark.xfail(strict=True, reason=expected[check.name]))
            params.append(pytest.param(info, check, id=f"{kind}:{name}-{check.name}", marks=marks))
    return pytest.mark.parametrize(("component", "check"), params)
