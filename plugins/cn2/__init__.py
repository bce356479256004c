"""lamina plugin ``cn2``: CN2 rule induction as a scikit-learn compatible learner.

Component (kind ``learner``): ``cn2`` (ordered decision list or unordered rule
set). Command: ``lamina rules`` prints the rules learned from a table. The
plugin also ships the example tables in ``data/`` (iris, lenses, titanic, zoo).
"""

from __future__ import annotations

from typing import Any

from lamina import Tags, hookimpl


@hookimpl
def lamina_register_learners(registry: Any) -> None:
    registry.add(
        "cn2",
        "lamina.plugins.cn2.cn2:CN2Classifier",
        summary="CN2 rule induction (Clark & Niblett 1989; Clark & Boswell 1991), ordered or unordered",
        tags=Tags(deterministic=True, learner_type="classifier", input_data="mixed"),
    )


@hookimpl
def lamina_register_commands(cli: Any) -> None:
    cli.add(
        "rules",
        "lamina.plugins.cn2.cli:rules",
        summary="Print CN2's rule list for a table (default rule last), with class counts.",
    )
