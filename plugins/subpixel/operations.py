"""The sub-pixel plugin's pipeline operations, registered through
``lamina_register_operations`` and imported when a pipeline first runs one.

``score_shifts`` compares the shift estimates of a ``position_estimator`` step
with the true shifts and with the uncertainty each estimate reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lamina.errors import InputError

__all__ = ["OPERATIONS", "score_shifts"]


def _pair(item: Any) -> tuple[float, float]:
    """(dy, dx) of a mapping, of anything with ``dy`` and ``dx``, or of a pair."""
    if isinstance(item, dict):
        return float(item["dy"]), float(item["dx"])
    if hasattr(item, "dy"):
        return float(item.dy), float(item.dx)
    dy, dx = item
    return float(dy), float(dx)


def score_shifts(*, estimates: Sequence[Any], truth: Sequence[Any]) -> dict[str, Any]:
    """Compare shift estimates with the true shifts and with their reported uncertainty.

    Parameters
    ----------
    estimates : sequence of lamina.ShiftEstimate
        The estimates, each with ``dy``, ``dx`` and ``uncertainty``.
    truth : sequence
        The true shifts, one per estimate: (dy, dx) pairs, mappings with ``dy``
        and ``dx``, or anything with those attributes.

    Returns
    -------
    dict
        ``rmse_px``, ``max_abs_error_px``, ``mean_reported_sigma_px``,
        ``within_2_sigma`` (fraction of axis errors within two reported standard
        errors), a per-pair ``table`` and a ``plot`` of the errors with their
        reported standard errors.

    Examples
    --------
    >>> from lamina.types import ShiftEstimate
    >>> found = [ShiftEstimate(0.51, -0.2, (0.01, 0.01), {})]
    >>> round(score_shifts(estimates=found, truth=[(0.5, -0.2)])["rmse_px"], 4)
    0.0071
    """
    if len(estimates) != len(truth) or not estimates:
        raise InputError(f"{len(estimates)} estimates but {len(truth)} true shifts")
    found = np.array([_pair(e) for e in estimates], dtype=np.float64)
    sigma = np.array([e.uncertainty for e in estimates], dtype=np.float64)
    true = np.array([_pair(t) for t in truth], dtype=np.float64)
    error = found - true
    z = error / np.where(sigma > 0, sigma, np.nan)
    rows = [
        {
            "true_dy": t[0],
            "true_dx": t[1],
            "dy": f[0],
            "dx": f[1],
            "sigma_dy": s[0],
            "sigma_dx": s[1],
        }
        for t, f, s in zip(true, found, sigma, strict=True)
    ]
    return {
        "rmse_px": float(np.sqrt(np.mean(error**2))),
        "max_abs_error_px": float(np.abs(error).max()),
        "mean_reported_sigma_px": float(np.nanmean(sigma)),
        "within_2_sigma": float(np.nanmean(np.abs(z) <= 2)),
        "table": rows,
        "plot": {
            "title": "shift estimate minus truth, with reported 1-sigma",
            "xlabel": "frame",
            "ylabel": "error (px)",
            "x": list(range(len(rows))),
            "series": {"dy": error[:, 0].tolist(), "dx": error[:, 1].tolist()},
            "errors": {"dy": sigma[:, 0].tolist(), "dx": sigma[:, 1].tolist()},
        },
    }


#: The operations this module provides, by their registered name.
OPERATIONS = {"score_shifts": score_shifts}
