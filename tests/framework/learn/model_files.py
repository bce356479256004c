"""Helpers for the model-file fuzz tests: take a saved model apart, and load a
damaged copy, accepting a refusal only in the promised form."""

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
