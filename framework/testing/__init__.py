"""The conformance suite: checks every component of a kind must pass, chosen by its tags.

Modelled on scikit-learn's ``estimator_checks``. Plugin authors run it with
``lamina check PLUGIN`` or from pytest::

    from lamina.testing import parametrize_with_checks

    @parametrize_with_checks([("interpolator", "my-resampler")])
    def test_conformance(component, check):
        check(component)
"""

from __future__ import annotations

from lamina.testing._common import build, expect_input_error, unchanged
from lamina.testing._runner import (
    Check,
    CheckResult,
    SkipCheck,
    check_component,
    check_plugin,
    checks_for,
    parametrize_with_checks,
)

__all__ = [
    "Check",
    "CheckResult",
    "SkipCheck",
    "build",
    "check_component",
    "check_plugin",
    "checks_for",
    "expect_input_error",
    "parametrize_with_checks",
    "unchanged",
]
