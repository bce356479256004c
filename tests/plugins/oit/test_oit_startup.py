"""What a process's first frame compiles (issue 17 Must 4): one instantiation per
kernel and frame, a bounded number of kernels per first frame, and the front-end
shortcuts of lamina.kernels.frontend reading exactly what Taichi's own readers read."""

import inspect
import os
import subprocess
import sys
import textwrap
import types
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from lamina.scene import Scene
from lamina.scene.procedural import procedural_scene

#: Kernels a fragment-list frame of a small face-coloured scene launches (and a
#: first frame compiles): binning, packing the records, resolving.
FRAGMENT_LIST_FIRST_FRAME = 3


@pytest.fixture(scope="module")
def ti():
    from lamina.kernels import runtime

    runtime.init("cpu")
    import taichi

    return taichi


@pytest.fixture
def launches(ti, monkeypatch):
    """Kernel name -> ids of the compiled instances launched, while the test runs."""
    from taichi.lang import kernel_impl

    seen: dict[str, set[int]] = defaultdict(set)
    launch = kernel_impl.Kernel.launch_kernel

    def recorded(self, compiled, *args):
        seen[self.func.__name__].add(id(compiled))
        return launch(self, compiled, *args)

    monkeypatch.setattr(kernel_impl.Kernel, "launch_kernel", recorded)
    return seen


def vertex_coloured(scene: Scene, seed: int) -> Scene:
    rng = np.random.default_rng(seed)
    colours = np.column_stack([rng.uniform(0, 1, (len(scene.vertices), 3)),
                               rng.uniform(0.2, 0.8, len(scene.vertices))])  # fmt: skip
    return Scene(vertices=scene.vertices, faces=scene.faces, vertex_colors=colours)


def test_a_fragment_list_frame_launches_three_kernels_once_each(ti, launches):
    import lamina

    scene, camera = procedural_scene("random_triangles", n=500, seed=4)
    lamina.create("renderer", "fragment-list", arch="cpu").render(scene, camera, (48, 64))
    assert all(len(ids) == 1 for ids in launches.values()), dict(launches)
    assert len(launches) <= FRAGMENT_LIST_FIRST_FRAME, sorted(launches)


@pytest.mark.parametrize(
    "method", ["fragment-list", "depth-peeling", "dual-depth-peeling", "multilayer-depth-peeling"]
)
@pytest.mark.parametrize("colours", ["face", "vertex"])
def test_one_instantiation_per_kernel_whatever_the_frame(ti, launches, method, colours):
    """Sizes, scenes and budgets change arguments, never a kernel's signature: a new
    instantiation would be compiled (front end and JIT) in every process."""
    import lamina

    frames = [("random_triangles", 300, (40, 56), None),
              ("intersecting_quads", 8, (33, 70), None),
              ("stacked_quads", 12, (64, 64), 256)]  # fmt: skip
    for k, (generator, n, size, budget) in enumerate(frames):
        scene, camera = procedural_scene(generator, n=n)
        if colours == "vertex":
            scene = vertex_coloured(scene, k)
        renderer = lamina.create("renderer", method, arch="cpu", max_fragments=budget)
        renderer.render(scene, camera, size)
    assert launches
    assert all(len(ids) == 1 for ids in launches.values()), dict(launches)


EDGE_CASES = '''
import functools

def plain(a):
    return a + 1

@functools.lru_cache(
    maxsize=None,
)
def decorated(a):
    """Doc."""
    if a:
        return a
        # a comment as deep as the body: inspect keeps it

    # one at the body's depth after a blank line: kept too
# one at column 0: left out
def one_liner(a): return a

def outer(a):
    def inner(b):
        return b
    # between
    class Local:
        def method(self):
            return (1,
    2)
    return inner

def doc_only():
    """A docstring
over several lines, alone: no instruction after the def line."""

def doc_on_def_line(): """
text at column 0
"""

async def coroutine():
    try:
        pass
    except ValueError:
        def in_handler():
            pass
    finally:
        pass
'''


