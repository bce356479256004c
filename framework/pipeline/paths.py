"""Where a run may write: every output path is relative, free of ``..`` and,
once resolved (symbolic links followed), inside the output folder.

Names are checked twice: at validation, as text (so a bad step or ``save`` name
is a :class:`~lamina.errors.ConfigError` before anything runs), and when a file
is written, resolved against the real folder (so a link planted inside the
output folder cannot carry a write outside it).
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from lamina.errors import InputError

__all__ = ["RESERVED", "STEP_NAME", "STEP_SUFFIXES", "inside", "relative_name"]

#: A step name: it names the step's output files, so it is one plain path part.
STEP_NAME = re.compile(r"^[A-Za-z_][\w-]*$")

#: Files a run writes itself, beside the steps' outputs.
RESERVED = ("report.html", "metrics.json", "run.log", "provenance.json", ".lamina-cache")

#: Suffixes of a saved step's files (``NAME.png``, ``NAME.npy``, ...).
STEP_SUFFIXES = (".png", ".npy", ".json", ".npz")


def relative_name(name: str) -> PurePosixPath:
    """``name`` as a relative path inside the output folder; ``ValueError`` saying why not.

    Examples
    --------
    >>> relative_name("plots/a.png")
    PurePosixPath('plots/a.png')
    >>> relative_name("../a.png")
    Traceback (most recent call last):
    ...
    ValueError: '../a.png' leaves the output folder: use a relative path without '..'
    """
    text = str(name).replace("\\", "/")
    path = PurePosixPath(text)
    if not text.strip() or not path.parts or path.is_absolute() or re.match(r"^[A-Za-z]:", text):
        raise ValueError(
            f"{name!r} is not a relative path: name a file inside the output folder, e.g. 'a.png'"
        )
    if ".." in path.parts:
        raise ValueError(f"{name!r} leaves the output folder: use a relative path without '..'")
    if path.parts[0] in RESERVED:
        raise ValueError(f"{name!r} is written by every run: choose another name")
    return path


def inside(outdir: Path, name: str | PurePosixPath) -> Path:
    """The file ``name`` in ``outdir``, resolved; :class:`InputError` if it lies elsewhere."""
    try:
        relative = relative_name(str(name))
    except ValueError as error:
        raise InputError(f"output name {error}") from None
    root = outdir.resolve()
    target = (root / relative).resolve()
    if not target.is_relative_to(root):
        raise InputError(
            f"output name {str(name)!r} resolves to {target}, outside the output folder {root} "
            "(a symbolic link inside it points elsewhere): remove the link"
        )
    return target
