"""The import graph of lamina, read from the source with ``ast``: no cycles among
module-level imports, the layers ``core <- learn, pipeline <- plugins`` (learn and
pipeline are peers; kernels beside them), no plugin importing another, and no private
name used across modules.

Module-level imports are those that run when a module is imported: statements
at the top of a module, also inside ``if``/``try``/``with`` there, but not under
``if TYPE_CHECKING:`` (they never run) nor inside functions (they run when
called, which is how a module reaches a layer above it only when asked to).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {"framework": "lamina", "plugins": "lamina.plugins", "kernels": "lamina.kernels"}

#: Which layers each layer may import at module level.
ALLOWED = {
    "core": {"core"},
    "learn": {"core", "learn"},
    "pipeline": {"core", "pipeline"},
    "kernels": {"core", "kernels"},
    "plugins": {"core", "learn", "pipeline", "kernels", "plugins"},
}


@dataclass
class Module:
    name: str
    path: Path
    package: bool
    imports: set[str] = field(default_factory=set)  # module-level, lamina modules only
    private: list[str] = field(default_factory=list)  # private names used from elsewhere


def layer(name: str) -> str:
    """core, learn, pipeline, kernels or plugins."""
    for prefix in ("plugins", "kernels", "learn", "pipeline"):
        if name == f"lamina.{prefix}" or name.startswith(f"lamina.{prefix}."):
            return prefix
    return "core"


def plugin_of(name: str) -> str | None:
    parts = name.split(".")
    return parts[2] if layer(name) == "plugins" and len(parts) > 2 else None


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def read_modules(root: Path = ROOT) -> dict[str, Module]:
    """Every lamina module under ``root``'s three folders, with its imports."""
    found = {}
    for folder, prefix in FOLDERS.items():
        for path in sorted((root / folder).rglob("*.py")):
            parts = path.relative_to(root / folder).with_suffix("").parts
            package = parts[-1] == "__init__"
            name = ".".join((prefix, *(parts[:-1] if package else parts)))
            found[name] = Module(name, path, package)
    for module in found.values():
        _read_imports(module, found)
    return found