def functions(code: types.CodeType):
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            if constant.co_flags & inspect.CO_NEWLOCALS and not constant.co_name.startswith("<"):
                yield constant
            yield from functions(constant)


def kernel_sources() -> list[Path]:
    import lamina.kernels

    return [*sorted(Path(lamina.kernels.__file__).parent.glob("*.py")), Path(__file__)]


def _functions_of(path: Path) -> list[types.CodeType]:
    return list(functions(compile(path.read_text(), str(path), "exec")))


def test_definitions_read_as_inspect_reads_them(tmp_path):
    """lamina.kernels.frontend places every function of the kernel modules, this
    file and a file of edge cases (decorators over several lines, trailing comments
    at and below the body's depth, one-liners, docstrings alone, nested and async
    definitions, a bracket closed left of the body) at the lines
    inspect.getsourcelines gives; a class body is left to Taichi's reader."""
    from lamina.kernels import frontend

    edge = tmp_path / "edge_cases.py"
    edge.write_text(textwrap.dedent(EDGE_CASES))
    checked = 0
    for path in [edge, *kernel_sources()]:
        for code in _functions_of(path):
            lines, first = inspect.getsourcelines(code)
            assert frontend._definition_lines(code) == (tuple(lines), first), (
                path.name,
                code.co_name,
            )
            checked += 1
        top = compile(path.read_text(), str(path), "exec")
        assert frontend._definition_lines(top) is None  # a module: no def of its own
    assert checked > 60


def test_an_edited_file_is_read_again(tmp_path):
    """A module edited and reloaded into a running process (say, under IPython's
    autoreload) is read again: its functions' lines are the new file's."""
    from lamina.kernels import frontend

    path = tmp_path / "edited.py"
    path.write_text("def f():\n    return 1\n")
    assert frontend._definition_lines(_functions_of(path)[0]) == (
        ("def f():\n", "    return 1\n"),
        1,
    )
    path.write_text("# moved down\ndef f():\n    x = 2\n    return x\n")
    os.utime(path, ns=(1, 1))  # a distinct time even on a coarse clock
    assert frontend._definition_lines(_functions_of(path)[0]) == (
        ("def f():\n", "    x = 2\n", "    return x\n"),
        2,
    )


