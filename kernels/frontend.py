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
from types import CodeType, SimpleNamespace
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
    """Read each kernel's and ``ti.func``'s source once per process, placed by its
    code object's source positions.

    Taichi inlines a ``ti.func`` at every call site and reads its source again each
    time, through ``inspect.getsourcelines`` (which scans ``sys.modules`` for the
    function's module and tokenises the file from its first line to find where it
    ends) and a ``textwrap.fill`` of every line: a fragment-list frame's three
    kernels read 52 sources of 29 functions.  Here a function's lines are those
    ``inspect.getsourcelines`` returns, from its first decorator to the last line
    of its last statement, found from the lines its instructions span (from a parse
    of its whole file where those may not tell, see ``_code_end``); the lines of a
    code object are kept, so a process's kernels also stay consistent with
    themselves if their file is edited while it runs.  A function not placed so (no
    file, no ``def`` at its first line) is read by Taichi's own reader.
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
            placed = _definition_lines(code)
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


def _definition_lines(code: CodeType) -> tuple[tuple[str, ...], int] | None:
    """The lines of the function definition ``code`` was compiled from, with its first
    line, as ``inspect.getsourcelines`` gives them, read from its file as it is now;
    ``None`` when there is no such file or definition."""
    filename, first = code.co_filename, code.co_firstlineno
    try:
        stat = os.stat(filename)
    except (OSError, ValueError):
        return None
    version = (filename, stat.st_mtime_ns, stat.st_size)
    lines = _lines_of(*version)
    end = _code_end(code, lines)
    if end is None:  # not placed by its code: the whole file's parse decides
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


def _code_end(code: CodeType, lines: list[str]) -> int | None:
    """The last line in ``lines`` of the function definition compiled to ``code``,
    from the source positions of its instructions; ``None`` where they may not
    tell it.

    Parsing a function's lines to find its end cost 17-20 ms CPU of a first frame
    (37-42 functions); the positions are in the code objects already.  Python
    records, for every instruction, the lines its expression spans, closing
    brackets and string ends included (a ``pass`` or a constant statement gives a
    no-op on its line).  Their last line ends the definition unless the next line
    that is not blank is indented deeper than the ``def``: then it is a comment
    ``inspect`` may keep (those as deep as the body) or a line no instruction
    covers (a docstring over several lines, alone in its body), and the whole
    file's parse decides.  So does a code
    object compiled without column ranges (``-X no_debug_ranges``), whose
    positions hold only first lines."""
    first = code.co_firstlineno
    if code.co_name.startswith("<") or not 0 < first <= len(lines):
        return None  # a lambda, comprehension or module: no definition of its own
    head = lines[first - 1]
    column = len(head) - len(head.lstrip())
    signature = (f"def {code.co_name}", f"async def {code.co_name}")
    # The `def` line: the first at the definition's column after its decorators.
    starts = (
        n for n in range(first, len(lines) + 1) if lines[n - 1][column:].startswith(signature)
    )
    start = next(starts, None)
    end = _last_position(code)
    if start is None or end is None or not start < end <= len(lines):
        # (A body on its `def` line, or a docstring alone: its implicit return is
        # placed there, whatever lines the docstring takes.)
        return None
    for line in lines[end:]:
        text = line.lstrip()
        if text and (len(line) - len(text) > column or text.startswith((")", "]", "}"))):
            return None  # (a closing bracket: of a signature none of whose lines is code)
        if text and not text.startswith("#"):
            break  # the next statement at or left of the definition's column
    return end


def _last_position(code: CodeType) -> int | None:
    """The last line any instruction of ``code`` or of the code nested in it spans;
    ``None`` without column ranges (then the end lines are the first lines)."""
    ends, ranged = [code.co_firstlineno], False
    for _, end, column, _ in code.co_positions():
        if end is not None:
            ends.append(end)
        ranged = ranged or column is not None
    for constant in code.co_consts:
        if isinstance(constant, CodeType):
            nested = _last_position(constant)
            if nested is None:
                return None
            ends.append(nested)
    return max(ends) if ranged else None


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
