"""lamina.kernels.codegen calls a function inside Taichi's library by an address read
from the library's file: it must call only into the very image Python loaded.

A reviewer's repro: the file replaced after the library was loaded (``pip install -U
taichi`` in a running notebook before its first render), its symbol moved by 0x40;
install read the new file, added the old image's base and jumped: SIGSEGV.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ELF only")


def _library() -> Path:
    import taichi  # noqa: F401  (loads the library)

    return Path(sys.modules["taichi._lib.core.taichi_python"].__file__)


def _edited(data: bytearray, shift: int) -> bytearray:
    """Another build of the same library: LLVMParseCommandLineOptions' symbol value
    moved by ``shift`` and one byte of every loaded note (the build id) flipped."""
    (section_offset,) = struct.unpack_from("<Q", data, 0x28)
    entry_size, count = struct.unpack_from("<HH", data, 0x3A)
    sections = [
        struct.unpack_from("<IIQQQQIIQQ", data, section_offset + k * entry_size)
        for k in range(count)
    ]
    table = next(s for s in sections if s[1] == 2)
    strings = sections[table[6]]
    name = data.find(b"\0LLVMParseCommandLineOptions\0", strings[4], strings[4] + strings[5])
    for at in range(table[4], table[4] + table[5], 24):
        if struct.unpack_from("<I", data, at)[0] == name + 1 - strings[4]:
            (value,) = struct.unpack_from("<Q", data, at + 8)
            struct.pack_into("<Q", data, at + 8, value + shift)
    for section in sections:
        if section[1] == 7 and section[2] & 2:
            data[section[4] + section[5] - 1] ^= 1
    return data


def _run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=120
    )


def test_a_library_replaced_after_loading_is_not_called_into(tmp_path):
    copy = tmp_path / "taichi_python.so"
    copy.write_bytes(_library().read_bytes())
    edited = tmp_path / "edited.so"
    edited.write_bytes(_edited(bytearray(copy.read_bytes()), 0x40))
    done = _run(f"""
        import ctypes, os
        from pathlib import Path
        from lamina.kernels import codegen
        ctypes.CDLL({str(copy)!r})  # the image in memory
        os.replace({str(edited)!r}, {str(copy)!r})  # the file on disk: another build
        print(codegen.install(Path({str(copy)!r})))
        """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_a_library_not_loaded_is_not_loaded_to_call_into(tmp_path):
    copy = tmp_path / "taichi_python.so"
    copy.write_bytes(_library().read_bytes())
    done = _run(f"""
        from pathlib import Path
        from lamina.kernels import codegen
        print(codegen.install(Path({str(copy)!r})))
        """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_the_loaded_library_gets_the_options():
    done = _run("""
        import sys
        from pathlib import Path
        import taichi  # noqa: F401
        from lamina.kernels import codegen
        print(codegen.install(Path(sys.modules["taichi._lib.core.taichi_python"].__file__)))
        """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "True"


def test_llvm_defaults_can_be_kept(monkeypatch):
    from lamina.kernels import codegen, runtime

    called = []
    monkeypatch.setattr(codegen, "install", lambda library: called.append(library) or True)
    monkeypatch.setenv("LAMINA_LLVM_DEFAULTS", "1")
    runtime._set_llvm_options()
    assert not called
    monkeypatch.setenv("LAMINA_LLVM_DEFAULTS", "0")
    _library()
    runtime._set_llvm_options()
    assert called
