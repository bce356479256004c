"""Variational autoencoders on torch, with the ``lamina vae`` picture command.

Only hook implementations live here, so ``import lamina`` and ``lamina --help``
never import torch; without torch the host reports the learner unavailable
with the install hint ``pip install 'lamina[torch]'``.
"""

from __future__ import annotations

from typing import Any

from lamina import Tags, hookimpl


@hookimpl
def lamina_register_learners(registry: Any) -> None:
    registry.add(
        "vae",
        "lamina.plugins.torch_vae.vae:VariationalAutoencoder",
        summary="Variational autoencoder (MLP/conv; Bernoulli/Gaussian decoder; KL or MMD; IWAE)",
        tags=Tags(requires=("torch",), learner_type="generative", input_data="binary", gpu=True),
    )


@hookimpl
def lamina_register_commands(cli: Any) -> None:
    cli.add(
        "vae",
        "lamina.plugins.torch_vae.cli:vae",
        summary="Train a variational autoencoder on images; write samples and a checkpoint.",
    )
