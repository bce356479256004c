"""Size limits, in one table: the command line, the components and the docs all read them here.

A limit is a hard bound on a user-given number that no amount of memory
changes (a renderer's largest side, an upsampling factor beyond which the
answer cannot improve). Bounds that depend on the machine are the memory
guard's business (:mod:`lamina.memory`), not this table's.

>>> from lamina.limits import LIMITS, MAX_IMAGE_SIDE
>>> MAX_IMAGE_SIDE
16384
>>> LIMITS["MAX_IMAGE_SIDE"].applies_to
'renderer and interpolator output height and width, in pixels'

The README's "Limits" section is :func:`markdown_table`, pasted between its
markers (``python -m lamina.limits`` prints it; a test keeps the two equal).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "LIMITS",
    "MAX_IMAGE_SIDE",
    "MAX_INTERPOLANT_NODES",
    "MAX_SWEEP_POINTS",
    "MAX_TASK_RETRIES",
    "Limit",
    "markdown_table",
]


@dataclass(frozen=True)
class Limit:
    """One bound: its value, what it applies to, and why it is there."""

    name: str
    value: int | float
    applies_to: str
    why: str


_TABLE = (
    Limit(
        "MAX_IMAGE_SIDE",
        16384,
        "renderer and interpolator output height and width, in pixels",
        "the largest texture side of current GPUs; larger frames are tiled by the caller",
    ),
    Limit(
        "MAX_SWEEP_POINTS",
        1_000_000,
        "points of one pipeline step's sweep (lists and ranges)",
        "each point is a task with its own key, log line and stored result; "
        "a million already takes minutes just to plan",
    ),
    Limit(
        "MAX_TASK_RETRIES",
        10,
        "a pipeline step's `retries`",
        "a task that fails eleven times is broken, not unlucky",
    ),
    Limit(
        "MAX_INTERPOLANT_NODES",
        2_000_000,
        "grid nodes (hidden units) of a ReLU interpolant, fitted or built by "
        "`lamina approximate --method constructive --width`",
        "its sparse least-squares solve and its network grow with the nodes (1e8 nodes in 1-D "
        "took 9.5 GB and over 100 s); 2 million knots already resolve a unit interval to 5e-7",
    ),
)

#: Every limit by name.
LIMITS: dict[str, Limit] = {limit.name: limit for limit in _TABLE}

MAX_IMAGE_SIDE: int = int(LIMITS["MAX_IMAGE_SIDE"].value)
MAX_INTERPOLANT_NODES: int = int(LIMITS["MAX_INTERPOLANT_NODES"].value)
MAX_SWEEP_POINTS: int = int(LIMITS["MAX_SWEEP_POINTS"].value)
MAX_TASK_RETRIES: int = int(LIMITS["MAX_TASK_RETRIES"].value)


def markdown_table() -> str:
    """The table as Markdown, for the README.

    >>> markdown_table().splitlines()[0]
    '| limit | value | applies to | why |'
    """
    rows = ["| limit | value | applies to | why |", "|---|---|---|---|"]
    rows += [
        f"| `{limit.name}` | {limit.value:,} | {limit.applies_to} | {limit.why} |"
        for limit in _TABLE
    ]
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
