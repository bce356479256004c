"""Fully connected networks: the minimal universal width and the builder."""

from __future__ import annotations

import torch
from torch import nn

from lamina.learn.torch import activation_module

__all__ = ["RELU_LIKE", "build_mlp", "minimal_width"]

#: Piecewise-linear activations, for which width max(d_in + 1, d_out) is universal.
RELU_LIKE = ("relu", "leaky_relu")


def minimal_width(d_in: int, d_out: int, activation: str) -> int:
    """The narrowest width at which deep networks of ``activation`` are universal.

    ReLU-like: ``max(d_in + 1, d_out)`` (Park et al. 2021 for L^p; for one
    output this is Hanin & Sellke's d_in + 1, which also suffices for uniform
    approximation). Other continuous non-polynomial activations:
    ``d_in + d_out + 2`` (Kidger & Lyons 2020).
    """
    if activation in RELU_LIKE:
        return max(d_in + 1, d_out)
    return d_in + d_out + 2


def build_mlp(
    d_in: int, d_out: int, *, width: int, depth: int, activation: str, dtype: torch.dtype
) -> nn.Sequential:
    """``depth`` hidden layers of ``width`` units, then a linear output layer.

    Weights and biases start uniform in ``±1/sqrt(fan_in)`` (PyTorch's default).
    The random biases matter for function approximation: with zero biases
    (Xavier's usual choice for tanh) every unit of a one-input network switches
    at the origin, and Levenberg-Marquardt needs about twice the iterations to
    spread them out.
    """
    layers: list[nn.Module] = []
    previous = d_in
    for _ in range(depth):
        layers += [nn.Linear(previous, width, dtype=dtype), activation_module(activation)]
        previous = width
    layers.append(nn.Linear(previous, d_out, dtype=dtype))
    return nn.Sequential(*layers)
