"""Encoder and decoder networks of the VAE: fully connected or convolutional."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import nn

from lamina.learn.torch import activation_module, largest_layer_work

__all__ = ["VAENetwork", "conv_sizes"]


def conv_sizes(size: int, layers: int) -> list[int]:
    """Spatial sizes after each stride-2, kernel-3, padding-1 convolution."""
    sizes = [size]
    for _ in range(layers):
        sizes.append((sizes[-1] - 1) // 2 + 1)
    return sizes


def _mlp(sizes: Sequence[int], activation: str) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        layers += [nn.Linear(fan_in, fan_out), activation_module(activation)]
    return layers


class VAENetwork(nn.Module):
    """q(z|x) and p(x|z) of a VAE.

    The encoder ends in a linear layer giving the mean and log-variance of a
    diagonal Gaussian; the decoder ends in a linear (or transposed
    convolutional) layer giving Bernoulli logits or Gaussian means. A Gaussian
    decoder with learned variance has one log standard deviation per feature
    (``log_scale``), shared by all samples — stabler than a per-sample variance
    head, which can collapse onto single pixels.

    Parameters
    ----------
    n_features : int
        Data dimension (``C * H * W`` for images).
    latent_dim : int
    hidden : sequence of int
        Widths of the fully connected hidden layers (decoder mirrored).
    activation : str
    image_shape : (C, H, W) or None
        Given for the convolutional architecture.
    channels : sequence of int
        Channels of the stride-2 convolutions (decoder mirrored).
    learn_scale : bool
        Whether to hold a learned per-feature ``log_scale``.
    """

    def __init__(
        self,
        n_features: int,
        latent_dim: int,
        hidden: Sequence[int],
        activation: str,
        *,
        image_shape: tuple[int, int, int] | None = None,
        channels: Sequence[int] = (),
        learn_scale: bool = False,
    ) -> None:
        super().__init__()
        self.n_features = n_features
        self.latent_dim = latent_dim
        self.image_shape = image_shape
        if image_shape is None:
            self.encoder = nn.Sequential(*_mlp([n_features, *hidden], activation))
            self.to_latent = nn.Linear(hidden[-1] if hidden else n_features, 2 * latent_dim)
            decoder = _mlp([latent_dim, *reversed(hidden)], activation)
            decoder.append(nn.Linear(hidden[0] if hidden else latent_dim, n_features))
            self.decoder = nn.Sequential(*decoder)
        else:
            c, h, w = image_shape
            heights, widths = conv_sizes(h, len(channels)), conv_sizes(w, len(channels))
            convolutions: list[nn.Module] = []
            previous = c
            for out in channels:
                convolutions += [
                    nn.Conv2d(previous, out, 3, stride=2, padding=1),
                    activation_module(activation),
                ]
                previous = out
            flat = previous * heights[-1] * widths[-1]
            self.encoder = nn.Sequential(
                *convolutions, nn.Flatten(), *_mlp([flat, *hidden], activation)
            )
            self.to_latent = nn.Linear(hidden[-1] if hidden else flat, 2 * latent_dim)
            decoder = _mlp([latent_dim, *reversed(hidden), flat], activation)
            decoder.append(nn.Unflatten(1, (previous, heights[-1], widths[-1])))
            reverse = [*reversed(channels[:-1]), c]
            for index, out in enumerate(reverse):
                level = len(channels) - 1 - index  # upsample to heights[level], widths[level]
                padding = (
                    heights[level] - (2 * heights[level + 1] - 1),
                    widths[level] - (2 * widths[level + 1] - 1),
                )
                decoder.append(
                    nn.ConvTranspose2d(
                        previous, out, 3, stride=2, padding=1, output_padding=padding
                    )
                )
                if index < len(reverse) - 1:
                    decoder.append(activation_module(activation))
                previous = out
            decoder.append(nn.Flatten())
            self.decoder = nn.Sequential(*decoder)
        self.log_scale = nn.Parameter(torch.zeros(n_features)) if learn_scale else None
        self.largest_layer_work = largest_layer_work(self)
        if image_shape is not None:
            # Each convolution does in x out x 9 multiply-adds at every output position.
            sizes = list(zip(heights[1:], widths[1:], strict=True))
            ins = [image_shape[0], *channels[:-1]]
            for (height, width), fan_in, fan_out in zip(sizes, ins, channels, strict=True):
                self.largest_layer_work = max(
                    self.largest_layer_work, height * width * fan_in * fan_out * 9
                )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z|x) for rows of ``x`` (n, n_features)."""
        if self.image_shape is not None:
            x = x.reshape(len(x), *self.image_shape)
        mean, log_var = self.to_latent(self.encoder(x)).chunk(2, dim=-1)
        # exp(log_var) overflows float32 beyond ~88; codes that far out are divergence anyway.
        return mean, log_var.clamp(-30.0, 30.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits or Gaussian means (n, n_features) for codes ``z``."""
        return self.decoder(z)

    @property
    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def parse_image_shape(image_shape: Sequence[int] | None, n_features: int) -> tuple[int, int, int]:
    """``(H, W)`` or ``(C, H, W)``, or a square single-channel image when ``None``."""
    if image_shape is None:
        side = math.isqrt(n_features)
        if side * side != n_features:
            raise ValueError(
                f"{n_features} features are not a square image; give image_shape=(H, W) or (C, H, W)"
            )
        return (1, side, side)
    shape = tuple(int(s) for s in image_shape)
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3 or math.prod(shape) != n_features:
        raise ValueError(f"image_shape {tuple(image_shape)} does not hold {n_features} features")
    return shape  # type: ignore[return-value]
