"""lamina.learn.torch's hold-out split and early-stopping rule, shared by the MLPs
and the VAE (issue 14: each had its own copy)."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lamina.errors import InputError  # noqa: E402
from lamina.learn.torch import EarlyStopping, hold_out  # noqa: E402


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5])
def test_hold_out_is_the_seeded_draw_the_vae_made(seed: int, fraction: float) -> None:
    for n in range(3, 200, 13):
        count = round(fraction * n)
        if not 0 < count < n:
            continue
        order = np.random.default_rng(seed).permutation(n)
        train, held = hold_out(n, fraction=fraction, seed=seed)
        assert np.array_equal(held, np.sort(order[:count]))
        assert np.array_equal(train, np.sort(order[count:]))


def test_hold_out_keeps_each_groups_share() -> None:
    groups = np.repeat(np.array(["a", "b", "c"]), [50, 30, 20])
    train, held = hold_out(len(groups), fraction=0.2, seed=1, groups=groups)
    assert sorted(np.concatenate([train, held]).tolist()) == list(range(100))
    assert {g: int(np.sum(groups[held] == g)) for g in "abc"} == {"a": 10, "b": 6, "c": 4}
    with pytest.raises(InputError, match="leaves 3 training and 0 validation samples of 3"):
        hold_out(3, fraction=0.1, seed=0)


@pytest.mark.parametrize("seed", range(6))
def test_early_stopping_keeps_the_best_weights_and_stops_after_patience(seed: int) -> None:
    rng = np.random.default_rng(seed)
    losses = np.cumsum(rng.normal(-0.02, 0.1, 60)) + 5.0
    tol, patience = 0.01, 4
    module = torch.nn.Linear(1, 1, bias=False)
    rule = EarlyStopping(tol=tol, patience=patience)
    best, stopped_at = math.inf, None
    for step, loss in enumerate(losses):
        with torch.no_grad():
            module.weight.fill_(float(step))
        improved = rule.update(float(loss), module)
        assert improved == (loss < best)
        best = min(best, loss)
        if rule.exhausted:
            stopped_at = step
            break
    if stopped_at is not None:
        # The last `patience` losses each missed the relative improvement over the best before.
        window = losses[stopped_at - patience + 1 : stopped_at + 1]
        before = [losses[: stopped_at - patience + 1 + i].min() for i in range(patience)]
        assert all(w >= b - tol * abs(b) for w, b in zip(window, before, strict=True))
    seen = losses[: (stopped_at if stopped_at is not None else len(losses) - 1) + 1]
    restored = torch.nn.Linear(1, 1, bias=False)
    assert rule.restore(restored)
    assert float(restored.weight.detach()) == float(np.argmin(seen)) and rule.best == seen.min()
    assert not EarlyStopping(tol=tol, patience=patience).restore(restored)
