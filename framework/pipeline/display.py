"""What a run shows on stderr while it works: one progress row per step on a
terminal; otherwise plain lines (each finished step, and the total at most
every few seconds), so a run in a log file or CI is never silent."""

from __future__ import annotations

import sys
import time
from typing import Literal

from rich.progress import TaskID

from lamina.progress import progress_bar

__all__ = ["RunDisplay"]

Mode = Literal["bar", "lines", "off"]

#: Seconds between two plain "tasks done" lines.
_LINE_EVERY = 3.0


class RunDisplay:
    """Per-step progress; ``mode`` None picks a bar on a terminal, else lines."""

    def __init__(self, totals: dict[str, int], stored: dict[str, int], mode: Mode | None) -> None:
        if mode is None:
            mode = "bar" if sys.stderr.isatty() else "lines"
        self.mode = mode
        self.totals = {name: n for name, n in totals.items() if n}
        self.done = {name: stored.get(name, 0) for name in self.totals}
        self.stored = dict(stored)
        self.seconds = dict.fromkeys(self.totals, 0.0)
        self._bar = progress_bar(enabled=True) if mode == "bar" else None
        self._rows: dict[str, TaskID] = {}
        self._last_line = time.monotonic()

    def __enter__(self) -> RunDisplay:
        if self._bar is not None:
            self._bar.start()
            for name, total in self.totals.items():
                self._rows[name] = self._bar.add_task(
                    name, total=total, completed=self.done[name], status=""
                )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def advance(self, step: str, seconds: float, label: str) -> None:
        """One task of ``step`` finished (in ``seconds``)."""
        self.done[step] += 1
        self.seconds[step] += seconds
        if self._bar is not None:
            self._bar.update(self._rows[step], advance=1, status=label)
        elif self.mode == "lines":
            if self.done[step] == self.totals[step]:
                reused = f", {self.stored[step]} reused" if self.stored.get(step) else ""
                self.line(
                    f"step {step}: {self.totals[step]} tasks done{reused} "
                    f"({self.seconds[step]:.2f} s of work)"
                )
            elif time.monotonic() - self._last_line > _LINE_EVERY:
                finished, total = sum(self.done.values()), sum(self.totals.values())
                self.line(f"{finished}/{total} tasks done (last: {label})")

    def line(self, text: str) -> None:
        """A note for the user (a dashboard link, a retry), in every mode but off."""
        self._last_line = time.monotonic()
        if self.mode == "off":
            return
        if self._bar is not None:
            self._bar.console.print(text, markup=False, highlight=False)
        else:
            sys.stderr.write(f"lamina: {text}\n")
            sys.stderr.flush()
