"""The constructive interpolant as an explicit torch ReLU network (affine maps and ReLU only)."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from lamina.learn.torch import resolve_dtype
from lamina.limits import MAX_HAT_NETWORK_NODES
from lamina.plugins.torch_mlp.constructive import relu_layer_1d

__all__ = ["KuhnHatNetwork", "interpolant_network"]


def _shallow(knots: np.ndarray, values: np.ndarray, dtype: torch.dtype) -> nn.Sequential:
    hidden_bias, output_weights, output_bias = relu_layer_1d(knots, values)
    hidden = nn.Linear(1, len(knots), dtype=dtype)
    output = nn.Linear(len(knots), values.shape[1], dtype=dtype)
    with torch.no_grad():
        hidden.weight.fill_(1.0)
        hidden.bias.copy_(torch.from_numpy(hidden_bias))
        output.weight.copy_(torch.from_numpy(output_weights))
        output.bias.copy_(torch.from_numpy(output_bias))
    return nn.Sequential(hidden, nn.ReLU(), output)


class KuhnHatNetwork(nn.Module):
    """Piecewise-linear interpolation on a d-D grid as a ReLU network.

    Layer 1 maps each input coordinate to its (clamped) grid-index coordinate
    ``u_j`` with a shallow ReLU network per axis. For every node ``a`` the hat
    ``relu(1 - max(0, z) + min(0, z))`` of ``z = u - a`` is computed with
    ``max(p, q) = p + relu(q - p)`` and ``min(p, q) = p - relu(p - q)`` — d ReLU
    layers — and the output layer sums hats times node values. On the Kuhn
    triangulation these hats are exactly the piecewise-linear (Courant) basis.
    Points are processed in chunks of ``chunk`` rows, since the hat layer is
    ``n_nodes`` wide.
    """

    # Buffers (register_buffer), typed: nn.Module's __getattr__ says Tensor | Module.
    nodes: torch.Tensor
    values: torch.Tensor

    def __init__(
        self, axes: list[np.ndarray], values: np.ndarray, *, dtype: torch.dtype, chunk: int = 4096
    ) -> None:
        super().__init__()
        self.index_maps = nn.ModuleList(
            _shallow(knots, np.arange(len(knots), dtype=np.float64)[:, None], dtype)
            for knots in axes
        )
        shape = [len(knots) for knots in axes]
        grids = np.meshgrid(*(np.arange(s, dtype=np.float64) for s in shape), indexing="ij")
        nodes = np.stack([g.ravel() for g in grids], axis=1)
        self.register_buffer("nodes", torch.from_numpy(nodes).to(dtype))
        self.register_buffer("values", torch.from_numpy(np.asarray(values)).to(dtype))
        self.chunk = chunk

    @property
    def depth(self) -> int:
        """ReLU layers from input to output."""
        return 1 + self.nodes.shape[1] + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [self._forward(x[i : i + self.chunk]) for i in range(0, len(x), self.chunk)]
        return torch.cat(parts) if parts else x.new_zeros((0, self.values.shape[1]))

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        u = torch.cat([m(x[:, j : j + 1]) for j, m in enumerate(self.index_maps)], dim=1)
        z = u[:, None, :] - self.nodes[None]  # (P, N, d)
        high = torch.relu(z[..., 0])
        low = -torch.relu(-z[..., 0])
        for j in range(1, z.shape[-1]):
            high = high + torch.relu(z[..., j] - high)
            low = low - torch.relu(low - z[..., j])
        # high = max(0, z_1, ..., z_d), low = min(0, z_1, ..., z_d)
        hats = torch.relu(1.0 - high + low)
        return hats @ self.values


def interpolant_network(axes: list[np.ndarray], values: np.ndarray, *, dtype: str) -> nn.Module:
    """``nn.Sequential(Linear(1, n), ReLU, Linear(n, k))`` in 1-D, else a :class:`KuhnHatNetwork`."""
    torch_dtype = resolve_dtype(dtype)
    if len(axes) == 1:
        return _shallow(np.asarray(axes[0], dtype=np.float64), np.asarray(values), torch_dtype)
    nodes = math.prod(len(a) for a in axes)
    if nodes > MAX_HAT_NETWORK_NODES:
        from lamina.errors import InputError

        raise InputError(
            f"the interpolant's grid has {nodes:,} nodes; its hat network is built for at most "
            f"{MAX_HAT_NETWORK_NODES:,} (lamina.limits.MAX_HAT_NETWORK_NODES): use fewer knots"
        )
    return KuhnHatNetwork(axes, values, dtype=torch_dtype)
