"""The terms of the VAE objective against independent references: torch.distributions,
Monte Carlo, scipy.stats and a plain numpy MMD."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
stats = pytest.importorskip("scipy.stats")

from lamina.plugins.torch_vae.losses import (  # noqa: E402
    bernoulli_log_prob,
    gaussian_kl,
    gaussian_log_prob,
    mmd,
    standard_normal_log_prob,
)


def test_analytic_kl_matches_torch_distributions_and_monte_carlo():
    generator = torch.Generator().manual_seed(0)
    mean = torch.randn(5, 3, generator=generator, dtype=torch.float64)
    log_var = torch.randn(5, 3, generator=generator, dtype=torch.float64)
    q = torch.distributions.Normal(mean, torch.exp(0.5 * log_var))
    p = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))
    reference = torch.distributions.kl_divergence(q, p).sum(-1)
    torch.testing.assert_close(gaussian_kl(mean, log_var), reference)
    # Monte Carlo: E_q[log q(z) - log p(z)] with 400,000 draws per row.
    z = q.sample((100_000,))
    estimate = (q.log_prob(z) - p.log_prob(z)).sum(-1).mean(0)
    stderr = (q.log_prob(z) - p.log_prob(z)).sum(-1).std(0) / np.sqrt(100_000)
    assert torch.all(torch.abs(estimate - gaussian_kl(mean, log_var)) < 5 * stderr + 1e-3)
    assert torch.all(gaussian_kl(torch.zeros(2, 4), torch.zeros(2, 4)) == 0)


def test_bernoulli_log_prob_matches_scipy():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (4, 10))
    x = (rng.random((4, 10)) < 0.5).astype(float)
    p = 1 / (1 + np.exp(-logits))
    reference = stats.bernoulli.logpmf(x, p).sum(-1)
    ours = bernoulli_log_prob(torch.from_numpy(x), torch.from_numpy(logits)).numpy()
    np.testing.assert_allclose(ours, reference, rtol=1e-10)
    # Saturated logits stay finite where a probability would round to 0 or 1.
    assert torch.isfinite(bernoulli_log_prob(torch.ones(1, 1), torch.full((1, 1), -200.0))).all()


def test_gaussian_log_probs_match_scipy():
    rng = np.random.default_rng(1)
    x, mean, log_scale = rng.normal(size=(3, 6, 5))
    reference = stats.norm.logpdf(x, mean, np.exp(log_scale)).sum(-1)
    ours = gaussian_log_prob(*(torch.from_numpy(a) for a in (x, mean, log_scale))).numpy()
    np.testing.assert_allclose(ours, reference, rtol=1e-12)
    np.testing.assert_allclose(
        standard_normal_log_prob(torch.from_numpy(x)).numpy(),
        stats.norm.logpdf(x).sum(-1),
        rtol=1e-12,
    )


def _mmd_reference(a: np.ndarray, b: np.ndarray, kernel: str) -> float:
    c = 2.0 * a.shape[1]

    def k(u, v):
        d = np.sum((u - v) ** 2)
        return c / (c + d) if kernel == "imq" else np.exp(-d / c)

    n, m = len(a), len(b)
    aa = sum(k(a[i], a[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    bb = sum(k(b[i], b[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    ab = sum(k(a[i], b[j]) for i in range(n) for j in range(m)) / (n * m)
    return aa + bb - 2 * ab


@pytest.mark.parametrize("kernel", ["imq", "rbf"])
def test_mmd_matches_the_unbiased_estimator(kernel):
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(12, 3)), rng.normal(0.5, 1.0, size=(9, 3))
    ours = float(mmd(torch.from_numpy(a), torch.from_numpy(b), kernel))
    assert ours == pytest.approx(_mmd_reference(a, b, kernel), rel=1e-10)


def test_mmd_separates_distributions_and_is_differentiable():
    generator = torch.Generator().manual_seed(3)
    prior = torch.randn(500, 2, generator=generator)
    same = torch.randn(500, 2, generator=generator)
    shifted = (torch.randn(500, 2, generator=generator) + 1.0).requires_grad_(True)
    assert abs(float(mmd(same, prior))) < 0.01
    value = mmd(shifted, prior)
    assert float(value.detach()) > 0.1
    value.backward()
    assert torch.isfinite(shifted.grad).all() and shifted.grad.abs().sum() > 0
