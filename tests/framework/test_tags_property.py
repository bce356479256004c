"""Tags on a seeded grid of random tag sets, for every built-in kind and a plugin's kind.

A valid set round-trips (the filled-in tags equal themselves checked again, their
mapping, their pickle; equal tags hash equal) and compares as the independent
reference (the filled-in mapping, ``requires`` as a tuple) says. A set with one
wrong value is refused with a message naming who registered it, the tag, the value
and the values allowed; ``1``/``0``/``1.0``/``numpy.True_`` are not booleans.
"""

from __future__ import annotations

import pickle
import random
from typing import Any

import numpy as np
import pytest

from lamina.kinds import Kind, TagField, Tags, builtin_kinds

from . import denoise_kind

KINDS = (*builtin_kinds(), denoise_kind.KIND)
OWNER = "plugin 'grid', thing 'one'"
MODULES = ("torch", "scipy", "numba", "cupy")
# Values that compare equal to a choice (or are near one) but are not one.
LOOKALIKES: dict[Any, list[Any]] = {
    True: [1, 1.0, np.True_, "True", "true"],
    False: [0, 0.0, np.False_, "", "False", []],
    None: [0, False, "", "None", ()],
}


def _valid(tag: TagField, rng: random.Random) -> Any:
    if tag.choices is not None:
        return rng.choice(tag.choices)
    # `requires`, the one tag without choices: module names, as a tuple or a list.
    modules = rng.sample(MODULES, rng.randint(0, 3))
    return modules if rng.random() < 0.5 else tuple(modules)


def _invalid(tag: TagField, rng: random.Random) -> Any:
    if tag.choices is None:
        return rng.choice(["torch", b"torch", 3, [1], ("torch", None)])
    lookalikes = [
        v
        for c in tag.choices
        for v in (LOOKALIKES[c] if c in (True, False, None) else [c.upper(), c + " ", c.encode()])
    ]
    return rng.choice([*lookalikes, "other", 2, 0.5])


def _expected(kind: Kind, given: dict[str, Any]) -> dict[str, Any]:
    """The reference: every tag of the kind, given or defaulted, ``requires`` a tuple."""
    filled = {tag.name: given.get(tag.name, tag.default) for tag in kind.all_tags()}
    return {**filled, "requires": tuple(filled["requires"])}


def _random_valid(kind: Kind, rng: random.Random) -> dict[str, Any]:
    tags = kind.all_tags()
    return {tag.name: _valid(tag, rng) for tag in rng.sample(tags, rng.randint(0, len(tags)))}


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_valid_tag_sets_round_trip(kind: Kind) -> None:
    rng = random.Random(f"valid {kind.name}")
    checked = []
    for _ in range(150):
        given = _random_valid(kind, rng)
        tags = kind.tags_for(given, owner=OWNER)
        assert tags.as_dict() == _expected(kind, given), given
        again = [
            kind.tags_for(tags),
            Tags.coerce(tags.as_dict()),
            pickle.loads(pickle.dumps(tags)),
            kind.tags_for(Tags(**given)),
        ]
        assert all(t == tags and hash(t) == hash(tags) for t in again), given
        checked.append(tags)
    # Across sets: equal exactly when the reference mappings are, and equal hash equal.
    for a in checked[:60]:
        for b in checked[:60]:
            assert (a == b) == (a.as_dict() == b.as_dict())
            assert a != b or hash(a) == hash(b)
    assert len(set(checked)) == len({tuple(t.as_dict().items()) for t in checked}) > 10


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_a_tag_set_with_one_wrong_value_is_refused_naming_it(kind: Kind) -> None:
    rng = random.Random(f"invalid {kind.name}")
    for _ in range(150):
        given = _random_valid(kind, rng)
        tag = rng.choice(kind.all_tags())
        given[tag.name] = bad = _invalid(tag, rng)
        with pytest.raises((TypeError, ValueError)) as raised:
            kind.tags_for(given, owner=OWNER)
        message = str(raised.value)
        assert message.startswith(f"{OWNER}: tag {tag.name}={bad!r}"), message
        if tag.choices is not None:
            assert isinstance(raised.value, ValueError)
            assert f"({type(bad).__name__}) for a {kind.name}: expected one of" in message
            assert message.endswith(str(list(tag.choices))), message


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_an_unknown_tag_is_refused_naming_the_valid_ones(kind: Kind) -> None:
    rng = random.Random(f"unknown {kind.name}")
    others = {t.name for k in KINDS for t in k.tags} - {t.name for t in kind.tags}
    for name in [*sorted(others), "bogus", "Exact", "gpu_"]:
        given = {**_random_valid(kind, rng), name: True}
        with pytest.raises(TypeError) as raised:
            kind.tags_for(given, owner=OWNER)
        assert str(raised.value) == (
            f"{OWNER}: unknown tag(s) [{name!r}] for a {kind.name}; "
            f"valid tags: {sorted(t.name for t in kind.all_tags())}"
        )
