"""LLVM's loop options for the CPU kernels, set once per process by
:func:`lamina.kernels.runtime.init` before any kernel is compiled.

Taichi 1.7's offline cache holds each kernel's optimised LLVM IR, not machine
code, so every process optimises it again at LLVM's ``-O3`` and generates its
machine code (``JITSessionCPU::add_module``) before a kernel's first launch,
in time linear in the IR's size.  At ``-O3`` LLVM unrolls loops whose trip
count is known only at run time (8 copies and a remainder loop) and
vectorises loops it can (16 lanes of 4, with a scalar tail): for the
fragment-list renderer's three kernels that is 58 % of their IR, and the
first frame of a process took 0.49 s of these launches.  Their loops walk bins
of triangles, where copies gain nothing measurable
(``benchmarks/oit.py --sweeps triangles``), so lamina turns them off:
:data:`OPTIONS`, through LLVM's own ``LLVMParseCommandLineOptions``, which the
Taichi library holds but does not export: its address is read from the
library's ELF symbol table.  Where that is not possible (another Taichi,
another platform) nothing is set and kernels are as fast, only slower to
compile.  The options change how much code LLVM writes, never what it
computes (no fast-math, no reassociation).
"""

from __future__ import annotations

import ctypes
import logging
import mmap
import os
import struct
import sys
from pathlib import Path
from typing import Any

__all__ = ["OPTIONS", "TAG", "install"]

#: No runtime or partial unrolling, no loop vectorisation (a vector width and an
#: interleave of 1 leave every loop as it is written).
OPTIONS = (
    "-unroll-runtime=false",
    "-unroll-allow-partial=false",
    "-force-vector-width=1",
    "-force-vector-interleave=1",
)

#: Names the offline cache's folder, which holds IR made with :data:`OPTIONS`: a new
#: tag when they change.
TAG = "llvm1"
_log = logging.getLogger("lamina.kernels")
_ENTRY = b"LLVMParseCommandLineOptions"
#: A symbol every Python extension exports, for the library's load address.
_EXPORTED = b"PyInit_taichi_python"
#: An ELF64 symbol (``Elf64_Sym``), as numpy fields.
_SYMBOL = [("name", "<u4"), ("info", "u1"), ("other", "u1"), ("shndx", "<u2"),
           ("value", "<u8"), ("size", "<u8")]  # fmt: skip
_SHT_SYMTAB, _STT_FUNC = 2, 2


def install(library: Path) -> bool:
    """Set :data:`OPTIONS` in the LLVM linked into Taichi's ``library`` (its Python
    extension module, already loaded); return whether they were set.

    Examples
    --------
    >>> from pathlib import Path
    >>> install(Path("/nonexistent/taichi_python.so"))
    False
    """
    if not sys.platform.startswith("linux") or not library.is_file():
        return False
    try:
        values = _functions(library, (_ENTRY, _EXPORTED))
    except (OSError, ValueError, IndexError, struct.error) as error:  # not such a library
        _log.debug("LLVM options not set: %s: %s", library, error)
        return False
    if values is None:
        _log.debug("LLVM options not set: %s has no %s", library, _ENTRY.decode())
        return False
    try:  # the handle of the copy Python loaded; never a fresh load
        loaded = ctypes.CDLL(str(library), mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
    except OSError:
        return False
    bias = ctypes.cast(getattr(loaded, _EXPORTED.decode()), ctypes.c_void_p).value
    if bias is None:
        return False
    bias -= values[1]
    notes = values[2:]  # (address, bytes) of the file's allocated notes: its build id
    if not notes or any(ctypes.string_at(bias + at, len(data)) != data for at, data in notes):
        # the image in memory is not the file read (replaced since it was loaded):
        # its addresses are not these
        _log.debug("LLVM options not set: %s is not the library loaded", library)
        return False
    parse = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.POINTER(ctypes.c_char_p), ctypes.c_char_p)(
        bias + values[0]
    )
    argv = [b"lamina", *(option.encode() for option in OPTIONS)]
    # (LLVM's C entry point reports a bad option to a null stream and carries on.)
    parse(len(argv), (ctypes.c_char_p * len(argv))(*argv), None)
    return True


def _functions(library: Path, names: tuple[bytes, ...]) -> tuple[Any, ...] | None:
    """The values (load-relative addresses) of the functions ``names`` in the ELF
    symbol table of ``library`` (a 64-bit little-endian shared object), then the
    (address, bytes) of each loaded note section (the build id), or ``None`` when a
    function is missing.  A few milliseconds: the string table is
    searched for each name and the symbols are compared as one array."""
    import numpy as np  # (not at import: the CLI imports runtime, this module with it)

    symbol = np.dtype(_SYMBOL)
    with open(library, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as elf:
        if elf[:6] != b"\x7fELF\x02\x01":
            raise ValueError("not a 64-bit little-endian ELF file")
        (section_offset,) = struct.unpack_from("<Q", elf, 0x28)
        entry_size, count = struct.unpack_from("<HH", elf, 0x3A)
        sections = [
            struct.unpack_from("<IIQQQQIIQQ", elf, section_offset + k * entry_size)
            for k in range(count)
        ]
        tables = [s for s in sections if s[1] == _SHT_SYMTAB]
        if not tables:
            return None  # a stripped library
        symbols_at, symbols_size, strings_index = tables[0][4], tables[0][5], tables[0][6]
        strings_at, strings_size = sections[strings_index][4], sections[strings_index][5]
        offsets = [elf.find(b"\0" + name + b"\0", strings_at, strings_at + strings_size)
                   for name in names]  # fmt: skip
        if min(offsets) < 0:
            return None
        symbols = np.frombuffer(
            elf, dtype=symbol, count=symbols_size // symbol.itemsize, offset=symbols_at
        )
        functions = (symbols["info"] & 15 == _STT_FUNC) & (symbols["shndx"] != 0)
        values: list[int] = []
        for offset in offsets:
            hits = np.flatnonzero(functions & (symbols["name"] == offset + 1 - strings_at))
            if len(hits) != 1:
                break
            values.append(int(symbols["value"][hits[0]]))
        del symbols  # (a view of the map, which closes here)
        # SHT_NOTE sections that are loaded (SHF_ALLOC): the build id among them
        notes = [(s[3], bytes(elf[s[4] : s[4] + s[5]])) for s in sections if s[1] == 7 and s[2] & 2]
    return (*values, *notes) if len(values) == len(names) else None
