"""The store of task results in ``OUTDIR/.lamina-cache``: records by task key in
pack files, and ``index.json`` saying which task and output file each key belongs to.

A run appends the results it computes to one pack of its own
(``TIME-PID.pack``): creating a file per task cost more than running a tiny
task. Each record is a header (a magic number, the key, the payload's size and
CRC-32, and the header's own CRC-32) and the payload (:func:`codec.pack`),
appended (header, then payload) with no ``fsync`` (a run ends with one ``os.sync``
when it wrote anything). A record is complete or detectably damaged: a run
killed mid-write leaves a cut-short tail, a power cut at worst damaged bytes.
The latest sound record of a key is its result.

Damage (a bad header, a record cut short, a payload that fails its CRC or
cannot be decoded, stray bytes) is reported once: the pack is rewritten with
its sound records only, and the results lost are recomputed. It never stops a run.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamina.io import atomic_write
from lamina.pipeline import codec
from lamina.pipeline.paths import relative_name

__all__ = ["CACHE", "PACK", "Cache", "CacheInfo"]

CACHE = ".lamina-cache"
PACK = ".pack"
_INDEX = "index.json"
MISSING = object()

_MAGIC = b"LMNREC1\n"
# magic, key length, payload size, payload CRC-32, then the header's CRC-32
# (of the fields before it and the key): a damaged size cannot hide sound records.
_HEAD = struct.Struct("<8sHQI")
_HEAD_CRC = struct.Struct("<I")
_HEADER = _HEAD.size + _HEAD_CRC.size
_MAX_KEY = 256


def _header(key: str, payload: bytes) -> bytes:
    """What comes before ``payload`` in its pack record under ``key``."""
    name = key.encode()
    head = _HEAD.pack(_MAGIC, len(name), len(payload), zlib.crc32(payload))
    return b"".join([head, _HEAD_CRC.pack(zlib.crc32(head + name)), name])


def _record(key: str, payload: bytes) -> bytes:
    """One pack record of ``payload`` under ``key``."""
    return _header(key, payload) + payload


@dataclass(frozen=True)
class _Where:
    pack: Path
    start: int  # of the payload
    size: int
    crc: int


def _scan(data: Any, pack: Path) -> tuple[dict[str, _Where], list[str]]:
    """The records in a pack's bytes by key (the latest wins), and its damage."""
    found: dict[str, _Where] = {}
    damage: list[str] = []
    position, end = 0, len(data)
    while position < end:
        header = bytes(data[position : position + _HEADER])
        sound = len(header) == _HEADER and header.startswith(_MAGIC)
        if sound:
            _, length, size, crc = _HEAD.unpack_from(header)
            name = bytes(data[position + _HEADER : position + _HEADER + length])
            sound = (
                length <= _MAX_KEY
                and len(name) == length
                and _HEAD_CRC.unpack_from(header, _HEAD.size)[0]
                == zlib.crc32(header[: _HEAD.size] + name)
                and position + _HEADER + length + size <= end
            )
        if sound:
            start = position + _HEADER + length
            found[name.decode("ascii", "replace")] = _Where(pack, start, size, crc)
            position = start + size
            continue
        following = data.find(_MAGIC, position + 1)
        following = end if following < 0 else following
        damage.append(
            f"{pack.name}: {following - position} damaged bytes at offset {position} skipped"
        )
        position = following
    return found, damage


@dataclass
class CacheInfo:
    """What a cache holds: entries and bytes, and how many the last run used."""

    folder: str
    entries: int
    bytes: int
    used_by_last_run: int
    oldest: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "folder": self.folder,
            "entries": self.entries,
            "bytes": self.bytes,
            "used_by_last_run": self.used_by_last_run,
            "unused": self.entries - self.used_by_last_run,
            "oldest": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.oldest))
            if self.oldest
            else None,
        }


