"""Damaged VAE checkpoints: truncated, bit-flipped, cut-out and edited copies either load as a
working model or raise one InputError naming the file; nothing else escapes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lamina.errors import InputError  # noqa: E402
from lamina.learn.torch import load_checkpoint, save_checkpoint  # noqa: E402
from lamina.plugins.torch_vae.vae import VariationalAutoencoder  # noqa: E402
from lamina.testing.damage import damaged  # noqa: E402

FORMAT = "lamina-vae-checkpoint"
_HOSTILE = [None, -1, 0, 10**12, 1e308, float("nan"), "x", [], {}, True, [1, 2], (10**9,)]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    X = (np.random.default_rng(0).random((40, 6)) > 0.5).astype(float)
    model = VariationalAutoencoder(
        latent_dim=2, hidden=(4,), max_epochs=2, random_state=0, device="cpu"
    ).fit(X)
    path = tmp_path_factory.mktemp("ckpt") / "vae.pt"
    model.save_checkpoint(path)
    return path, X


def _leaves(value, prefix=()):
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaves(v, (*prefix, k))]
    if isinstance(value, list | tuple) and value:
        return [p for i, v in enumerate(value) for p in _leaves(v, (*prefix, i))]
    return [prefix]


def _replace(document, where, value):
    for key in where[:-1]:
        document = document[key]
    if isinstance(document, tuple):
        return False
    document[where[-1]] = value
    return True


def _edited_payload(data: bytes, rng: np.random.Generator, scratch: Path) -> bytes:
    scratch.write_bytes(data)
    payload = load_checkpoint(scratch, format=FORMAT)
    leaves = _leaves(payload)
    where = leaves[int(rng.integers(0, len(leaves)))]
    hostile = _HOSTILE[int(rng.integers(0, len(_HOSTILE)))]
    if where and "." in str(where[-1]):  # a weight of the wrong shape
        hostile = torch.zeros(int(rng.integers(1, 4)))
    _replace(payload, where, hostile)
    save_checkpoint(scratch, payload)
    return scratch.read_bytes()


def test_damaged_checkpoints_give_only_input_errors(tmp_path, checkpoint):
    """Seeded fuzz (widen ``range``)."""
    path, X = checkpoint
    data = path.read_bytes()
    rng = np.random.default_rng(0)
    bad = tmp_path / "fuzz.pt"
    outcomes = {"refused": 0, "loaded": 0}
    for trial in range(100):
        if trial % 4 == 3:
            bad.write_bytes(_edited_payload(data, rng, tmp_path / "scratch.pt"))
        else:
            bad.write_bytes(damaged(data, rng, trial))
        try:
            loaded = VariationalAutoencoder.load_checkpoint(bad)
        except InputError as error:
            assert str(bad) in str(error), error
            assert "\n" not in str(error)
            outcomes["refused"] += 1
            continue
        # A copy that loads is a working model.
        assert loaded.transform(X).shape == (len(X), 2)
        outcomes["loaded"] += 1
    assert outcomes["refused"] > 50, outcomes


def test_a_checkpoint_asking_for_a_huge_network_is_refused_before_building(tmp_path, checkpoint):
    path, _ = checkpoint
    payload = load_checkpoint(path, format=FORMAT)
    payload["params"]["hidden"] = [10**9, 10**9]
    bad = tmp_path / "huge.pt"
    save_checkpoint(bad, payload)
    with pytest.raises(InputError, match=r"huge\.pt.*does not fit"):
        VariationalAutoencoder.load_checkpoint(bad)


_REMOVED = object()


def test_resuming_from_an_edited_checkpoint_gives_only_input_errors(tmp_path, checkpoint):
    """Seeded: a hostile value at a random leaf of the saved state (fitted values,
    monitor, generators, optimiser), and three edits that raised KeyError,
    AttributeError and ValueError from ``fit(resume_from=...)``; each resume either
    runs or raises one InputError naming the file."""
    path, X = checkpoint
    payload = load_checkpoint(path, format=FORMAT)
    edits = [
        (("fitted", "n_epochs"), _REMOVED),
        (("fitted", "history"), [1]),
        (("fitted", "image_shape"), [1, 2]),
    ]
    rng = np.random.default_rng(1)
    leaves = [p for p in _leaves(payload) if p[0] in ("fitted", "monitor", "rng", "optimizer")]
    for _ in range(24):
        where = leaves[int(rng.integers(0, len(leaves)))]
        edits.append((where, _HOSTILE[int(rng.integers(0, len(_HOSTILE)))]))
    bad = tmp_path / "edited.pt"
    refused = 0
    for where, value in edits:
        edited = load_checkpoint(path, format=FORMAT)
        if value is _REMOVED:
            del edited[where[0]][where[1]]
        elif not _replace(edited, where, value):
            continue
        save_checkpoint(bad, edited)
        learner = VariationalAutoencoder(
            latent_dim=2, hidden=(4,), max_epochs=3, random_state=0, device="cpu"
        )
        try:
            learner.fit(X, resume_from=bad)
        except InputError as error:
            assert str(error).startswith(f"checkpoint {str(bad)!r}"), (where, error)
            assert "\n" not in str(error)
            refused += 1
    assert refused >= 3