def _module_level(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            if ast.unparse(node.test) not in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
                yield from _module_level(node.body)
            yield from _module_level(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from _module_level(block)
        elif isinstance(node, ast.With):
            yield from _module_level(node.body)


def _targets(
    module: Module, node: ast.Import | ast.ImportFrom
) -> list[tuple[str, str | None, str]]:
    """(module imported from, name imported or None, local name) for each alias."""
    if isinstance(node, ast.Import):
        return [(a.name, None, a.asname or a.name.partition(".")[0]) for a in node.names]
    base = module.name if module.package else module.name.rpartition(".")[0]
    for _ in range(node.level - 1):
        base = base.rpartition(".")[0]
    source = node.module if not node.level else ".".join(filter(None, (base, node.module)))
    return [(source or base, a.name, a.asname or a.name) for a in node.names]


def _read_imports(module: Module, modules: dict[str, Module]) -> None:
    tree = ast.parse(module.path.read_text(encoding="utf-8"))
    for node in _module_level(tree.body):
        for source, name, _ in _targets(module, node):
            target = f"{source}.{name}" if f"{source}.{name}" in modules else source
            if target in modules and target != module.name:
                module.imports.add(target)
    # Private names: imported from another module (anywhere in the file), or read
    # as an attribute of an imported lamina module.
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        for source, name, local in _targets(module, node):
            if not source.startswith("lamina"):
                continue
            target = f"{source}.{name}" if name is not None else source
            reached = target if target in modules else source
            if target in modules:
                aliases[local if name is not None else target] = target
            elif name is not None and _is_private(name):
                module.private.append(f"from {source} import {name}")
            # A private module is its package's own business: only modules inside may use it.
            parts = reached.split(".")
            first = next((i for i, part in enumerate(parts) if _is_private(part)), None)
            home = ".".join(parts[:first]) if first is not None else ""
            if first is not None and not (module.name + ".").startswith(home + "."):
                shown = f"from {source} import {name}" if name else f"import {source}"
                module.private.append(shown)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            owner = aliases.get(ast.unparse(node.value))
            if owner is not None and owner != module.name:
                module.private.append(f"{ast.unparse(node.value)}.{node.attr}")


def cycles(modules: dict[str, Module]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []
    for start in sorted(modules):
        if start in index:
            continue
        work = [(start, iter(sorted(modules[start].imports)))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(modules[child].imports))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def layering_violations(modules: dict[str, Module]) -> list[str]:
    found = []
    for module in modules.values():
        for target in sorted(module.imports):
            if layer(target) not in ALLOWED[layer(module.name)]:
                found.append(f"{module.name} ({layer(module.name)}) imports {target}")
            elif plugin_of(module.name) and plugin_of(target) not in (None, plugin_of(module.name)):
                found.append(f"plugin {module.name} imports plugin {target}")
    return found


@pytest.fixture(scope="module")
def modules() -> dict[str, Module]:
    return read_modules()


def test_the_graph_is_read(modules: dict[str, Module]) -> None:
    assert len(modules) > 100
    assert "lamina.kinds" in modules["lamina.kinds.renderer"].imports
    assert "lamina.host" in modules["lamina"].imports
    # Under TYPE_CHECKING, and inside functions, imports do not count.
    assert "lamina.registry" not in modules["lamina.hookspecs"].imports


def test_no_import_cycles(modules: dict[str, Module]) -> None:
    assert cycles(modules) == []


def test_layers_and_no_plugin_imports_another(modules: dict[str, Module]) -> None:
    assert layering_violations(modules) == []


def test_no_private_names_across_modules(modules: dict[str, Module]) -> None:
    assert {m.name: m.private for m in modules.values() if m.private} == {}


# The checks above must be able to fail: the same reader on a small made-up tree.
FAKE = {
    "framework/__init__.py": "from lamina import host\n",
    "framework/host.py": "from lamina import errors\nfrom lamina.learn import base\n",
    "framework/errors.py": "import lamina.host\n",
    "framework/sub/__init__.py": "",
    "framework/sub/_inner.py": "def helper(): ...\n",
    "framework/sub/user.py": "from lamina.sub._inner import helper\nfrom . import _inner\n",
    "framework/outsider.py": "from lamina.sub._inner import helper\nfrom lamina.host import _cache\n",
    "framework/reader.py": "from lamina import host\nhost._cache.clear()\n",
    "framework/typing_only.py": (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from lamina import learn\n"
        "def late():\n    from lamina.plugins import a\n"
    ),
    "framework/learn/__init__.py": "import lamina.pipeline\n",
    "framework/pipeline/__init__.py": "",
    "framework/learn/base.py": "from lamina.plugins.a import thing\n",
    "plugins/__init__.py": "",
    "plugins/a/__init__.py": "from lamina.plugins.b import x\nfrom lamina.learn import base\n",
    "plugins/b/__init__.py": "",
    "kernels/__init__.py": "",
}


def test_the_checks_find_made_up_violations(tmp_path: Path) -> None:
    for relative, source in FAKE.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    fake = read_modules(tmp_path)
    assert sorted(cycles(fake)) == [
        ["lamina.errors", "lamina.host"],
        ["lamina.learn.base", "lamina.plugins.a"],
    ]
    assert layering_violations(fake) == [
        "lamina.host (core) imports lamina.learn.base",
        "lamina.learn (learn) imports lamina.pipeline",
        "lamina.learn.base (learn) imports lamina.plugins.a",
        "plugin lamina.plugins.a imports plugin lamina.plugins.b",
    ]
    assert {m.name: m.private for m in fake.values() if m.private} == {
        "lamina.outsider": [
            "from lamina.sub._inner import helper",
            "from lamina.host import _cache",
        ],
        "lamina.reader": ["host._cache"],
    }
    assert fake["lamina.typing_only"].imports == set()
