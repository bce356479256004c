"""lamina plugin ``bayes``: the naive Bayes family as scikit-learn compatible learners.

Components (kind ``learner``): ``gaussian-nb``, ``multinomial-nb``,
``complement-nb``, ``bernoulli-nb``, ``categorical-nb`` and ``mixed-nb``.
(``lamina learn`` and ``lamina datasets``, which work with any learner, belong
to the host.)
"""

from __future__ import annotations

from typing import Any

from lamina import Tags, hookimpl

_MODULE = "lamina.plugins.bayes"

_LEARNERS = (
    (
        "gaussian-nb",
        "gaussian:GaussianNB",
        "continuous",
        "Gaussian naive Bayes (normal features per class)",
    ),
    (
        "multinomial-nb",
        "discrete:MultinomialNB",
        "counts",
        "Multinomial naive Bayes for counts (dense or sparse)",
    ),
    (
        "complement-nb",
        "discrete:ComplementNB",
        "counts",
        "Complement naive Bayes (Rennie et al. 2003) for unbalanced counts",
    ),
    ("bernoulli-nb", "discrete:BernoulliNB", "binary", "Bernoulli naive Bayes for binary features"),
    (
        "categorical-nb",
        "categorical:CategoricalNB",
        "categorical",
        "Categorical naive Bayes; unseen categories add no evidence",
    ),
    (
        "mixed-nb",
        "categorical:MixedNB",
        "mixed",
        "Naive Bayes for mixed tables: Gaussian numeric + categorical columns",
    ),
)


@hookimpl
def lamina_register_learners(registry: Any) -> None:
    for name, factory, input_data, summary in _LEARNERS:
        registry.add(
            name,
            f"{_MODULE}.{factory}",
            summary=summary,
            tags=Tags(deterministic=True, learner_type="classifier", input_data=input_data),
        )
