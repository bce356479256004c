"""The terms of the VAE objective: likelihoods, the analytic KL and the MMD alternative."""

from __future__ import annotations

import math

import torch
from torch.nn import functional

__all__ = [
    "bernoulli_log_prob",
    "gaussian_kl",
    "gaussian_log_prob",
    "mmd",
    "standard_normal_log_prob",
]

_LOG_2PI = math.log(2.0 * math.pi)


def gaussian_kl(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """``KL(N(mean, diag(exp(log_var))) || N(0, I))`` per row, in closed form:
    ``0.5 * sum(mean^2 + var - 1 - log_var)`` (Kingma & Welling 2014, appendix B)."""
    return 0.5 * torch.sum(mean.square() + log_var.exp() - 1.0 - log_var, dim=-1)


def bernoulli_log_prob(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """``log p(x | logits)`` of independent Bernoulli pixels, summed over the last axis
    (computed from logits, so probabilities of exactly 0 or 1 never give -inf)."""
    return -functional.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=-1)


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """``log N(x; mean, exp(log_scale)^2)`` of independent coordinates, summed over the last axis."""
    z = (x - mean) * torch.exp(-log_scale)
    return torch.sum(-0.5 * z.square() - log_scale - 0.5 * _LOG_2PI, dim=-1)


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """``log N(z; 0, I)`` summed over the last axis."""
    return torch.sum(-0.5 * z.square() - 0.5 * _LOG_2PI, dim=-1)


def mmd(
    a: torch.Tensor, b: torch.Tensor, kernel: str = "imq", scale: float | None = None
) -> torch.Tensor:
    """Unbiased estimate of the squared maximum mean discrepancy between the samples
    ``a`` (n, d) and ``b`` (m, d), n, m >= 2 (Gretton et al. 2012, eq. 3).

    Parameters
    ----------
    kernel : {"imq", "rbf"}
        Inverse multiquadric ``C / (C + |x - y|^2)`` (Tolstikhin et al. 2018's
        choice for matching a Gaussian prior; heavy tails keep gradients alive
        for far-off codes) or Gaussian ``exp(-|x - y|^2 / C)``.
    scale : float, optional
        ``C``; by default ``2 d``, the expected squared distance between two
        standard normal vectors.
    """
    c = 2.0 * a.shape[1] if scale is None else float(scale)

    def gram(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # |x|^2 + |y|^2 - 2 x.y: unlike cdist, differentiable at zero distance.
        distance = (
            x.square().sum(1)[:, None] + y.square().sum(1)[None, :] - 2.0 * x @ y.T
        ).clamp_min(0.0)
        return c / (c + distance) if kernel == "imq" else torch.exp(-distance / c)

    n, m = a.shape[0], b.shape[0]
    kaa, kbb, kab = gram(a, a), gram(b, b), gram(a, b)
    within_a = (kaa.sum() - kaa.diagonal().sum()) / (n * (n - 1))
    within_b = (kbb.sum() - kbb.diagonal().sum()) / (m * (m - 1))
    return within_a + within_b - 2.0 * kab.mean()
