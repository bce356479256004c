"""The CN2 rule learner (Clark & Niblett 1989; Clark & Boswell 1991)."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from array_api_compat import numpy as numpy_namespace

from lamina import store
from lamina.array_api import foreign_namespace, labels_at
from lamina.errors import InputError
from lamina.learn.base import BaseLearner, ClassifierMixin
from lamina.learn.datasets import categorical_mask, encode_column, numeric_columns
from lamina.learn.validation import (
    check_array,
    check_classification_targets,
    check_number,
    feature_names_of,
)
from lamina.memory import array_bytes, check_allocation
from lamina.plugins.cn2.foreign import foreign_probabilities
from lamina.plugins.cn2.rules import Condition, Rule, flexible_counts
from lamina.plugins.cn2.search import (
    ConditionSpace,
    SearchSettings,
    candidate_bytes,
    find_best_complex,
    pack_rows,
    popcount,
)

__all__ = ["CN2Classifier", "candidate_thresholds"]

_QUALITIES = ("entropy", "laplace", "wracc")

#: The rule file's ``format`` and the one ``version`` this lamina writes and reads.
RULES_FORMAT = "lamina-cn2"
RULES_VERSION = 3
#: Older versions this lamina still reads (version 1: no ranking list; 1 and 2:
#: no flexible matching).
_READABLE_VERSIONS = (1, 2, 3)
#: The line before the ranking list in :meth:`CN2Classifier.export_text`.
RANKING_HEADER = (
    "# ranking list (no significance tests; probabilities averaged with the list above)"
)
# Parsed JSON takes several times its text (a Python object per value); the
# guard's estimate for reading a rule file.
_JSON_EXPANSION = 16
# A Condition (frozen dataclass, its name and value) as tracemalloc counts it.
_CONDITION_OBJECT_BYTES = 300
# Class dtypes a rule file may name: text, numbers, booleans (to_json writes classes_.tolist()).
_CLASS_KINDS = frozenset("Uiufb")


def candidate_thresholds(values: np.ndarray, codes: np.ndarray, limit: int) -> np.ndarray:
    """Cut points for a numeric attribute: midpoints between consecutive distinct
    values whose class distributions differ (Fayyad & Irani's boundary points,
    where any entropy-optimal cut lies), thinned evenly to ``limit``."""
    present = ~np.isnan(values)
    values, codes = values[present], codes[present]
    if values.size < 2:
        return np.empty(0)
    distinct, group = np.unique(values, return_inverse=True)
    if distinct.size < 2:
        return np.empty(0)
    n_classes = int(codes.max()) + 1
    table = np.zeros((distinct.size, n_classes))
    np.add.at(table, (group, codes), 1.0)
    pure = (table > 0).sum(axis=1) == 1
    label = table.argmax(axis=1)
    same = pure[:-1] & pure[1:] & (label[:-1] == label[1:])
    low, high = distinct[:-1][~same], distinct[1:][~same]
    cuts = (low + high) / 2.0
    # 12 significant digits print as the midpoint a reader expects (0.65, not
    # 0.6499999999999999) and still split the two values apart.
    readable = np.array([float(f"{cut:.12g}") for cut in cuts])
    cuts = np.where((low <= readable) & (readable < high), readable, cuts)
    if cuts.size > limit:
        cuts = cuts[np.unique(np.round(np.linspace(0, cuts.size - 1, limit)).astype(int))]
    return cuts


class CN2Classifier(ClassifierMixin, BaseLearner):
    """CN2 rule induction: an ordered decision list or an unordered rule set.

    Ordered (Clark & Niblett 1989): repeatedly find the best complex on the
    remaining examples, make it a rule predicting the majority class of what
    it covers, and remove the covered examples; classify by the first rule
    that fires. Unordered (Clark & Boswell 1991): learn rules for each class in
    turn, removing only the covered examples of that class; classify by
    summing the class distributions of all rules that fire, and a row none
    fires on by partial matches (``flexible_matching``, Michalski et al.
    1986). Both end with a default rule. Complexes are found by beam search
    and must pass the likelihood-ratio significance test.

    A decision list's probabilities are the mean of its own and those of a
    second, test-free list (``ranking_list``): the tests keep the decision
    list short and its decisions robust, but they also lump together examples
    whose class mix differs, which ranking metrics (ROC AUC) see; the
    test-free list, learned by the same search, separates them. Unpruned
    models estimate probabilities better than pruned ones (Provost & Domingos
    2003 for trees).

    Conditions are ``attribute == value`` (and ``!=`` with ``negations``) for
    categorical attributes and ``attribute <= t`` / ``attribute > t`` for
    numeric ones, ``t`` from the boundary points between classes. A missing
    value (NaN, ``None``) satisfies no condition.

    Parameters
    ----------
    ordered : bool
        Learn a decision list (True) or an unordered rule set (False).
    beam_width : int
        Complexes kept at each step of the beam search.
    quality : {"entropy", "laplace", "wracc"}
        Search heuristic: entropy of the covered class distribution (CN2's
        original; for unordered rules it means Laplace), Laplace accuracy
        ``(n_c + 1) / (n + K)`` (Clark & Boswell 1991), or weighted relative
        accuracy for subgroup discovery (Lavrač et al. 2004).
    alpha : float
        Significance level of the likelihood-ratio test of a rule's class
        distribution against that of the examples it is learned from (Clark &
        Niblett's test); 1 turns it off.
    parent_alpha : float or None
        Significance level of a second test, of each refinement against the
        complex it refines (Orange's ``parent_alpha``); 1 turns it off. None:
        0.05 for a decision list (it keeps lists short under label noise) and
        off for an unordered rule set, whose rules for one class need
        conditions the test prunes (heart_disease: 0.753 accuracy with 0.1,
        0.786 without; benchmarks/learners.py).
    min_covered_examples : int
        Fewest examples (of the rule's class, for unordered rules) a rule covers.
    max_rule_length : int
        Most conditions in a rule. Complexes of more conditions cover so few
        examples that, among the thousands the beam search tries, some look
        pure by chance: on noisy data they become rules that fit the noise
        (unordered rule sets on 5,000 rows with 10% label noise: 0.898 accuracy
        and 240 rules with 3, 0.844 and 860 rules with 5, Orange's default).
    max_thresholds : int
        Most candidate thresholds per numeric attribute.
    negations : bool
        Also try ``attribute != value`` conditions.
    rule_distribution : {"training", "remaining"}
        Unordered rule sets only: the class distribution a rule keeps (and
        votes with), counted on the whole training set or on the examples left
        when the rule was learned (Orange's choice; a decision list always
        keeps the latter). Counting on the whole set is more robust to label
        noise: late rules that look pure on the remainder vote weakly.
    categorical_features : "auto", "all", None, or sequence of int / str / bool
        Which columns are categorical; ``"auto"``: those holding text,
        booleans or other non-numbers.
    ranking_list : bool
        Decision lists only: also learn the list without significance tests
        (``alpha`` and ``parent_alpha`` 1) and average the two lists'
        probabilities, which also decide the predicted class. Ten-fold ROC
        AUC over five fold seeds, decision list alone / with it
        (``benchmarks/cn2_fold_seeds.py``): heart_disease 0.733 / 0.793,
        titanic 0.7543 / 0.7552, zoo 0.979 / 0.986, accuracy within 0.01
        except synthetic-1000 (0.824 / 0.812). Fitting costs about twice as
        much. Nothing changes when both tests are off already.
    flexible_matching : bool
        Unordered rule sets only: a row no rule fires on takes the class
        counts of every rule, each weighted by the fraction of the rule's
        conditions the row satisfies (AQ15's flexible matching), instead of
        the default rule's (which still answers for a row that satisfies no
        condition at all). The rules of a rare class are specific, so its
        examples are the ones most often left uncovered; the default rule
        ranks them with the majority. Ten-fold ROC AUC over five fold seeds,
        off / on: zoo 0.972 / 0.996 (Orange 0.973), lenses 0.886 / 0.899,
        heart_disease 0.856 / 0.860, synthetic-1000 0.863 / 0.866, iris and
        titanic unchanged.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    rules_ : list of Rule
        The rules, default rule last (conditions empty).
    ranking_rules_ : list of Rule
        The test-free list whose probabilities are averaged with the decision
        list's (default rule last); empty without one (``ranking_list`` off,
        both tests off, or an unordered rule set).
    categorical_ : ndarray of bool, shape (n_features,)
    categories_ : list of ndarray of str
        Categories of each categorical column (empty for numeric ones).
    feature_names_ : ndarray of str
        Column names used in the rules.
    n_features_in_ : int

    References
    ----------
    .. [1] P. Clark, T. Niblett (1989). "The CN2 induction algorithm."
       Machine Learning 3(4): 261-283.
    .. [2] P. Clark, R. Boswell (1991). "Rule induction with CN2: some recent
       improvements." EWSL-91, LNCS 482: 151-163.
    .. [3] U. M. Fayyad, K. B. Irani (1992). "On the handling of continuous-valued
       attributes in decision tree generation." Machine Learning 8: 87-102.
    .. [4] N. Lavrač, B. Kavšek, P. Flach, L. Todorovski (2004). "Subgroup
       discovery with CN2-SD." JMLR 5: 153-188.
    .. [5] F. Provost, P. Domingos (2003). "Tree induction for probability-based
       ranking." Machine Learning 52(3): 199-215.
    .. [6] R. S. Michalski, I. Mozetič, J. Hong, N. Lavrač (1986). "The
       multi-purpose incremental learning system AQ15 and its testing
       application to three medical domains." AAAI-86: 1041-1045.

    Examples
    --------
    >>> import numpy as np
    >>> from lamina.plugins.cn2.cn2 import CN2Classifier
    >>> X = np.array([["sunny", 30.0], ["sunny", 25.0], ["rain", 18.0], ["rain", 12.0]] * 5, dtype=object)
    >>> y = np.array(["no", "no", "yes", "yes"] * 5)
    >>> model = CN2Classifier().fit(X, y, feature_names=["outlook", "temperature"])
    >>> print(model.rules_[0])
    IF outlook == rain THEN class=yes [0, 10]
    >>> model.predict(np.array([["rain", 15.0]], dtype=object))
    array(['yes'], dtype='<U3')
    """

    def __init__(
        self,
        *,
        ordered: bool = True,
        beam_width: int = 5,
        quality: Literal["entropy", "laplace", "wracc"] = "entropy",
        alpha: float = 0.05,
        parent_alpha: float | None = None,
        min_covered_examples: int = 1,
        max_rule_length: int = 3,
        max_thresholds: int = 32,
        negations: bool = False,
        rule_distribution: Literal["training", "remaining"] = "training",
        categorical_features: str | tuple[int, ...] | tuple[str, ...] | None = "auto",
        ranking_list: bool = True,
        flexible_matching: bool = True,
    ) -> None:
        self.ordered = ordered
        self.beam_width = beam_width
        self.quality = quality
        self.alpha = alpha
        self.parent_alpha = parent_alpha
        self.min_covered_examples = min_covered_examples
        self.max_rule_length = max_rule_length
        self.max_thresholds = max_thresholds
        self.negations = negations
        self.rule_distribution = rule_distribution
        self.categorical_features = categorical_features
        self.ranking_list = ranking_list
        self.flexible_matching = flexible_matching

    def _check_params(self) -> None:
        owner = "CN2Classifier"
        for name in ("ordered", "negations", "ranking_list", "flexible_matching"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise InputError(
                    f"parameter {name!r} of {owner} must be a bool, got {getattr(self, name)!r}"
                )
        check_number("beam_width", self.beam_width, integer=True, low=1, owner=owner)
        check_number(
            "min_covered_examples", self.min_covered_examples, integer=True, low=1, owner=owner
        )
        check_number("max_rule_length", self.max_rule_length, integer=True, low=1, owner=owner)
        check_number("max_thresholds", self.max_thresholds, integer=True, low=1, owner=owner)
        for name in ("alpha", "parent_alpha"):
            if getattr(self, name) is not None or name == "alpha":
                check_number(
                    name, getattr(self, name), low=0.0, high=1.0, low_inclusive=False, owner=owner
                )
        if self.rule_distribution not in ("training", "remaining"):
            raise InputError(
                f"parameter 'rule_distribution' of {owner} must be 'training' or 'remaining', "
                f"got {self.rule_distribution!r}"
            )
        if self.quality not in _QUALITIES:
            raise InputError(
                f"parameter 'quality' of {owner} must be one of {_QUALITIES}, got {self.quality!r}"
            )

    # -- data ----------------------------------------------------------------------------
    def _table(
        self, X: Any, *, reset: bool, feature_names: Sequence[str] | None = None
    ) -> list[np.ndarray]:
        """Columns of ``X``: float arrays (NaN = missing) for numeric attributes,
        integer codes into ``categories_`` (-1 = missing / unseen) for categorical ones."""
        names = feature_names_of(X)
        array = check_array(X, dtype=None, allow_nan=True, owner="CN2Classifier")
        self._check_features(array.shape[1], names, reset=reset)
        if reset:
            if feature_names is not None:
                given = [str(n) for n in feature_names]
                if len(given) != array.shape[1]:
                    raise InputError(
                        f"feature_names has {len(given)} names for {array.shape[1]} columns"
                    )
                names = np.asarray(given, dtype=object)
            if names is None:
                names = np.asarray([f"x{j}" for j in range(array.shape[1])], dtype=object)
            self.feature_names_ = names
            self.categorical_ = categorical_mask(
                array, self.categorical_features, list(names), owner="CN2Classifier"
            )
        numeric = numeric_columns(array, ~self.categorical_, list(self.feature_names_))
        if np.isinf(numeric).any():
            raise InputError("Input X contains infinity in a numeric column")
        columns: list[np.ndarray] = []
        numeric_index = 0
        for j in range(array.shape[1]):
            if self.categorical_[j]:
                known = self.categories_[j] if not reset else None
                encoded = encode_column(array[:, j], known)
                if reset:
                    self.categories_.append(encoded.categories)
                columns.append(encoded.codes)
            else:
                if reset:
                    self.categories_.append(np.array([], dtype=str))
                columns.append(numeric[:, numeric_index])
                numeric_index += 1
        return columns

    def _conditions(
        self, columns: list[np.ndarray], codes: np.ndarray, n_classes: int
    ) -> tuple[list[Condition], np.ndarray, np.ndarray]:
        """Every candidate condition, its coverage (one boolean row each) and its
        slot (conditions sharing a slot never meet in one complex)."""
        operators = ("==", "!=") if self.negations else ("==",)
        cuts = {
            j: candidate_thresholds(column, codes, self.max_thresholds)
            for j, column in enumerate(columns)
            if not self.categorical_[j]
        }
        n_conditions = sum(
            len(operators) * len(self.categories_[j]) if self.categorical_[j] else 2 * len(cuts[j])
            for j in range(len(columns))
        )
        self._check_search_memory(n_conditions, len(codes), n_classes)
        conditions: list[Condition] = []
        masks: list[np.ndarray] = []
        slots: list[np.ndarray] = []
        for j, column in enumerate(columns):
            name = str(self.feature_names_[j])
            if self.categorical_[j]:
                values = self.categories_[j]
                equal = column[None, :] == np.arange(len(values))[:, None]
                conditions += [Condition(j, name, op, str(v)) for op in operators for v in values]
                masks.append(equal)
                if self.negations:
                    masks.append((column >= 0)[None, :] & ~equal)
                slots.append(np.full(len(operators) * len(values), len(slots)))
            else:
                for op, covered in (
                    ("<=", column[None, :] <= cuts[j][:, None]),
                    (">", column[None, :] > cuts[j][:, None]),
                ):
                    conditions += [Condition(j, name, op, float(c)) for c in cuts[j]]
                    masks.append(covered)
                    slots.append(np.full(len(cuts[j]), len(slots)))
        if not conditions:
            return conditions, np.zeros((0, len(codes)), dtype=bool), np.zeros(0, dtype=np.int64)
        return conditions, np.concatenate(masks), np.concatenate(slots)

    def _check_search_memory(self, n_conditions: int, n_samples: int, n_classes: int) -> None:
        """Refuse, before building it, a condition space that cannot fit.

        Per candidate condition: its boolean coverage row and the copy
        ``np.concatenate`` makes (``2 n`` bytes), its bitset, its bitset per class
        and its bitset again beside those (``8 w (K + 2)``), its ``Condition`` object, and per beam complex
        the search's work on it as a candidate (``search.candidate_bytes``). Linear in rows x
        columns: nothing is per pair of columns. (200 rows x 2,000 numeric columns: 167 MB
        estimated, 102 MB measured by tracemalloc.)
        """
        words = (n_samples + 63) // 64
        per_condition = (
            2 * n_samples
            + 8 * words * (n_classes + 2)
            + _CONDITION_OBJECT_BYTES
            + self.beam_width * candidate_bytes(n_classes)
        )
        check_allocation(
            n_conditions * per_condition + array_bytes((n_samples, 4), np.float64),
            what=(
                f"CN2's search over {n_conditions:,} candidate conditions on {n_samples:,} rows "
                f"and {n_classes} classes"
            ),
            fix=(
                "use fewer rows or columns, lower max_thresholds or beam_width, or mark "
                "high-cardinality columns (identifiers) as ignored"
            ),
        )

    # -- learning --------------------------------------------------------------------------
    def fit(self, X: Any, y: Any, feature_names: Sequence[str] | None = None) -> CN2Classifier:
        """Learn the rules.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numbers, text or a mix (object array or DataFrame); NaN/``None`` = missing.
        y : array-like of shape (n_samples,)
            Class labels.
        feature_names : sequence of str, optional
            Column names for the rules (by default a DataFrame's columns, else x0, x1, ...).
        """
        self._check_params()
        for name in ("categories_", "rules_", "ranking_rules_"):
            self.__dict__.pop(name, None)
        self.categories_: list[np.ndarray] = []
        columns = self._table(X, reset=True, feature_names=feature_names)
        classes, codes = check_classification_targets(y, len(columns[0]))
        if len(classes) < 2:
            raise InputError(
                f"CN2Classifier needs at least two classes, but y has one class ({classes[0]!r})"
            )
        self.classes_ = classes
        conditions, masks, slots = self._conditions(columns, codes, len(classes))
        class_masks = codes[None, :] == np.arange(len(classes))[:, None]
        space = ConditionSpace(
            pack_rows(masks) if len(masks) else np.zeros((0, (len(codes) + 63) // 64), np.uint64),
            pack_rows(class_masks),
            slots,
        )
        settings = SearchSettings(
            beam_width=int(self.beam_width),
            max_rule_length=int(self.max_rule_length),
            min_covered_examples=int(self.min_covered_examples),
            quality="laplace"
            if (self.quality == "entropy" and not self.ordered)
            else str(self.quality),
            critical_value=_critical_values(float(self.alpha), len(classes)),
            parent_critical_value=_critical_values(self._parent_alpha(), len(classes)),
        )
        labels = tuple(str(c) for c in classes)
        everyone = pack_rows(np.ones((1, len(codes)), dtype=bool))[0]
        learn = self._learn_ordered if self.ordered else self._learn_unordered
        self.rules_ = learn(space, settings, conditions, everyone, labels)
        self.ranking_rules_ = []
        if self.ordered and self.ranking_list and (settings.test or settings.parent_test):
            untested = _critical_values(1.0, len(classes))
            self.ranking_rules_ = self._learn_ordered(
                space,
                replace(settings, critical_value=untested, parent_critical_value=untested),
                conditions,
                everyone,
                labels,
            )
        return self

    def _parent_alpha(self) -> float:
        if self.parent_alpha is not None:
            return float(self.parent_alpha)
        return 0.05 if self.ordered else 1.0

    def _learn_ordered(
        self,
        space: ConditionSpace,
        settings: SearchSettings,
        conditions: list[Condition],
        everyone: np.ndarray,
        labels: tuple[str, ...],
    ) -> list[Rule]:
        rules: list[Rule] = []
        active = everyone.copy()
        while len(space.bits):
            remaining = space.distribution(active)
            if remaining.sum() < settings.min_covered_examples or (remaining > 0).sum() < 2:
                break
            found = find_best_complex(space, active, None, settings)
            if found is None:
                break
            rules.append(
                self._rule(
                    found.conditions,
                    found.counts,
                    int(np.argmax(found.counts)),
                    conditions,
                    labels,
                    found.quality,
                )
            )
            active = active & ~found.coverage
        remaining = space.distribution(active)
        default = remaining if remaining.sum() > 0 else space.distribution(everyone)
        rules.append(Rule((), int(np.argmax(default)), tuple(float(v) for v in default), labels))
        return rules

    def _learn_unordered(
        self,
        space: ConditionSpace,
        settings: SearchSettings,
        conditions: list[Condition],
        everyone: np.ndarray,
        labels: tuple[str, ...],
    ) -> list[Rule]:
        rules: list[Rule] = []
        for target in range(space.n_classes):
            active = everyone.copy()
            while len(space.bits):
                if popcount(active & space.class_bits[target]) < settings.min_covered_examples:
                    break
                found = find_best_complex(space, active, target, settings)
                if found is None:
                    break
                counts = found.counts
                if self.rule_distribution == "training":
                    coverage = everyone.copy()
                    for c in found.conditions:
                        coverage &= space.bits[c]
                    counts = space.distribution(coverage)
                rules.append(
                    self._rule(found.conditions, counts, target, conditions, labels, found.quality)
                )
                active = active & ~(found.coverage & space.class_bits[target])
        prior = space.distribution(everyone)
        rules.append(Rule((), int(np.argmax(prior)), tuple(float(v) for v in prior), labels))
        return rules

    @staticmethod
    def _rule(
        chosen: tuple[int, ...],
        counts: np.ndarray,
        prediction: int,
        conditions: list[Condition],
        labels: tuple[str, ...],
        quality: float,
    ) -> Rule:
        ordered = sorted(
            (conditions[c] for c in chosen),
            key=lambda c: (c.feature, c.op != "<=" and c.op != "=="),
        )
        return Rule(tuple(ordered), prediction, tuple(float(v) for v in counts), labels, quality)

    # -- prediction --------------------------------------------------------------------------
    def _coverage(self, X: Any) -> np.ndarray:
        """``(n_rules, n_samples)`` booleans: which rules fire on which samples,
        ``rules_`` then ``ranking_rules_``."""
        self._check_fitted()
        columns = self._table(X, reset=False)
        return self._fired(self._condition_tests(columns), len(columns[0]))

    def _condition_tests(self, columns: list[np.ndarray]) -> Callable[[Condition], np.ndarray]:
        """Each condition's booleans over the rows of ``columns``, evaluated once."""
        cache: dict[Condition, np.ndarray] = {}

        def test(condition: Condition) -> np.ndarray:
            if condition not in cache:
                cache[condition] = condition.evaluate(
                    columns[condition.feature], self.categories_[condition.feature]
                )
            return cache[condition]

        return test

    def _fired(self, test: Callable[[Condition], np.ndarray], n_samples: int) -> np.ndarray:
        rules = [*self.rules_, *self.ranking_rules_]
        fired = np.ones((len(rules), n_samples), dtype=bool)
        for r, rule in enumerate(rules):
            for condition in rule.conditions:
                fired[r] &= test(condition)
        return fired

    def predict_proba(self, X: Any) -> Any:
        """Class probabilities: the (Laplace-corrected) distribution of the first
        rule that fires (ordered; the mean of the decision list's and the
        ranking list's) or of the summed distributions of all rules that fire
        (unordered). A row no rule of an unordered set fires on takes the
        rules' distributions weighted by the fraction of their conditions it
        satisfies (``flexible_matching``), or the default rule's.

        An array of another library (torch, CuPy, ...: the array API) is
        evaluated there, on its device, and the probabilities are returned there.
        """
        xp = foreign_namespace(X)
        if xp is not None:
            self._check_fitted()
            return foreign_probabilities(self, X, xp)
        self._check_fitted()
        columns = self._table(X, reset=False)
        test = self._condition_tests(columns)
        fired = self._fired(test, len(columns[0]))
        if self.ordered:
            n_rules = len(self.rules_)
            proba = _first_rule_probabilities(self.rules_, fired[:n_rules])
            if self.ranking_rules_:
                ranking = _first_rule_probabilities(self.ranking_rules_, fired[n_rules:])
                proba = (proba + ranking) / 2.0
            return proba
        counts = np.array([rule.distribution for rule in self.rules_])
        # Rule by rule, not as one (samples x rules) float matrix product: memory
        # stays at (samples x classes) however many rules a file holds.
        summed = np.zeros((fired.shape[1], counts.shape[1]))
        for r in range(len(self.rules_) - 1):
            summed[fired[r]] += counts[r]
        none = ~fired[:-1].any(axis=0)
        summed[none] = counts[-1]
        if self.flexible_matching and len(self.rules_) > 1 and none.any():
            # Only the rows no rule fires on, from the tests the coverage evaluated.
            partial = flexible_counts(
                self.rules_[:-1],
                lambda condition: test(condition)[none],
                (int(np.count_nonzero(none)), counts.shape[1]),
                numpy_namespace,
                dtype=np.float64,
            )
            matched = partial.sum(axis=1) > 0
            summed[np.flatnonzero(none)[matched]] = partial[matched]
        return (summed + 1.0) / (summed.sum(axis=1, keepdims=True) + summed.shape[1])

    def predict_log_proba(self, X: Any) -> Any:
        """Logarithm of :meth:`predict_proba`."""
        proba = self.predict_proba(X)
        xp = foreign_namespace(proba)
        return np.log(proba) if xp is None else xp.log(proba)

    def predict(self, X: Any) -> Any:
        """The most probable class of each sample (for an array of another library:
        numeric labels in that library, text labels as NumPy)."""
        proba = self.predict_proba(X)
        xp = foreign_namespace(proba)
        if xp is None:
            return self.classes_[np.argmax(proba, axis=1)]
        return labels_at(self.classes_, xp.argmax(proba, axis=1), xp)

    # -- reading the model ------------------------------------------------------------------
    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "rules_")

    def export_text(self) -> str:
        """The rules, one per line, default rule last; then, after a line
        ``# ranking list``, the ranking list's rules, if there is one."""
        self._check_fitted()
        lines = [str(rule) for rule in self.rules_]
        if self.ranking_rules_:
            lines += [RANKING_HEADER, *(str(rule) for rule in self.ranking_rules_)]
        return "\n".join(lines)

    def to_json(self) -> str:
        """The fitted model (parameters, columns, categories, classes, rules) as JSON."""
        self._check_fitted()
        document = {
            "format": RULES_FORMAT,
            "version": RULES_VERSION,
            "params": {
                k: (list(v) if isinstance(v, tuple) else v) for k, v in self.get_params().items()
            },
            "classes": self.classes_.tolist(),
            "classes_dtype": self.classes_.dtype.str,
            "feature_names": [str(n) for n in self.feature_names_],
            "feature_names_in": None
            if not hasattr(self, "feature_names_in_")
            else list(self.feature_names_in_),
            "categorical": self.categorical_.tolist(),
            "categories": [c.tolist() for c in self.categories_],
            "rules": [rule.to_dict() for rule in self.rules_],
            "ranking_rules": [rule.to_dict() for rule in self.ranking_rules_],
        }
        return json.dumps(document, indent=2)

    @classmethod
    def from_json(cls, text: str, *, source: str = "rule file") -> CN2Classifier:
        """Rebuild a fitted model from :meth:`to_json` output, checking every part of it.

        Parameters
        ----------
        text : str
            The JSON document.
        source : str
            What to call the document in error messages, e.g. ``"rule file 'r.json'"``.

        Raises
        ------
        InputError
            One error naming ``source`` for anything that is not a rule file this
            version wrote: not JSON, another format or version, missing or
            mistyped keys, rules naming columns or classes the model lacks.
        """
        try:
            document = json.loads(text)
        except (ValueError, RecursionError) as error:
            raise InputError(f"{source} is not JSON: {error}") from None
        if not isinstance(document, dict) or document.get("format") != RULES_FORMAT:
            raise InputError(
                f"{source} is not a lamina CN2 rule file (format must be {RULES_FORMAT!r})"
            )
        version = document.get("version")
        if type(version) is not int or version not in _READABLE_VERSIONS:
            raise InputError(
                f"{source} has format version {version!r}; this lamina reads versions "
                f"{', '.join(map(str, _READABLE_VERSIONS))} (learn the rules again with this lamina)"
            )
        with store.errors_naming(source):
            return cls._from_document(document)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> CN2Classifier:
        """Read a rule file written by ``lamina rules --output`` (see :meth:`from_json`)."""
        file = Path(path)
        source = f"rule file {str(file)!r}"
        if not file.is_file():
            raise InputError(f"{source} does not exist")
        check_allocation(
            _JSON_EXPANSION * file.stat().st_size,
            what=f"reading {source}",
            fix="check that it is a CN2 rule file written by 'lamina rules --output'",
        )
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise InputError(f"{source} is not UTF-8 text") from None
        except OSError as error:
            raise InputError(f"{source} cannot be read: {error.strerror}") from None
        return cls.from_json(text, source=source)

    @classmethod
    def _from_document(cls, document: dict[str, Any]) -> CN2Classifier:
        params: dict[str, Any] = {
            k: (tuple(v) if isinstance(v, list) else v) for k, v in document["params"].items()
        }
        if document["version"] < 3:  # written before flexible matching: predicts as it did
            params.setdefault("flexible_matching", False)
        # Version 1 was written before ranking lists: without one it predicts as it did.
        ranking_rules = document.get("ranking_rules") if document["version"] > 1 else []
        if not isinstance(ranking_rules, list):
            raise InputError("ranking_rules must be a list of rules")
        model = cls(**params)
        model._check_params()
        model.classes_ = _classes_from(document["classes"], document["classes_dtype"])
        names = [_text(n, "feature_names") for n in document["feature_names"]]
        if len(set(names)) != len(names):
            raise InputError("feature_names repeats a name")
        n_features = len(names)
        model.feature_names_ = np.asarray(names, dtype=object)
        model.n_features_in_ = n_features
        if document.get("feature_names_in") is not None:
            given = [_text(n, "feature_names_in") for n in document["feature_names_in"]]
            if len(given) != n_features:
                raise InputError(
                    f"feature_names_in has {len(given)} names for {n_features} columns"
                )
            model.feature_names_in_ = np.asarray(given, dtype=object)
        categorical = document["categorical"]
        if len(categorical) != n_features or not all(isinstance(c, bool) for c in categorical):
            raise InputError(f"categorical must be {n_features} true/false values")
        model.categorical_ = np.asarray(categorical, dtype=bool)
        categories = document["categories"]
        if len(categories) != n_features:
            raise InputError(f"categories has {len(categories)} lists for {n_features} columns")
        model.categories_ = [
            np.asarray([_text(v, "categories") for v in c], dtype=str) for c in categories
        ]
        model.rules_ = [Rule.from_dict(r) for r in document["rules"]]
        model.ranking_rules_ = [Rule.from_dict(r) for r in ranking_rules]
        model._check_rules()
        return model

    @classmethod
    def from_state(cls, params: Mapping[str, Any], state: Mapping[str, Any]) -> CN2Classifier:
        # A model saved before flexible matching has no such parameter: it predicts as it did.
        return super().from_state({"flexible_matching": False, **params}, state)

    def _set_state(self, state: dict[str, Any]) -> None:
        # A model saved before ranking lists has none: it predicts as it did.
        super()._set_state({"ranking_rules_": [], **state})

    def _check_state(self) -> None:
        """The fitted attributes read from a model file: columns, their kinds and
        categories, classes, and rules that fit them (as for a rule file)."""
        super()._check_state()
        n_features = self.n_features_in_
        classes = getattr(self, "classes_", None)
        if classes is None or classes.dtype.kind not in _CLASS_KINDS:
            raise InputError("fitted classes_ must be an array of text, numbers or booleans")
        names = getattr(self, "feature_names_", None)
        if (
            not isinstance(names, np.ndarray)
            or names.shape != (n_features,)
            or not all(isinstance(n, str) for n in names.tolist())
            or len(set(names.tolist())) != n_features
        ):
            raise InputError(f"fitted feature_names_ must be {n_features} distinct names")
        categorical = getattr(self, "categorical_", None)
        if (
            not isinstance(categorical, np.ndarray)
            or categorical.dtype != bool
            or (categorical.shape != (n_features,))
        ):
            raise InputError(f"fitted categorical_ must be {n_features} booleans")
        categories = getattr(self, "categories_", None)
        if (
            not isinstance(categories, list)
            or len(categories) != n_features
            or not all(isinstance(c, np.ndarray) and c.ndim == 1 for c in categories)
            or any(c.size and c.dtype.kind != "U" for c in categories)
        ):
            raise InputError(f"fitted categories_ must be {n_features} 1-D arrays of text")
        for name in ("rules_", "ranking_rules_"):
            rules = getattr(self, name, None)
            if not isinstance(rules, list) or not all(isinstance(rule, Rule) for rule in rules):
                raise InputError(f"fitted {name} must be a list of rules")
        self._check_rules()

    def _check_rules(self) -> None:
        """Every rule names this model's classes and columns; each list ends with
        its default rule; only a decision list has a ranking list."""
        labels = tuple(str(c) for c in self.classes_)
        for kind, rules in (("rule", self.rules_), ("ranking rule", self.ranking_rules_)):
            for number, rule in enumerate(rules, start=1):
                self._check_rule(f"{kind} {number}", rule, labels)
        if not self.rules_ or self.rules_[-1].conditions:
            raise InputError("the last rule must be the default rule (no conditions)")
        if self.ranking_rules_ and self.ranking_rules_[-1].conditions:
            raise InputError("the last ranking rule must be the default rule (no conditions)")
        if self.ranking_rules_ and not self.ordered:
            raise InputError("an unordered rule set has no ranking rules")

    def _check_rule(self, which: str, rule: Rule, labels: tuple[str, ...]) -> None:
        """A loaded rule (``which``: "rule 3", "ranking rule 1") names this model's
        classes and columns, each with a fitting test."""
        if rule.classes != labels:
            raise InputError(f"{which} has classes {list(rule.classes)}, the model {list(labels)}")
        for condition in rule.conditions:
            j = condition.feature
            if not 0 <= j < self.n_features_in_:
                raise InputError(
                    f"{which} tests column {j}, but the model has {self.n_features_in_} columns"
                )
            if condition.name != self.feature_names_[j]:
                raise InputError(
                    f"{which} calls column {j} {condition.name!r}, the model "
                    f"{self.feature_names_[j]!r}"
                )
            if condition.numeric == bool(self.categorical_[j]):
                kind = "categorical" if self.categorical_[j] else "numeric"
                raise InputError(
                    f"{which} tests {kind} column {condition.name!r} with {condition.op!r}"
                )

    def align_columns(self, X: Any, names: Sequence[str], *, source: str = "the model") -> Any:
        """The columns of ``X`` (named ``names``) that the rules read, matched by name
        and put in the order the model was fitted with.

        Parameters
        ----------
        X : array of shape (n_samples, len(names))
        names : sequence of str
            Column names of ``X``.
        source : str
            What to call the model in the error for missing columns.

        Raises
        ------
        InputError
            ``X`` lacks a column the model was fitted on.
        """
        self._check_fitted()
        position = {str(name): j for j, name in enumerate(names)}
        missing = [str(n) for n in self.feature_names_ if str(n) not in position]
        if missing:
            shown = ", ".join(repr(n) for n in missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise InputError(
                f"the table lacks {len(missing)} column(s) {source} was fitted on: {shown}{more}; "
                "use a table with those columns"
            )
        return np.asarray(X)[:, [position[str(n)] for n in self.feature_names_]]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.categorical = False
        return tags


def _first_rule_probabilities(rules: list[Rule], fired: np.ndarray) -> np.ndarray:
    """A decision list's probabilities: those of the first rule that fires."""
    table = np.array([rule.probabilities() for rule in rules])
    return table[np.argmax(fired, axis=0)]


def _text(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise InputError(f"{key} must hold text, got {value!r}")
    return value


def _classes_from(values: Any, dtype_text: Any) -> np.ndarray:
    """The saved classes in their saved dtype, refusing dtypes to_json never writes
    (objects, or a text width that would allocate gigabytes)."""
    dtype = np.dtype(_text(dtype_text, "classes_dtype"))
    if dtype.kind not in _CLASS_KINDS:
        raise InputError(f"classes_dtype must be text, a number or a bool, got {dtype_text!r}")
    if not isinstance(values, list) or not values:
        raise InputError("classes must be a non-empty list")
    if not all(isinstance(v, (str, int, float, bool)) for v in values):
        raise InputError("classes must be text, numbers or booleans")
    classes = np.asarray(values, dtype=str if dtype.kind == "U" else dtype)
    if len(np.unique(classes)) != len(classes):
        raise InputError("classes repeats a class")
    return classes


@functools.lru_cache(maxsize=64)
def _critical_values(alpha: float, n_classes: int) -> np.ndarray:
    """Chi-square critical values for 0..n_classes-1 degrees of freedom (0 = no test).

    Cached (read-only): scipy's ``chdtri`` costs about half a millisecond a call
    through its array-API dispatch, a tenth of fitting a table like titanic.
    """
    values = np.zeros(max(2, n_classes))
    if alpha < 1.0:
        from scipy.special import chdtri

        values[1:] = chdtri(np.arange(1, len(values)), alpha)
    values.flags.writeable = False
    return values
