"""Universal approximation on torch: trained MLPs and constructive approximators.

Only hook implementations live here, so ``import lamina`` and ``lamina --help``
never import torch; the components are loaded from their ``"module:attr"``
factories on first use, and without torch the host reports them unavailable
with the install hint ``pip install 'lamina[torch]'``.
"""

from __future__ import annotations

from typing import Any

from lamina import Tags, hookimpl

_TORCH = ("torch",)


@hookimpl
def lamina_register_learners(registry: Any) -> None:
    registry.add(
        "mlp-regressor",
        "lamina.plugins.torch_mlp.mlp:MLPRegressor",
        summary="Multilayer perceptron regressor (any width/depth/activation; L-BFGS, Adam or LM)",
        tags=Tags(requires=_TORCH, learner_type="regressor", gpu=True),
    )
    registry.add(
        "mlp-classifier",
        "lamina.plugins.torch_mlp.mlp:MLPClassifier",
        summary="Multilayer perceptron classifier with softmax output (L-BFGS or Adam)",
        tags=Tags(requires=_TORCH, learner_type="classifier", gpu=True),
    )
    registry.add(
        "relu-interpolant",
        "lamina.plugins.torch_mlp.constructive:ReLUInterpolant",
        summary="Piecewise-linear interpolation built directly as a ReLU network (known error)",
        tags=Tags(requires=_TORCH, learner_type="regressor"),
    )
    registry.add(
        "random-features",
        "lamina.plugins.torch_mlp.constructive:RandomFeatures",
        summary="Random hidden layer with least-squares output weights (Rahimi & Recht)",
        tags=Tags(requires=_TORCH, learner_type="regressor"),
    )


@hookimpl
def lamina_register_commands(cli: Any) -> None:
    cli.add(
        "approximate",
        "lamina.plugins.torch_mlp.cli:approximate",
        summary="Fit the continuous function EXPRESSION and report sup-norm and RMS errors.",
    )
