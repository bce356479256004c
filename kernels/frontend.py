"""Shortcuts through Taichi's Python front end, installed once by
:func:`lamina.kernels.runtime.init` before any kernel is compiled.

Taichi 1.7 runs its front end (Python source -> AST -> Taichi IR) for every kernel
in every process, even when the offline cache holds the compiled kernel: the IR
is what the cache key is computed from.  On a warm-cache first render that front
end is about a third of the time (the rest is LLVM compiling the cached IR to
machine code, which Taichi does in every process and lamina cannot skip).  The
shortcuts below change no IR (the cache keys stay the same) and no error message
beyond the excerpt format of :func:`_plain_source_positions`.  Taichi is pinned
(1.7.4); each shortcut leaves a Taichi without the names it replaces as it is.
"""

from __future__ import annotations

import ast
import functools
import linecache
import os
import re
import sys
import textwrap
from collections.abc import Iterable, Iterator
from types import SimpleNamespace
from typing import Any

__all__ = ["install"]


def install() -> None:
    """Install every shortcut (idempotent per process: called under runtime's lock)."""
    _plain_source_positions()
    _source_read_once()
    _class_check_from_linecache()


def _plain_source_positions() -> None:
    """Make Taichi's front end label AST nodes with a plain ``File, line`` header and
    the source line.

    For every AST node it visits, Taichi formats a caret-marked,
    ``textwrap``-wrapped excerpt of the source
    (``ASTTransformerContext.get_pos_info``), used only in error messages and
    debug info: 40 % of the front end's time on a first render (measured 0.71 ->
    0.42 s for a fragment-list frame's four kernels).  Error messages keep the
    file, line, function and source line.
    """
    try:
        from taichi.lang.ast.ast_transformer_utils import ASTTransformerContext
    except ImportError:
        return
    if not hasattr(ASTTransformerContext, "get_pos_info"):
        return

    def get_pos_info(self: Any, node: Any) -> str:
        where = f'File "{self.file}", line {node.lineno + self.lineno_offset}'
        return f"{where}, in {self.func.func.__name__}:\n{self.src[node.lineno - 1]}\n"

    ASTTransformerContext.get_pos_info = get_pos_info


def _source_read_once() -> None:
    """Read each kernel's and ``ti.func``'s source once per process, from a parse
    of its own lines.

    Taichi inlines a ``ti.func`` at every call site and reads its source again each
    time, through ``inspect.getsourcelines`` (which scans ``sys.modules`` for the
    function's module and tokenises the file from its first line to find where it
    ends) and a ``textwrap.fill`` of every line: a fragment-list frame's three
    kernels read 52 sources of 29 functions.  Here a function's lines are those
    ``inspect.getsourcelines`` returns, from its first decorator to the last line
    of its last statement, found in a parse of its own lines (of its whole file
    where those do not parse alone); the lines of a code object are kept, so a
    process's kernels also stay consistent with themselves if their file is edited
    while it runs.  A function the parse does not place (no file, no ``def`` at its
    first line) is read by Taichi's own reader.
    """
    from taichi.lang import kernel_impl

    names = ("getsourcelines", "getsourcefile", "textwrap")
    if not all(hasattr(kernel_impl, name) for name in names):
        return
    read_lines, read_file = kernel_impl.getsourcelines, kernel_impl.getsourcefile
    lines_of: dict[Any, tuple[tuple[str, ...], int]] = {}
    file_of: dict[Any, str] = {}

    def getsourcelines(function: Any) -> tuple[list[str], int]:
        code = function.__code__
        if code not in lines_of:
            placed = _definition_lines(code.co_filename, code.co_firstlineno)
            if placed is None:
                lines, first = read_lines(function)
                placed = (tuple(lines), first)
            lines_of[code] = placed
        lines, first = lines_of[code]
        return list(lines), first

    def getsourcefile(function: Any) -> str:
        code = function.__code__
        if code not in file_of:
            file_of[code] = read_file(function)
        return file_of[code]

    kernel_impl.getsourcelines, kernel_impl.getsourcefile = getsourcelines, getsourcefile
    # kernel_impl uses textwrap only to fill each source line (a pure function).
    kernel_impl.textwrap = SimpleNamespace(fill=_fill, dedent=textwrap.dedent)


#: The characters ``textwrap`` expands or turns into spaces, less the space.
_RESHAPED = re.compile("[\t\n\x0b\x0c\r]")
_wrapped = functools.cache(textwrap.fill)


def _fill(text: str, **options: Any) -> str:
    """``textwrap.fill(text, **options)``, without running ``textwrap`` on a line it
    would not wrap: such a line comes back less its trailing spaces and newline.

    ``textwrap`` takes some 35 µs a line, 12-25 ms for the ~700 distinct source
    lines of a first frame's kernels (Taichi fills each line of every source it
    reads, with ``width=9999``, to expand its tabs).  A line with no tab or other
    whitespace ``textwrap`` reshapes, no newline but its last and no longer than
    ``width`` is one line of chunks whose only dropped whitespace is at its end.
    """
    line = text.rstrip(" \n")
    plain = options.keys() <= {"width", "tabsize"}  # Taichi's: the rest as by default
    if plain and len(line) <= options.get("width", 70) and not _RESHAPED.search(line):
        return line
    return _wrapped(text, **options)


