"""Start-up time of the ``lamina`` command line beside a bare Python and a bare click app.

Every command line pays its start-up before doing anything: ``lamina --help``
loads every plugin's registration (names, summaries, ``"module:attr"``
targets) but imports no command, component or operation module, so it should
cost little more than Python itself and click. Each row is the best of
``--repeats`` runs in a fresh process (the best, because the machine's other
load only ever adds time). Goal (issue 14): ``lamina --help`` <= 0.2 s.

    python benchmarks/startup.py            # table on stdout
    python benchmarks/startup.py --json     # one JSON document
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

from lamina.clitools import emit_json, print_table

GOAL_SECONDS = 0.2
_CLICK_APP = (
    "import click\n"
    "@click.group()\n"
    "def cli():\n    'A one-command click app.'\n"
    "@cli.command()\n"
    "def hello():\n    'Say hello.'\n"
    "cli(['--help'])\n"
)


def _lamina() -> list[str]:
    script = Path(sys.executable).with_name("lamina")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from lamina.cli import main; main()"]


def cases() -> dict[str, list[str]]:
    """Row name -> command line."""
    lamina = _lamina()
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "click app --help (peer)": [sys.executable, "-c", _CLICK_APP],
        "lamina --version": [*lamina, "--version"],
        "lamina --help": [*lamina, "--help"],
        "lamina components": [*lamina, "components"],
        "lamina plugins": [*lamina, "plugins"],
    }


def best_of(command: list[str], repeats: int) -> tuple[float, float]:
    """The shortest wall time and the shortest CPU time (user + system) of
    ``repeats`` runs of ``command``, in seconds, after one untimed run that leaves
    the bytecode cache as an installed lamina has it (``PYTHONDONTWRITEBYTECODE``
    is dropped: it makes every run recompile). CPU time hardly depends on what
    else the machine runs; wall time does."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    walls, cpus = [], []
    for _ in range(repeats + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(
            command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return min(walls[1:]), min(cpus[1:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--repeats", type=int, default=5, help="runs per row (best is kept)")
    args = parser.parse_args(argv)
    measured = {name: best_of(command, args.repeats) for name, command in cases().items()}
    floor, floor_cpu = measured["python -c pass"]
    result = {
        "machine": platform.platform(),
        "python": platform.python_version(),
        "repeats": args.repeats,
        # Other processes only ever add wall time: read the rows beside this.
        "load_average_1min": round(os.getloadavg()[0], 2),
        "goal_seconds": GOAL_SECONDS,
        "rows": [
            {
                "case": name,
                "best_seconds": round(wall, 4),
                "over_python": round(wall - floor, 4),
                "best_cpu_seconds": round(cpu, 4),
                "cpu_over_python": round(cpu - floor_cpu, 4),
            }
            for name, (wall, cpu) in measured.items()
        ],
        "help_meets_goal": measured["lamina --help"][0] <= GOAL_SECONDS,
    }
    if args.json:
        emit_json(result)
        return 0
    print_table(
        f"start-up, best of {args.repeats} (goal: lamina --help <= {GOAL_SECONDS} s; "
        f"load average {result['load_average_1min']})",
        ["case", "wall s", "over python", "cpu s", "cpu over python"],
        [
            (
                r["case"],
                f"{r['best_seconds']:.3f}",
                f"{r['over_python']:.3f}",
                f"{r['best_cpu_seconds']:.3f}",
                f"{r['cpu_over_python']:.3f}",
            )
            for r in result["rows"]
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
