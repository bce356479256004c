"""lamina.learn: the library learner plugins build on.

Layered ``core <- learn <- plugins``: the host (``lamina.*`` outside this
package) never imports it at module level, and learner plugins import from it.

- :mod:`lamina.learn.validation`: input and parameter checks, scores;
- :mod:`lamina.learn.base`: :class:`~lamina.learn.base.BaseLearner` and the
  classifier / regressor mixins (the scikit-learn estimator API);
- :mod:`lamina.learn.model_file`: fitted models saved and loaded without pickle;
- :mod:`lamina.learn.datasets`: CSV tables, column encoders and the bundled
  example tables (``data/``);
- :mod:`lamina.learn.cv`: stratified splits and the one cross-validation loop;
- :mod:`lamina.learn.torch`: devices, seeds, checkpoints and early stopping for
  torch learners (imported by torch plugins only);
- :mod:`lamina.learn.commands`: the ``lamina learn`` and ``lamina datasets`` commands;
- :mod:`lamina.learn.operations`: the learner pipeline operations, which this
  package registers as the ``learn`` plugin, as any plugin registers its own.
"""

from __future__ import annotations

from typing import Any

from lamina.hookspecs import hookimpl

#: The pipeline operations of learners, each a function of the same name in
#: :mod:`lamina.learn.operations`.
OPERATION_NAMES = ("dataset", "split", "cross_validate", "fit_generative")


@hookimpl
def lamina_register_operations(registry: Any) -> None:
    """Register the learner operations by name; pipelines import them on first use."""
    for name in OPERATION_NAMES:
        registry.add(name, f"lamina.learn.operations:{name}")
