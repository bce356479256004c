"""``lamina new-plugin``: write a third-party plugin package that installs and
passes ``lamina check`` as written, for an author to grow from.

The package has a ``src`` layout, a ``lamina`` entry point, a component
registered as ``"module:attr"`` (imported only when used), ``py.typed``, and a
test that runs the conformance suite under pytest.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from lamina.errors import InputError
from lamina.host import get_host
from lamina.kinds import Kind

__all__ = ["template_kinds", "write_plugin"]

_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")

_INIT = '''\
"""lamina plugin {name}: {summary}."""

from __future__ import annotations

from typing import Any

from lamina import hookimpl


@hookimpl
def {hook}(registry: Any) -> None:
    # A "module:attr" string: the module is imported only when the component is used.
    registry.add(
        "{name}",
        "{package}.component:{cls}",
        summary="{summary}",
        tags={tags},
    )
'''

_PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{distribution}"
version = "0.1.0"
description = "lamina plugin: {summary}"
requires-python = ">=3.11"
dependencies = ["lamina"]

[project.optional-dependencies]
test = ["pytest>=8"]

[project.entry-points.lamina]
{name} = "{package}"

[tool.setuptools.package-data]
{package} = ["py.typed"]
"""

_TEST = '''\
"""The conformance suite on {name}, run by pytest (the same checks as `lamina check {name}`)."""

from lamina.testing import parametrize_with_checks


@parametrize_with_checks([("{kind}", "{name}")])
def test_conformance(component, check):  # type: ignore[no-untyped-def]
    check(component)
'''

_README = """\
# {distribution}

A lamina plugin: the {kind} `{name}` ({summary}).

    pip install -e .            # registers the plugin through its `lamina` entry point
    lamina components {kind}    # lists `{name}`
    lamina check {name}         # runs lamina's conformance suite on it
    pytest                      # the same checks under pytest (pip install -e '.[test]')

Grow the component in `src/{package}/component.py`: constructor parameters are
keyword-only with type hints and defaults, bad input raises `lamina.InputError`
naming the argument, and `lamina check` says what a change broke.
"""


def template_kinds() -> dict[str, Kind]:
    """The kinds ``new-plugin`` writes a working starting point for (those with a
    :attr:`~lamina.kinds.Kind.template`), by name."""
    return {kind.name: kind for kind in get_host().kinds() if kind.template is not None}


def write_plugin(name: str, *, kind: str, output: Path) -> Path:
    """Write the package ``lamina-NAME`` for a component ``name`` of ``kind`` into
    ``output``; return its folder. Nothing is written when anything fails.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = write_plugin("tiny", kind="interpolator", output=Path(tempfile.mkdtemp()))
    >>> sorted(p.name for p in (folder / "src" / "lamina_tiny").iterdir())
    ['__init__.py', 'component.py', 'py.typed']
    """
    if not _NAME.match(name):
        raise InputError(
            f"NAME: expected lower-case words joined by '-' (like 'sharp-resize'), got {name!r}"
        )
    kinds = template_kinds()
    if kind not in kinds:
        raise InputError(f"--kind: expected one of {', '.join(kinds)}, got {kind!r}")
    if not output.is_dir():
        raise InputError(f"--output: {str(output)!r} is not a folder; create it first")
    distribution = f"lamina-{name}"
    target = output / distribution
    if target.exists():
        raise InputError(f"{str(target)!r} already exists; choose another NAME or --output")
    starter = kinds[kind].template
    assert starter is not None  # template_kinds() holds only kinds with one
    fields = {
        "name": name,
        "kind": kind,
        "distribution": distribution,
        "package": f"lamina_{name.replace('-', '_')}",
        "cls": "".join(part.capitalize() for part in name.split("-")),
        "title": distribution,
        "hook": kinds[kind].hook,
        "tags": starter.tags,
        "summary": starter.summary,
    }
    files = {
        "pyproject.toml": _PYPROJECT,
        "README.md": _README,
        f"src/{fields['package']}/__init__.py": _INIT,
        f"src/{fields['package']}/component.py": starter.source,
        f"src/{fields['package']}/py.typed": "",
        f"tests/test_{fields['package']}.py": _TEST,
    }
    staging = Path(tempfile.mkdtemp(prefix=f".{distribution}.", dir=output))
    try:
        for relative, template in files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(template.format(**fields), encoding="utf-8")
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