@dataclass
class Cache:
    """Results by task key in ``folder``; ``damaged`` lists damage found, each
    item starting with the key it cost when it cost one."""

    folder: Path
    damaged: list[str] = field(default_factory=list)
    _where: dict[str, _Where] | None = field(default=None, repr=False)
    _broken: set[Path] = field(default_factory=set, repr=False)  # packs to rewrite
    _bad: set[tuple[Path, int]] = field(default_factory=set, repr=False)  # records to drop
    _out: int | None = field(default=None, repr=False)  # this run's pack, open to append
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _packs(self) -> list[Path]:
        return sorted(self.folder.glob(f"*{PACK}"))  # by name: oldest first

    def _records(self) -> dict[str, _Where]:
        if self._where is None:
            self._where = {}
            for pack in self._packs():
                try:
                    with pack.open("rb") as handle:
                        if os.fstat(handle.fileno()).st_size == 0:
                            continue  # a run killed before its first result
                        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
                            found, damage = _scan(view, pack)
                except OSError:
                    continue
                self._where.update(found)
                if damage:
                    self.damaged += damage
                    self._broken.add(pack)
        return self._where

    def has(self, key: str) -> bool:
        return key in self._records()

    def load(self, key: str) -> Any:
        """The stored result of ``key``, or ``MISSING`` (damage is noted for :meth:`repair`)."""
        where = self._records().get(key)
        if where is None:
            return MISSING
        try:
            payload = self._payload(where)
            if payload is None:
                raise ValueError("the payload fails its CRC check")
            return codec.unpack(payload)
        except Exception as error:  # any damage at all: the record is only a cache
            self.damaged.append(f"{key}: {type(error).__name__}: {error}")
            self._broken.add(where.pack)
            self._bad.add((where.pack, where.start))
            del self._records()[key]
            return MISSING

    @staticmethod
    def _payload(where: _Where) -> bytes | None:
        """A record's payload, or None when it is not what was written."""
        with open(where.pack, "rb") as handle:
            handle.seek(where.start)
            payload = handle.read(where.size)
        return payload if len(payload) == where.size and zlib.crc32(payload) == where.crc else None

    def repair(self) -> None:
        """Rewrite each pack found damaged with its sound records only (or remove
        it), so that damage is reported once."""
        for pack in sorted(self._broken):
            with contextlib.suppress(OSError):
                data = pack.read_bytes()
                found, _ = _scan(data, pack)
                sound = [
                    (key, where)
                    for key, where in sorted(found.items(), key=lambda item: item[1].start)
                    if (pack, where.start) not in self._bad
                    and zlib.crc32(data[where.start : where.start + where.size]) == where.crc
                ]
                if not sound:
                    pack.unlink()
                    continue
                with atomic_write(pack) as handle:
                    for key, where in sound:
                        handle.write(_record(key, data[where.start : where.start + where.size]))
        self._broken.clear()
        self._bad.clear()
        self._where = None

    def store(self, key: str, value: Any) -> None:
        """Append ``value`` under ``key`` to this run's pack; ``TypeError`` if it
        cannot be stored. Safe to call from many threads."""
        payload = codec.pack(value)
        header = _header(key, payload)  # written apart: joining them would copy the payload
        with self._lock:
            if self._out is None:
                name = f"{time.time_ns():020d}-{os.getpid()}{PACK}"
                self._out = os.open(
                    self.folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o666
                )
            for part in (header, payload):
                view = memoryview(part)
                while view:  # a large write may be partial
                    view = view[os.write(self._out, view) :]

    def close(self) -> None:
        """Close this run's pack (stores after it start a new one)."""
        with self._lock:
            if self._out is not None:
                os.close(self._out)
                self._out = None

    def read_index(self) -> dict[str, Any]:
        """The last run's index, keeping only well-formed entries (an output entry
        must name a file inside the output folder): an edited or damaged index
        costs reruns and rewrites, never a write or a removal elsewhere."""
        try:
            index = json.loads((self.folder / _INDEX).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            index = {}
        tasks = index.get("tasks") if isinstance(index, dict) else None
        outputs = index.get("outputs") if isinstance(index, dict) else None
        return {
            "tasks": {
                label: entry
                for label, entry in (tasks if isinstance(tasks, dict) else {}).items()
                if isinstance(entry, dict) and isinstance(entry.get("key"), str)
            },
            "outputs": {
                name: entry
                for name, entry in (outputs if isinstance(outputs, dict) else {}).items()
                if _is_output(name, entry)
            },
        }

    def write_index(self, index: dict[str, Any]) -> None:
        # json.dumps, not json.dump: only the one-shot encoder is C (a 2,000-task
        # index took 0.5 s in the Python one).
        text = json.dumps(index, separators=(",", ":"))
        with atomic_write(self.folder / _INDEX, "w") as handle:
            handle.write(text)

    def info(self) -> CacheInfo:
        packs = self._packs()
        stats = [p.stat() for p in packs]
        used = {t["key"] for t in self.read_index()["tasks"].values()}
        keys = self._records().keys()
        return CacheInfo(
            str(self.folder),
            len(keys),
            sum(s.st_size for s in stats),
            len(keys & used),
            min((s.st_mtime for s in stats), default=None),
        )

    def prune(self, *, everything: bool = False) -> tuple[int, int]:
        """Keep only the results the last run used (none with ``everything``), in
        one pack; returns (entries removed, bytes freed)."""
        used = set() if everything else {t["key"] for t in self.read_index()["tasks"].values()}
        packs = self._packs()
        before = sum(p.stat().st_size for p in packs)
        records = self._records()
        kept = {key: where for key, where in records.items() if key in used}
        if kept:
            # The kept records are written under a newer name before the old packs go:
            # a crash in between leaves copies, never a loss.
            with atomic_write(self.folder / f"{time.time_ns():020d}-{os.getpid()}{PACK}") as out:
                for key, where in kept.items():
                    payload = self._payload(where)
                    if payload is not None:  # a damaged one is not made to look sound
                        out.write(_record(key, payload))
        for pack in packs:
            pack.unlink()
        self._where = None
        after = sum(p.stat().st_size for p in self._packs())
        return len(records) - len(kept), before - after


def _is_output(name: str, entry: Any) -> bool:
    if not (
        isinstance(entry, dict)
        and isinstance(entry.get("task"), str)
        and isinstance(entry.get("key"), str)
        and isinstance(entry.get("stat"), list)
    ):
        return False
    try:
        relative_name(name)
    except ValueError:
        return False
    return True
