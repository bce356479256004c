"""The store of task results in ``OUTDIR/.lamina-cache``: one record per task key,
and ``index.json`` saying which task and output file each key belongs to.

A damaged entry (empty, truncated, garbage, a type that is not allowed) is
reported once, removed and recomputed; it never stops a run. Entries are
written to a temporary file and renamed into place, without ``fsync`` (a run
ends with one ``os.sync`` when it wrote anything): a power cut can at worst
damage an entry, and damage is detected and recomputed.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamina.io import atomic_write
from lamina.pipeline import codec
from lamina.pipeline.paths import relative_name

__all__ = ["CACHE", "SUFFIX", "Cache", "CacheInfo"]

CACHE = ".lamina-cache"
SUFFIX = ".result"
_INDEX = "index.json"
MISSING = object()


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
    """Results by task key in ``folder``; ``damaged`` lists entries found broken."""

    folder: Path
    damaged: list[str] = field(default_factory=list)

    def entry(self, key: str) -> Path:
        return self.folder / f"{key}{SUFFIX}"

    def has(self, key: str) -> bool:
        return self.entry(key).is_file()

    def load(self, key: str) -> Any:
        """The stored result of ``key``, or ``MISSING`` (a damaged entry is removed)."""
        path = self.entry(key)
        if not path.is_file():
            return MISSING
        try:
            return codec.unpack(path.read_bytes())
        except Exception as error:  # any damage at all: the entry is only a cache
            self.damaged.append(f"{path.name}: {type(error).__name__}: {error}")
            with contextlib.suppress(OSError):
                path.unlink()
            return MISSING

    def store(self, key: str, value: Any) -> None:
        """Keep ``value`` under ``key``; ``TypeError`` if it cannot be stored."""
        payload = codec.pack(value)
        # Named as lamina.io names its temporary files, so remove_stale_parts
        # clears those of a killed run.
        fd, temporary = tempfile.mkstemp(
            prefix=f".{key}.{os.getpid()}.", suffix=".part", dir=self.folder
        )
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
            os.replace(temporary, self.entry(key))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

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
        with atomic_write(self.folder / _INDEX, "w") as handle:
            json.dump(index, handle, separators=(",", ":"))

    def info(self) -> CacheInfo:
        entries = list(self.folder.glob(f"*{SUFFIX}"))
        stats = [p.stat() for p in entries]
        used = {t["key"] for t in self.read_index()["tasks"].values()}
        return CacheInfo(
            str(self.folder),
            len(entries),
            sum(s.st_size for s in stats),
            sum(1 for p in entries if p.stem in used),
            min((s.st_mtime for s in stats), default=None),
        )

    def prune(self, *, everything: bool = False) -> tuple[int, int]:
        """Remove entries the last run did not use (all with ``everything``);
        returns (entries, bytes) removed."""
        used = set() if everything else {t["key"] for t in self.read_index()["tasks"].values()}
        removed = freed = 0
        for path in self.folder.glob(f"*{SUFFIX}"):
            if path.stem not in used:
                freed += path.stat().st_size
                path.unlink()
                removed += 1
        return removed, freed


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
