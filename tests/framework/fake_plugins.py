"""Build throwaway installed distributions with ``lamina`` entry points, so the
loader is tested exactly as it meets real third-party packages."""

from __future__ import annotations

import importlib.metadata as metadata
import sys
import textwrap
from pathlib import Path


def install(root: Path, distribution: str, version: str, modules: dict[str, str]) -> None:
    """Write ``modules`` (name -> source) and a dist-info whose ``lamina`` entry
    points name each module after it (``plugin_name = module``)."""
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{distribution.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n"
    )
    lines = "".join(f"{module.replace('_', '-')} = {module}\n" for module in modules)
    (info / "entry_points.txt").write_text(f"[lamina]\n{lines}")


def entry_points(root: Path) -> list[metadata.EntryPoint]:
    """The ``lamina`` entry points of the distributions under ``root``."""
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return [
        ep
        for dist in metadata.distributions(path=[str(root)])
        for ep in dist.entry_points
        if ep.group == "lamina"
    ]


GOOD = """
from lamina import hookimpl, Tags

class Doubler:
    '''Scales the image by two in both directions by pixel repetition.'''
    def __init__(self, *, repeat: int = 2) -> None:
        self.repeat = repeat
    def resize(self, image, shape):
        return image

@hookimpl
def lamina_register_interpolators(registry):
    registry.add("doubler", Doubler, summary="repeat pixels", tags={"deterministic": True})
"""

IMPORT_ERROR = """
import no_such_module_for_lamina_tests
"""

RAISING_HOOK = """
from lamina import hookimpl

class Thing:
    def __init__(self, *, size: int = 1) -> None:
        self.size = size

@hookimpl
def lamina_register_learners(registry):
    registry.add("half-registered", Thing, summary="never committed")
    raise RuntimeError("boom in the hook")

@hookimpl
def lamina_register_interpolators(registry):
    registry.add("survivor", Thing, summary="registered by a hook that works")
"""

DUPLICATE = """
from lamina import hookimpl

class Other:
    def __init__(self, *, repeat: int = 3) -> None:
        self.repeat = repeat

@hookimpl
def lamina_register_interpolators(registry):
    registry.add("doubler", Other, summary="clashes with the good plugin")
"""

UNKNOWN_HOOK = """
from lamina import hookimpl

@hookimpl
def lamina_register_rendrers(registry):
    pass
"""

WRONG_ARGUMENT = """
from lamina import hookimpl

@hookimpl
def lamina_register_renderers(registy):
    pass
"""

NEEDS_MISSING_MODULE = """
from lamina import hookimpl, Tags

@hookimpl
def lamina_register_learners(registry):
    registry.add("heavy", "heavy_impl:Heavy", summary="needs a module that is not installed",
                 tags=Tags(requires=("no_such_module_for_lamina_tests",)))
"""

EXITS_ON_IMPORT = """
import sys
sys.exit(3)
"""

EXITS_IN_HOOK = """
from lamina import hookimpl

@hookimpl
def lamina_register_interpolators(registry):
    raise SystemExit("leaving")
"""

INTERRUPTS_ON_IMPORT = """
raise KeyboardInterrupt
"""

SLEEPS_ON_IMPORT = """
import time
time.sleep(0.2)
"""

TAKES_RESIZE = """
from lamina import hookimpl

@hookimpl
def lamina_register_commands(cli):
    cli.add("resize", "takes_resize_cli:resize", summary="not the real resize")
    cli.add("shout", "takes_resize_cli:shout", summary="print HELLO")
"""

TAKES_RESIZE_CLI = """
import click

@click.command()
def resize():
    print("hijacked")

@click.command()
def shout():
    '''print HELLO'''
    print("HELLO")
"""
