"""lamina.store, the one pickle-free store (issue 14): values round-trip through the
tree, the record and the file; classes are rebuilt only when allowed; files in the
formats before it are refused with the file's name and what to do."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lamina import store
from lamina.errors import InputError
from lamina.testing import damage


@dataclasses.dataclass(frozen=True)
class Point:
    x: float
    label: str
    weights: np.ndarray


class Interval:
    """Stored through to_dict / from_dict, which checks what it reads."""

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high

    def to_dict(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Interval:
        if not data["low"] <= data["high"]:
            raise InputError(f"interval {data} is reversed")
        return cls(data["low"], data["high"])


OURS = {f"{__name__}:Point", f"{__name__}:Interval"}


def allowed(name: str) -> bool:
    return name in OURS


def _value(rng: np.random.Generator) -> Any:
    """A nested value drawn from everything the store holds."""
    dtype = rng.choice(["<f8", "<f4", "<i8", "|u1", "|b1", "<c16", "<U3"])
    shape = tuple(int(n) for n in rng.integers(0, 4, size=int(rng.integers(0, 3))))
    array = np.asarray(rng.random(shape) * 10).astype(dtype)
    objects = np.empty(3, dtype=object)
    objects[:] = ["a", None, 2.5]
    return {
        "array": array,
        "f32": np.float32(rng.random()),
        "specials": [float("nan"), float("inf"), -float("inf"), -0.0],
        "tuple": (int(rng.integers(-(2**62), 2**62)), "x", None, True),
        "objects": objects,
        "nested": {"list": [array, {"deeper": (array.copy(),)}]},
        "point": Point(float(rng.random()), "p", rng.random(2)),
        "interval": Interval(-1.0, float(rng.random())),
        "text": "unicode ✓",
    }


def _same(a: Any, b: Any) -> None:
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
        assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b)
        for key in a:
            _same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    elif isinstance(a, Point):
        assert isinstance(b, Point) and (a.x, a.label) == (b.x, b.label)
        _same(a.weights, b.weights)
    elif isinstance(a, Interval):
        assert isinstance(b, Interval) and (a.low, a.high) == (b.low, b.high)
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b)
    else:
        assert (a == b and type(a) is type(b)) or (isinstance(a, np.generic) and a.item() == b)


@pytest.mark.parametrize("seed", range(12))
def test_values_round_trip_through_the_record_and_the_file(seed: int, tmp_path: Path) -> None:
    value = _value(np.random.default_rng(seed))
    _same(value, store.unpack(store.pack(value, allowed=allowed), allowed=allowed))
    arrays: dict[str, np.ndarray] = {}
    tree = store.encode(value, arrays, allowed=allowed)
    json.dumps(tree)  # the tree is plain JSON
    store.write_file(tmp_path / "v.npz", {"format": "t", "tree": tree}, arrays)
    header, read = store.read_file(tmp_path / "v.npz", kind="test file", written_by="the test")
    _same(value, store.decode(header["tree"], read, allowed=allowed))


def test_arrays_are_named_after_where_they_sit() -> None:
    arrays: dict[str, np.ndarray] = {}
    store.encode({"w": [np.zeros(1), np.ones(1)]}, arrays, allowed=allowed, name="state")
    assert sorted(arrays) == ["state.w.0", "state.w.1"]


def test_unknown_or_refused_classes_are_not_stored_or_rebuilt() -> None:
    with pytest.raises(TypeError, match="cannot be stored"):
        store.encode(object(), {}, allowed=allowed)
    with pytest.raises(TypeError, match="cannot be stored"):
        store.encode(Point(1.0, "a", np.zeros(1)), {}, allowed=lambda name: False)
    with pytest.raises(TypeError, match="string keys"):
        store.encode({1: 2}, {}, allowed=allowed)
    hostile = {"__object__": "os:system", "value": "echo code ran"}
    with pytest.raises(InputError, match="not allowed"):
        store.decode(hostile, {}, allowed=allowed)
    with pytest.raises(InputError, match="missing array"):
        store.decode({"__array__": "nowhere"}, {}, allowed=allowed)
    with pytest.raises(InputError, match="reversed"):  # from_dict checks what it reads
        store.decode({"__object__": f"{__name__}:Interval", "value": {"__dict__": {"low": 2, "high": 1}}}, {}, allowed=allowed)  # fmt: skip


@pytest.mark.parametrize("seed", range(3))
def test_a_damaged_or_edited_record_is_a_value_error(seed: int) -> None:
    rng = np.random.default_rng(seed)
    value = {"p": Point(1.5, "a", np.arange(4.0)), "t": (np.ones((2, 3), np.float32), "x")}
    record = store.pack(value, allowed=allowed)
    magic = record[: record.index(b"\n") + 1]  # then the header's length, then the header
    start = len(magic) + 8
    size = int.from_bytes(record[len(magic) : start], "little")
    header = json.loads(record[start : start + size])
    edits = [
        {"tree": header["tree"]},
        {"arrays": header["arrays"], "tree": {"__dataclass__": 1}},
        {"arrays": {"a": {"dtype": "<f8"}}, "tree": None},
        {"arrays": [], "tree": None},
        {"arrays": {"a": {"dtype": "no such dtype", "shape": [1], "offset": 0}}, "tree": 0},
        [1, 2],
        "text",
        {"arrays": header["arrays"], "tree": {"__tuple__": 5}},
        {"arrays": header["arrays"], "tree": {"__objects__": [1], "shape": "?"}},
    ]
    cases = [damage.damaged(record, rng, case) for case in range(60)]
    for edit in edits:
        text = json.dumps(edit).encode()
        cases.append(magic + len(text).to_bytes(8, "little") + text)
    for case in cases:
        with contextlib.suppress(ValueError):  # InputError is one too; nothing else may escape
            store.unpack(case, allowed=allowed)


def test_lamina_classes_are_lamina_modules_only() -> None:
    assert store.lamina_classes("lamina.plugins.cn2.rules:Rule")
    assert not store.lamina_classes("os:system")
    assert not store.lamina_classes("lamina.x:a b")


def test_a_file_in_the_format_before_the_store_names_the_file_and_the_fix(tmp_path: Path) -> None:
    from lamina.pipeline import codec

    path = tmp_path / "result.npz"  # what codec.dump wrote before lamina.store
    buffer = io.BytesIO()
    np.savez(buffer, __tree__=np.array(json.dumps({"__array__": "a0"})), a0=np.arange(3))
    path.write_bytes(buffer.getvalue())
    with pytest.raises(InputError) as caught:
        codec.load(path)
    message = str(caught.value)
    assert str(path) in message and "earlier lamina format" in message
    assert "run the pipeline again" in message


def test_results_stored_by_the_codec_load_back(tmp_path: Path) -> None:
    from lamina.pipeline import codec

    value = {"image": np.random.default_rng(0).random((3, 4), dtype=np.float32), "n": 3}
    codec.dump(tmp_path / "r.npz", value)
    _same(value, codec.load(tmp_path / "r.npz"))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match=r"stored result '.*junk\.npz': not a lamina stored"):
        codec.load(tmp_path / "junk.npz")


def test_errors_while_reading_name_the_file() -> None:
    from lamina.memory import MemoryLimitError

    what = store.describe_file("model file", Path("fit") / "m.npz")
    assert what == "model file 'fit/m.npz'"
    raised: list[BaseException] = [
        InputError("its header is wrong"),
        MemoryLimitError("needs 9 GiB"),
        KeyError("tree"),
        ValueError("cannot reshape"),
        MemoryError("Unable to allocate 8.00 EiB"),
        MemoryError(),
    ]
    expected = [
        (InputError, "model file 'fit/m.npz': its header is wrong"),
        (MemoryLimitError, "model file 'fit/m.npz': needs 9 GiB"),
        (InputError, "model file 'fit/m.npz' is damaged: KeyError: 'tree'"),
        (InputError, "model file 'fit/m.npz' is damaged: ValueError: cannot reshape"),
        # Running out of memory is no damage: a memory error naming the file.
        (
            MemoryLimitError,
            "model file 'fit/m.npz': not enough memory to read it (Unable to allocate "
            "8.00 EiB); free memory, or check that the file is one lamina wrote",
        ),
        (
            MemoryLimitError,
            "model file 'fit/m.npz': not enough memory to read it; free memory, "
            "or check that the file is one lamina wrote",
        ),
    ]
    for error, (cls, message) in zip(raised, expected, strict=True):
        with pytest.raises(InputError) as caught, store.errors_naming(what):
            raise error
        assert type(caught.value) is cls and str(caught.value) == message
    with pytest.raises(KeyboardInterrupt), store.errors_naming(what):
        raise KeyboardInterrupt


def _model_file(path: Path) -> tuple[Any, str]:
    from lamina.learn.model_file import load_model
    from lamina.plugins.bayes.gaussian import GaussianNB

    GaussianNB().fit([[0.0], [1.0], [5.0], [6.0]], [0, 0, 1, 1]).save(path)
    return load_model, "model file"


def _checkpoint(path: Path) -> tuple[Any, str]:
    from lamina.learn.torch import load_checkpoint, save_checkpoint

    save_checkpoint(path, {"format": "grid", "epoch": 3})
    return lambda p: load_checkpoint(p, format="grid"), "checkpoint"


def _stored_result(path: Path) -> tuple[Any, str]:
    from lamina.pipeline import codec

    codec.dump(path, {"n": 3})
    return codec.load, "stored result"


@pytest.mark.parametrize("write", [_model_file, _checkpoint, _stored_result])
def test_the_three_loaders_name_a_file_alike_whatever_breaks(
    write: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A relative path as the user typed it ("./m.npz"), in every message: read_file's
    # own and those from rebuilding the values, where a memory refusal stays one.
    from lamina.memory import MemoryLimitError

    monkeypatch.chdir(tmp_path)
    load, kind = write(Path("m.npz"))
    (tmp_path / "empty.npz").touch()
    with pytest.raises(InputError, match=f"^{kind} './empty.npz' is empty$"):
        load("./empty.npz")
    for error, cls, message in [
        (KeyError("tree"), InputError, f"{kind} './m.npz' is damaged: KeyError: 'tree'"),
        (MemoryLimitError("needs 9 GiB"), MemoryLimitError, f"{kind} './m.npz': needs 9 GiB"),
    ]:

        def broken(*args: Any, error: Exception = error, **kwargs: Any) -> Any:
            raise error

        monkeypatch.setattr(store, "decode", broken)
        with pytest.raises(InputError) as caught:
            load("./m.npz")
        assert type(caught.value) is cls and str(caught.value) == message
