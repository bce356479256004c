"""lamina.learn.torch checkpoints: every damaged file is one InputError naming it.

The format-level fuzz is a seeded loop (hypothesis is not a dependency);
``LAMINA_FUZZ_CASES`` widens it, as in test_io_fuzz.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lamina.errors import InputError  # noqa: E402
from lamina.learn.torch import build_for_state, load_checkpoint, save_checkpoint  # noqa: E402
from lamina.testing.damage import damaged  # noqa: E402

CASES = int(os.environ.get("LAMINA_FUZZ_CASES", "60"))
FORMAT = "lamina-test-checkpoint"


def _payload() -> dict:
    return {
        "format": FORMAT,
        "params": {"hidden": [4, 3], "name": "x"},
        "model": {"weight": torch.arange(12.0).reshape(3, 4), "bias": torch.zeros(3)},
    }


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("ckpt") / "good.pt"
    save_checkpoint(path, _payload())
    return path.read_bytes()


def _refused(path: Path, match: str | None = None) -> str:
    with pytest.raises(InputError, match=match) as caught:
        load_checkpoint(path, format=FORMAT)
    message = str(caught.value)
    assert str(path) in message and "\n" not in message, message
    return message


def test_a_saved_checkpoint_loads_back(tmp_path, saved):
    path = tmp_path / "good.pt"
    path.write_bytes(saved)
    loaded = load_checkpoint(path, format=FORMAT)
    assert loaded["params"] == _payload()["params"]
    torch.testing.assert_close(loaded["model"]["weight"], _payload()["model"]["weight"])


class _Reducer:
    def __reduce__(self):
        return (print, ("code ran while loading a checkpoint",))


def test_a_torch_save_pickle_is_refused_unread(tmp_path, capsys):
    """Checkpoints before lamina.store were torch.save pickles: one InputError names
    the file and says to train again, and nothing in the pickle runs."""
    path = tmp_path / "old.pt"
    torch.save({**_payload(), "extra": _Reducer()}, path)
    message = _refused(path, "earlier lamina format")
    assert "torch.save pickle" in message and "train again" in message
    assert "code ran" not in capsys.readouterr().out


def test_optimizer_and_generator_states_round_trip(tmp_path):
    """What training checkpoints hold besides weights: an optimiser's state (a dict
    keyed by parameter index, 0-d step tensors) and a generator's byte state."""
    layer = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(layer.parameters())
    layer(torch.ones(4, 3)).sum().backward()
    optimizer.step()
    generator = torch.Generator().manual_seed(5)
    path = tmp_path / "train.pt"
    save_checkpoint(
        path,
        {"format": FORMAT, "optimizer": optimizer.state_dict(), "rng": [generator.get_state()]},
    )
    loaded = load_checkpoint(path, format=FORMAT)
    assert set(loaded["optimizer"]["state"]) == {0, 1}
    assert loaded["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    torch.testing.assert_close(
        loaded["optimizer"]["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"]
    )
    assert loaded["optimizer"]["state"][0]["step"].shape == ()
    again = torch.optim.Adam(layer.parameters())
    again.load_state_dict(loaded["optimizer"])
    restored = torch.Generator()
    restored.set_state(loaded["rng"][0])
    assert torch.equal(torch.rand(3, generator=restored), torch.rand(3, generator=generator))


def test_other_formats_and_missing_files(tmp_path, saved):
    path = tmp_path / "other.pt"
    save_checkpoint(path, {**_payload(), "format": "something-else"})
    assert "found format 'something-else'" in _refused(path)
    (tmp_path / "model.npz").write_bytes(b"")
    with pytest.raises(InputError, match="is empty"):
        load_checkpoint(tmp_path / "model.npz", format=FORMAT)
    with pytest.raises(InputError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt", format=FORMAT)


def test_damaged_copies_give_only_input_errors(tmp_path, saved):
    """Truncated, bit-flipped and cut copies: the payload back unchanged in its
    structure, or one InputError naming the file; nothing else escapes."""
    rng = np.random.default_rng(0)
    path = tmp_path / "fuzz.pt"
    refused = 0
    for case in range(CASES):
        path.write_bytes(damaged(saved, rng, case))
        try:
            loaded = load_checkpoint(path, format=FORMAT)
        except InputError as error:
            assert str(path) in str(error) and "\n" not in str(error), error
            refused += 1
            continue
        assert loaded["format"] == FORMAT
    assert refused > CASES // 2


def test_settings_that_break_the_constructor_are_input_errors():
    state = {"weight": torch.zeros(3, 4)}

    def build():
        channels, height, width = ()  # an edited image shape: ValueError in the constructor
        return torch.nn.Linear(channels * height * width, 3)

    with pytest.raises(InputError, match=r"'f\.pt': its settings do not describe a network"):
        build_for_state(build, state, source="f.pt")


def test_weights_of_another_shape_are_refused_before_allocating():
    state = {"weight": torch.zeros(3, 4), "bias": torch.zeros(3)}
    with pytest.raises(InputError, match=r"does not fit the network"):
        build_for_state(lambda: torch.nn.Linear(5, 3), state, source="f.pt")
    module = build_for_state(lambda: torch.nn.Linear(4, 3), state, source="f.pt")
    assert module.weight.shape == (3, 4)