def _definition_lines(filename: str, first: int) -> tuple[tuple[str, ...], int] | None:
    """The lines of the ``def`` whose first decorator (or ``def``) is on line
    ``first`` of ``filename`` as it is now, with ``first``, as
    ``inspect.getsourcelines`` gives them; ``None`` when there is no such file or
    definition."""
    try:
        stat = os.stat(filename)
    except (OSError, ValueError):
        return None
    version = (filename, stat.st_mtime_ns, stat.st_size)
    lines = _lines_of(*version)
    end = _own_end(*version, first)
    if end is None:  # not placed by its own lines: the whole file's parse decides
        end = _definitions_in(*version).get(first)
    if end is None:
        return None
    return tuple(lines[first - 1 : end]), first


@functools.lru_cache(maxsize=64)
def _lines_of(filename: str, mtime_ns: int, size: int) -> list[str]:
    """The lines of ``filename`` as of ``mtime_ns`` and ``size`` (an edited file,
    reloaded into a running process, is read again)."""
    linecache.checkcache(filename)  # as inspect does: the file as it is now
    return linecache.getlines(filename)


@functools.lru_cache(maxsize=4096)
def _own_end(filename: str, mtime_ns: int, size: int, first: int) -> int | None:
    """The last line of the definition starting on line ``first``, from a parse of
    its own lines only; ``None`` when they do not parse as one.

    Parsing a whole file costs 8-30 ms for a kernel module of 700 lines, of which
    a frame's kernels use a few functions.  The candidate lines run from ``first``
    to the next line of code (after the decorators and signature) at or left of
    the definition's own column: a definition's body lies right of that column
    except inside a string or brackets, and a candidate cut inside one does not
    parse, so a candidate that parses holds the whole definition."""
    lines = _lines_of(filename, mtime_ns, size)
    if not 0 < first <= len(lines):
        return None
    head = lines[first - 1]
    column = len(head) - len(head.lstrip())
    signature = head.lstrip().startswith(("def ", "async def "))
    stop = len(lines) + 1
    for number in range(first + 1, len(lines) + 1):
        line = lines[number - 1]
        text = line.lstrip()
        if not text or text.startswith("#") or len(line) - len(text) > column:
            continue
        if not signature and text.startswith(("def ", "async def ")):
            signature = True
        elif text.startswith((")", "]", "}")) or (not signature and text.startswith("@")):
            continue  # a closing bracket of the signature or of a decorator's call
        else:
            stop = number
            break
    # An indented definition is parsed as the body of an `if`: same lines, same columns.
    prefix = "if 1:\n" if column else ""
    try:
        tree = ast.parse(prefix + "".join(lines[first - 1 : stop - 1]))
    except (SyntaxError, ValueError):
        return None
    offset = first - 1 - len(prefix.splitlines())
    for node in _definitions(tree.body):
        if _first_line(node) + offset == first:
            return _last_line(node, lines, offset)
    return None


@functools.lru_cache(maxsize=64)
def _definitions_in(filename: str, mtime_ns: int, size: int) -> dict[int, int]:
    """First line -> last line of every function definition in ``filename`` (as of
    ``mtime_ns`` and ``size``; none when it cannot be parsed)."""
    lines = _lines_of(filename, mtime_ns, size)
    try:
        tree = ast.parse("".join(lines))
    except (SyntaxError, ValueError):
        return {}
    return {_first_line(node): _last_line(node, lines, 0) for node in _definitions(tree.body)}


def _first_line(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """The line of a definition's first decorator, or of its ``def``."""
    return min([node.lineno, *(d.lineno for d in node.decorator_list)])


def _last_line(node: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str], offset: int) -> int:
    """The last line in ``lines`` of the definition ``node`` parsed from lines
    ``offset + 1`` on, ended as ``inspect.getblock`` ends it: the last line of the
    last statement, or of a comment after it indented as deep as the body."""
    end = node.end_lineno
    assert end is not None  # set by ast.parse
    end += offset
    # The body's column, when it starts on a line of its own (Python's INDENT).
    body = node.body[0].col_offset if node.body[0].lineno > node.lineno else None
    for number in range(end + 1, len(lines) + 1):
        line = lines[number - 1]
        text = line.lstrip()
        if text and not text.startswith("#"):
            break
        if text and body is not None and len(line) - len(text) >= body:
            end = number
    return end


def _definitions(nodes: Iterable[ast.AST]) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    """The function definitions among ``nodes`` and the statements nested in them
    (a definition is a statement: expressions, most of a tree, are not visited)."""
    for node in nodes:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node
        yield from _definitions(
            child
            for child in ast.iter_child_nodes(node)
            if isinstance(child, ast.stmt | ast.excepthandler | ast.match_case)
        )


def _class_check_from_linecache() -> None:
    """Let ``ti.func``/``ti.kernel`` read the line that decorates them from
    ``linecache`` to tell whether they are defined in a class.

    Taichi's ``_inside_class`` calls ``inspect.getframeinfo``, which finds the
    frame's module by scanning ``sys.modules``, for every decorated function:
    about 0.3 ms each, for the ~70 functions a first render decorates and the
    ~150 of ``taichi.lang.matrix_ops`` (which Taichi imports on the first kernel:
    18 -> 3 ms).  The decision is the same: the line the frame ``level`` above is
    at, matched against Taichi's own patterns.
    """
    from taichi.lang import kernel_impl

    patterns = getattr(kernel_impl, "_KERNEL_CLASS_STACKFRAME_STMT_RES", None)
    if patterns is None or not hasattr(kernel_impl, "_inside_class"):
        return

    def _inside_class(level_of_class_stackframe: int) -> bool:
        try:
            # The same frame as Taichi's: this function replaces it one to one.
            frame = sys._getframe(level_of_class_stackframe)
        except ValueError:
            return False
        line = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
        return any(pattern.match(line) for pattern in patterns)

    kernel_impl._inside_class = _inside_class
