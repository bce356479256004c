"""Helpers for the model-file fuzz tests: take a saved model apart, put an edited
one together, edit its arrays, and load a damaged copy, accepting a refusal only
in the promised form."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np

from lamina.errors import InputError
from lamina.learn.model_file import load_model


def loaded_or_refused(path: Any) -> Any | None:
    """The model ``load_model(path)`` returns, or ``None`` when it refused the file with
    one single-line :class:`InputError` naming it; any other exception propagates."""
    try:
        return load_model(path)
    except InputError as error:
        message = str(error)
        assert str(path) in message and "\n" not in message, message
        return None


def model_members(data: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The JSON header and the arrays (``"a:name"``) of a model file's bytes."""
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    return json.loads(arrays.pop("__header__").tobytes().decode()), arrays


def model_bytes(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    """A model file's bytes from its JSON header and arrays (:func:`model_members` undone)."""
    buffer = io.BytesIO()
    blob = np.frombuffer(json.dumps(header).encode(), np.uint8)
    np.savez(buffer, __header__=blob, **arrays)
    return buffer.getvalue()


def array_edits(array: np.ndarray) -> list[np.ndarray]:
    """Damaged versions of a saved array: a member short, an axis more, a scalar, text,
    no rows, int8, NaN / infinity / negative / huge at its largest entry, transposed."""
    edits = [array.reshape(-1)[:-1], array[..., None], np.array(0.0), array.astype("<U3")]
    edits.append(np.zeros((0, *array.shape[1:]), array.dtype))
    if array.dtype.kind in "biuf":
        edits.append(array.astype(np.int8))
    if array.dtype.kind == "f" and array.size:
        for bad in (np.nan, np.inf, -np.inf, -1.0, 1e308, -1e308):
            edited = array.copy()
            with np.errstate(over="ignore"):  # 1e308 in a float32 array is infinity
                edited.reshape(-1)[int(np.argmax(np.abs(edited)))] = bad
            edits.append(edited)
    if array.ndim == 2 and array.shape[0] != array.shape[1]:
        edits.append(array.T.copy())
    return edits