def test_definitions_are_placed_from_their_code(tmp_path):
    """Every function of the kernel modules is placed by its code object's source
    positions, without parsing its file; where those may not tell (a trailing
    comment deeper than the ``def``, a docstring alone, a body on the ``def`` line,
    code compiled without column ranges) the whole file's parse places it, as
    inspect places it."""
    from lamina.kernels import frontend

    frontend._definitions_in.cache_clear()
    for path in kernel_sources():
        for code in _functions_of(path):
            assert frontend._definition_lines(code) is not None
    assert frontend._definitions_in.cache_info().misses == 0
    path = tmp_path / "edge_cases.py"
    path.write_text(textwrap.dedent(EDGE_CASES))
    lines = path.read_text().splitlines(keepends=True)
    by_name = {code.co_name: code for code in _functions_of(path)}
    for name in ("plain", "outer", "inner", "method", "coroutine", "in_handler"):
        assert frontend._code_end(by_name[name], lines) is not None, name
    for name in ("decorated", "one_liner", "doc_only", "doc_on_def_line"):
        assert frontend._code_end(by_name[name], lines) is None, name
    assert frontend._definitions_in.cache_info().misses == 0
    # Without column ranges (such as a .pyc written under -X no_debug_ranges) a
    # position's end line is its first: a statement over several lines would end early.
    done = subprocess.run(
        [sys.executable, "-X", "no_debug_ranges", "-c",
         "import sys\n"
         "from lamina.kernels import frontend\n"
         "path = sys.argv[1]\n"
         "code = compile(open(path).read(), path, 'exec')\n"
         "method = [c for c in code.co_consts if getattr(c, 'co_name', '') == 'outer'][0]\n"
         "print(frontend._code_end(method, open(path).readlines()),\n"
         "      len(frontend._definition_lines(method)[0]))\n",
         str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout.split() == ["None", str(len(inspect.getsourcelines(by_name["outer"])[0]))]


def test_source_lines_are_filled_as_textwrap_fills_them():
    """The fill Taichi's front end gets (lamina.kernels.frontend._fill) equals
    textwrap.fill, with Taichi's options and the defaults, on every line of lamina's
    kernels and plugins and of Taichi's language package, on lines textwrap reshapes
    or wraps, and with options that keep whitespace."""
    import taichi

    from lamina.kernels import frontend

    project = Path(frontend.__file__).parents[1]
    roots = [project / "kernels", project / "plugins", Path(taichi.__file__).parent / "lang"]
    lines = {line for root in roots for path in root.rglob("*.py")
             for line in path.read_text().splitlines(keepends=True)}  # fmt: skip
    edges = ["", "\n", "   \n", "\tx = 1\n", "x\t= 1", "a\r\n", "a\x0bb", "a\x0c", "a\nb\n",
             "  a  b  ", "x" * 69 + " y", "x" * 9999, "x" * 10_000, "  " + "y " * 40]  # fmt: skip
    assert len(lines) > 10_000
    for line in [*lines, *edges]:
        assert frontend._fill(line, tabsize=4, width=9999) == textwrap.fill(
            line, tabsize=4, width=9999
        ), repr(line)
        assert frontend._fill(line) == textwrap.fill(line), repr(line)
    kept = {"drop_whitespace": False, "initial_indent": "> "}  # other options: textwrap's
    assert frontend._fill("  x  \n", **kept) == textwrap.fill("  x  \n", **kept) == ">   x   "


def test_a_kernel_of_a_data_oriented_class_still_binds_its_instance(ti):
    """The class check (lamina.kernels.frontend) still tells a method kernel from a
    function: a method taken for a function would get ``self`` as an argument."""

    @ti.data_oriented
    class Scaler:
        def __init__(self, factor: float) -> None:
            self.factor = factor

        @ti.kernel
        def scale(self, values: ti.types.ndarray(dtype=ti.f64, ndim=1)):
            for i in values:
                values[i] *= self.factor

    @ti.kernel
    def add_one(values: ti.types.ndarray(dtype=ti.f64, ndim=1)):
        for i in values:
            values[i] += 1.0

    values = np.arange(5.0)
    Scaler(3.0).scale(values)
    add_one(values)
    np.testing.assert_array_equal(values, np.arange(5.0) * 3.0 + 1.0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the loader path is Linux's")
def test_gpu_drivers_are_found_as_find_library_finds_them():
    """runtime asks the dynamic loader for libcuda/libvulkan (ctypes.util.find_library
    spawns ldconfig and a compiler on Linux); the answer is find_library's."""
    import ctypes.util

    from lamina.kernels import runtime

    expected = [name for name in ("cuda", "vulkan") if ctypes.util.find_library(name)]
    assert runtime._gpu_backends_present() == expected
    assert runtime._library_present("z")  # zlib's soname is libz.so.1, like the drivers'
    assert not runtime._library_present("lamina_no_such_library")


def test_starting_taichi_starts_no_version_check():
    """Taichi's ti.init posts its version and a machine id to taichi.graphics from a
    thread; lamina's runtime turns that off (TI_SKIP_VERSION_CHECK), unless asked."""
    code = (
        "import os, threading\n"
        "os.environ['ENABLE_TAICHI_HEADER_PRINT'] = '0'\n"
        "from taichi import _version_check\n"
        "calls = []\n"
        "_version_check.try_check_version = lambda: calls.append(1)\n"
        "from lamina.kernels import runtime\n"
        "runtime.init('cpu')\n"
        "for thread in threading.enumerate():\n"
        "    if thread is not threading.main_thread():\n"
        "        thread.join(5)\n"
        "print(len(calls))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TI_SKIP_VERSION_CHECK"}
    for extra, calls in (({}, "0"), ({"TI_SKIP_VERSION_CHECK": "OFF"}, "1")):
        done = subprocess.run(
            [sys.executable, "-c", code],
            env={**env, **extra},
            capture_output=True,
            text=True,
            check=True,
        )
        assert done.stdout.strip().splitlines()[-1] == calls, extra


#: A kernel whose inner loop LLVM vectorises and unrolls at -O3, and what it then
#: leaves in the offline cache's IR: vector loops, and remainder loops of unrolling.
_LOOP_KERNEL = """
import sys
import taichi as ti
{start}
@ti.kernel
def squares(values: ti.types.ndarray(dtype=ti.i64, ndim=1), out: ti.types.ndarray(dtype=ti.i64, ndim=1)):
    for t in range(out.shape[0]):
        total = ti.i64(0)
        for k in range(values.shape[0]):
            total += values[k] * values[k]
        out[t] = total
import numpy as np
out = np.zeros(2, np.int64)
squares(np.arange(10, dtype=np.int64), out)
assert out.tolist() == [285, 285]
"""
_COPIES = (b"vector.body", b".epil", b".prol")


def _cached_ir(tmp_path: Path, start: str) -> bytes:
    """The offline cache's bytes after a fresh process ran ``_LOOP_KERNEL``."""
    tmp_path.mkdir()
    script = tmp_path / "squares.py"  # (Taichi reads a kernel's source from its file)
    script.write_text(_LOOP_KERNEL.format(start=start))
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    subprocess.run([sys.executable, str(script)], env=env, check=True, capture_output=True)
    files = list(tmp_path.rglob("*.tic"))
    assert len(files) == 1
    return files[0].read_bytes()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="an ELF Taichi library")
def test_cpu_kernels_are_compiled_without_loop_copies(tmp_path):
    """runtime.init('cpu') sets lamina.kernels.codegen's LLVM options: the cached IR
    of a loop LLVM would vectorise and unroll holds it once (Taichi's own start,
    in a process beside it, leaves the copies: the options are what removes them)."""
    lamina_ir = _cached_ir(tmp_path / "lamina", "from lamina.kernels import runtime\n"
                           "runtime.init('cpu')")  # fmt: skip
    plain = tmp_path / "plain"
    taichi_ir = _cached_ir(plain, f"ti.init(arch=ti.x64, offline_cache=True, "
                           f"offline_cache_file_path={str(plain)!r})")  # fmt: skip
    assert all(copy not in lamina_ir for copy in _COPIES)
    assert all(copy in taichi_ir for copy in _COPIES)


def test_llvm_options_are_set_only_where_the_entry_point_is_found(tmp_path):
    """A library that is not ELF, is missing or lacks the entry point gets nothing
    called (kernels then compile with LLVM's defaults); Taichi's library has it."""
    from lamina.kernels import codegen

    not_elf = tmp_path / "not_elf.so"
    not_elf.write_bytes(b"\0" * 4096)
    assert not codegen.install(not_elf)
    assert not codegen.install(tmp_path / "missing.so")
    for name, data in (("empty.so", b""), ("truncated.so", b"\x7fELF\x02\x01" + b"\0" * 10),
                       ("no_sections.so", b"\x7fELF\x02\x01" + b"\0" * 122)):  # fmt: skip
        damaged = tmp_path / name
        damaged.write_bytes(data)
        assert not codegen.install(damaged), name
    libz = Path(next(iter(_loaded("libz.so")), "/nonexistent"))
    if libz.is_file():  # an ELF library without LLVM
        assert codegen._functions(libz, (codegen._ENTRY,)) is None
    import taichi  # noqa: F401  (loads the library)

    library = Path(sys.modules["taichi._lib.core.taichi_python"].__file__)
    values = codegen._functions(library, (codegen._ENTRY, codegen._EXPORTED))
    assert values is not None and all(value > 0 for value in values[:2])
    assert values[2:], "the library's build id (a loaded note) is what install checks"


def _loaded(name: str) -> list[str]:
    """Paths of the loaded libraries whose file name starts with ``name``."""
    try:
        maps = Path("/proc/self/maps").read_text().splitlines()
    except OSError:
        return []
    return sorted({line.split()[-1] for line in maps
                   if line.split()[-1].rsplit("/", 1)[-1].startswith(name)})  # fmt: skip


#: Pieces of the random definitions of test_random_definitions_read_as_inspect_reads_them
#: ("{i}": the body's indent; "{c}": a line continued at column 0).
_BODIES = [
    "{i}x = 1\n",
    "{i}pass\n",
    "{i}...\n",
    '{i}"""A docstring\n{i}over two lines."""\n',
    '{i}"""Short."""\n',
    "{i}return (1,\n{c}2)\n",
    "{i}if x:\n{i}    y = [\n{i}        1,\n{i}    ]\n{i}else:\n{i}    pass\n",
    "{i}def nested():\n{i}    return 1\n",
    "{i}s = '''\n{c}text at column 0\n{c}'''\n",
    "{i}try:\n{i}    pass\n{i}except ValueError:\n{i}    pass\n",
    "{i}x = f(\n{i}    1,\n{i})\n",
]
_SIGNATURES = ["def {name}(x=None):\n", "def {name}(\n{i}x=None,\n):\n",
               "async def {name}(x=None):\n", "def {name}(x=None) -> int:\n"]  # fmt: skip
_DECORATORS = ["", "@staticmethod\n", "@functools.lru_cache(\n    maxsize=None,\n)\n"]


def _random_definitions(rng: np.random.Generator, count: int) -> str:
    """A module of ``count`` random definitions, some nested in a class or an ``if``,
    with random decorators, signatures, bodies, one-liners and comments after them
    at random columns."""
    out = ["import functools\nx = y = f = None\n"]
    for k in range(count):
        host = ["", "class Host{k}:\n", "if True:\n"][rng.integers(3)].format(k=k)
        pad = "    " if host else ""
        # (Decorators on methods only: a class keeps a @staticmethod's function.)
        decorator = _DECORATORS[rng.integers(len(_DECORATORS))] if host.startswith("class") else ""
        name = f"f{k}"
        body_pad = pad + "    "
        text = host + "".join(pad + line + "\n" for line in decorator.splitlines())
        if rng.random() < 0.15:  # a one-liner
            text += f"{pad}def {name}(): return 1\n"
        else:
            signature = _SIGNATURES[rng.integers(len(_SIGNATURES))]
            text += pad + signature.format(name=name, i=body_pad).replace("\n):", f"\n{pad}):")
            pieces = rng.choice(len(_BODIES), size=rng.integers(1, 4))
            text += "".join(_BODIES[p].format(i=body_pad, c="") for p in pieces)
        for _ in range(rng.integers(0, 3)):  # comments and blank lines after the body
            text += "\n" if rng.random() < 0.3 else " " * int(rng.integers(0, 13)) + "# note\n"
        out.append(text)
    return "".join(out)


@pytest.mark.parametrize("seed", range(8))
def test_random_definitions_read_as_inspect_reads_them(tmp_path, seed):
    """Random definitions (widen the seeds to look further) are placed at the lines
    inspect.getsourcelines gives, whether their code's positions place them or the
    file's parse does."""
    from lamina.kernels import frontend

    path = tmp_path / f"random_{seed}.py"
    path.write_text(_random_definitions(np.random.default_rng(seed), 40))
    codes = _functions_of(path)
    assert len(codes) >= 40
    for code in codes:
        lines, first = inspect.getsourcelines(code)
        assert frontend._definition_lines(code) == (tuple(lines), first), code.co_name
