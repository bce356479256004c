"""Read a pipeline TOML file and validate all of it before anything runs.

A pipeline is a table of named steps. Each step either calls a component's core
method (``uses = "kind:name"``) or a registered operation (``op = "name"``,
optionally with a component it receives as ``component``)::

    [steps.frame]
    uses = "renderer:fragment-list"
    params = { max_fragments = 1_000_000 }     # constructor parameters
    with = { size = [96, 128] }                # literal call arguments
    inputs = { scene = "scene.scene", camera = "scene.camera" }

    [steps.frame.sweep]                        # one task per value (grid or zip)
    "params.max_fragments" = [1000, 1_000_000]
    "with.size" = ...                          # or a range, see below

A sweep axis is a list of values or a range: ``{ start = 0, stop = 1, num = 5 }``
(``num`` evenly spaced values, both ends included, as ``numpy.linspace``) or
``{ start = 0, stop = 10, step = 2 }`` (``stop`` excluded, as ``range``).
``retries = N`` reruns a failing task up to N more times.

An input reference is ``STEP``, ``STEP[i]`` (item ``i`` of a swept step),
``STEP[*]`` (all items as a list), each optionally followed by ``.key`` or
``.attribute`` selectors. A step whose input names a swept step without an index
runs once per item of it.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamina.errors import ComponentNotFound, ConfigError, InputError, LaminaError
from lamina.host import Host, get_host
from lamina.limits import MAX_SWEEP_POINTS, MAX_TASK_RETRIES
from lamina.params import Parameter, coerce_value, validate_parameters
from lamina.pipeline.paths import RESERVED, STEP_NAME, STEP_SUFFIXES, relative_name
from lamina.tomlfile import TomlFile

__all__ = ["InputRef", "Pipeline", "Step", "load_pipeline", "parse_pipeline"]

_STEP_KEYS = {
    "op",
    "uses",
    "call",
    "params",
    "with",
    "inputs",
    "sweep",
    "optional",
    "save",
    "title",
    "retries",
}
_REF = re.compile(r"^(?P<step>[A-Za-z_][\w-]*)(?:\[(?P<index>\*|\d+)\])?(?P<path>(?:\.[\w-]+)*)$")


@dataclass(frozen=True)
class InputRef:
    """A reference to another step's output: ``step[index].path``."""

    step: str
    index: int | str | None  # None: map over items; "*": gather all; int: one item
    path: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> InputRef:
        match = _REF.match(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise ValueError(
                f"input reference {text!r} must look like STEP, STEP[0], STEP[*] or STEP.key"
            )
        index = match["index"]
        path = tuple(p for p in match["path"].split(".") if p)
        return cls(
            match["step"], None if index is None else (index if index == "*" else int(index)), path
        )


@dataclass
class Step:
    """One validated step and the tasks it expands to."""

    name: str
    op: str | None
    uses: tuple[str, str] | None
    call: str | None
    params: dict[str, Any]
    with_: dict[str, Any]
    inputs: dict[str, InputRef]
    sweep: list[dict[str, Any]]  # one dict per sweep point: {"with": {...}, "params": {...}}
    optional: bool = False
    save: bool = True
    title: str = ""
    retries: int = 0
    writes: list[tuple[str, str]] = field(default_factory=list)  # (file name, its TOML key)
    n_tasks: int = 1
    mapped_over: list[str] = field(default_factory=list)  # input args mapped item by item
    unavailable: str | None = None  # reason, when optional and its component is missing


@dataclass
class Pipeline:
    """A validated pipeline: its steps in a runnable (topological) order."""

    name: str
    title: str
    description: str
    steps: dict[str, Step]
    source: Path | None = None


def load_pipeline(path: str | Path, *, host: Host | None = None) -> Pipeline:
    """Read and validate the pipeline file ``path``; :class:`ConfigError` on any problem."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or error
        raise ConfigError(f"cannot read pipeline: {reason}", file=str(source)) from None
    return parse_pipeline(text, source=source, host=host)


def parse_pipeline(text: str, *, source: Path | None = None, host: Host | None = None) -> Pipeline:
    """Validate pipeline ``text`` (TOML) completely; :class:`ConfigError` names file, line and key."""
    toml = TomlFile(text, file=str(source) if source else "<pipeline>")
    data = toml.data

    def fail(message: str, key: str) -> ConfigError:
        return toml.error(message, key)

    unknown = sorted(set(data) - {"pipeline", "steps"})
    if unknown:
        raise fail(
            f"unknown table {unknown[0]!r}; a pipeline has [pipeline] and [steps.NAME]", unknown[0]
        )
    header = data.get("pipeline", {})
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, dict) or not raw_steps:
        raise fail("the pipeline has no steps: add [steps.NAME] tables", "steps")
    host = host or get_host()
    # Input files are looked for beside the pipeline file; text without one skips that.
    base_dir = source.parent if source is not None and source.is_file() else None
    steps: dict[str, Step] = {}
    for name, raw in raw_steps.items():
        if not STEP_NAME.match(name):
            raise fail(
                f"step name {name!r} must be letters, digits, '_' or '-' (it names the "
                "step's output files inside the output folder)",
                f"steps.{name}",
            )
        steps[name] = _parse_step(name, raw, host, fail, base_dir)
    order = _topological_order(steps, fail)
    ordered = {name: steps[name] for name in order}
    _count_tasks(ordered, fail)
    _check_outputs(ordered, fail)
    return Pipeline(
        name=str(header.get("name", source.stem if source else "pipeline")),
        title=str(header.get("title", header.get("name", "lamina pipeline"))),
        description=str(header.get("description", "")),
        steps=ordered,
        source=source,
    )


def _parse_step(name: str, raw: Any, host: Host, fail: Any, base_dir: Path | None) -> Step:
    key = f"steps.{name}"
    if not isinstance(raw, dict):
        raise fail("a step must be a table", key)
    unknown = sorted(set(raw) - _STEP_KEYS)
    if unknown:
        raise fail(
            f"unknown key {unknown[0]!r}; step keys are {', '.join(sorted(_STEP_KEYS))}",
            f"{key}.{unknown[0]}",
        )
    if ("op" in raw) == ("uses" in raw) and "op" not in raw:
        raise fail("a step needs `op` (an operation) or `uses` (a component), or both", key)
    for table in ("params", "with", "inputs", "sweep"):
        if not isinstance(raw.get(table, {}), dict):
            raise fail(f"`{table}` must be a table", f"{key}.{table}")

    uses = None
    unavailable = None
    component_parameters: list[Parameter] = []
    if "uses" in raw:
        kind, sep, component = str(raw["uses"]).partition(":")
        if not sep:
            raise fail(f"`uses` must be KIND:NAME, got {raw['uses']!r}", f"{key}.uses")
        try:
            info = host.get(kind, component)
        except (ComponentNotFound, InputError) as error:
            raise fail(str(error), f"{key}.uses") from None
        uses = (kind, component)
        if not info.available:
            if not raw.get("optional", False):
                raise fail(
                    f"{kind} {component!r} is unavailable: {info.install_hint}", f"{key}.uses"
                )
            unavailable = info.install_hint
        else:
            try:
                component_parameters = info.parameters
            except LaminaError as error:
                raise fail(str(error), f"{key}.uses") from None

    op_parameters: list[Parameter]
    call = raw.get("call")
    if "op" in raw:
        try:
            operation = host.operation(str(raw["op"]))
        except ComponentNotFound as error:
            raise fail(str(error), f"{key}.op") from None
        op_parameters = [p for p in operation.parameters if p.name not in ("component", "context")]
        takes_component = any(p.name == "component" for p in operation.parameters)
        if takes_component and uses is None:
            raise fail(f'operation {raw["op"]!r} needs a component: add `uses = "KIND:NAME"`', key)
        if uses is not None and not takes_component:
            raise fail(f"operation {raw['op']!r} takes no component; remove `uses`", f"{key}.uses")
    else:
        assert uses is not None
        # The methods a ``uses`` step may call on its kind, with their arguments.
        calls = host.kind(uses[0]).calls
        if not calls:
            raise fail(f'a {uses[0]} step needs an operation, e.g. op = "cross_validate"', key)
        call = call or next(iter(calls))
        if call not in calls:
            raise fail(f"`call` must be one of {', '.join(calls)}, got {call!r}", f"{key}.call")
        op_parameters = [Parameter(n, Any) for n in calls[call]]

    inputs = {}
    for argument, text in raw.get("inputs", {}).items():
        try:
            inputs[argument] = InputRef.parse(text)
        except ValueError as error:
            raise fail(str(error), f"{key}.inputs.{argument}") from None

    with_ = dict(raw.get("with", {}))
    sweep_table = dict(raw.get("sweep", {}))
    mode = sweep_table.pop("mode", "grid")
    if mode not in ("grid", "zip"):
        raise fail(f"sweep mode must be 'grid' or 'zip', got {mode!r}", f"{key}.sweep.mode")
    params = dict(raw.get("params", {}))
    if uses is not None and unavailable is None:
        try:
            params = validate_parameters(
                component_parameters, params, what=f"{uses[0]} {uses[1]!r}"
            )
        except InputError as error:
            raise fail(str(error), f"{key}.params") from None
    elif params and uses is None:
        raise fail("`params` configure a component; this step uses none", f"{key}.params")

    by_name = {p.name: p for p in op_parameters}
    for argument in list(with_) + list(inputs):
        if argument not in by_name:
            valid = ", ".join(sorted(by_name)) or "none"
            table = "with" if argument in with_ else "inputs"
            raise fail(
                f"unknown argument {argument!r}; valid arguments: {valid}",
                f"{key}.{table}.{argument}",
            )
    both = set(with_) & set(inputs)
    if both:
        raise fail(
            f"argument {sorted(both)[0]!r} is given in both `with` and `inputs`", f"{key}.with"
        )
    retries = raw.get("retries", 0)
    if (
        not isinstance(retries, int)
        or isinstance(retries, bool)
        or not 0 <= retries <= MAX_TASK_RETRIES
    ):
        raise fail(
            f"`retries` must be an integer in 0..{MAX_TASK_RETRIES}, got {retries!r}",
            f"{key}.retries",
        )
    for argument, value in with_.items():
        try:
            with_[argument] = coerce_value(value, by_name[argument].annotation)
        except (TypeError, ValueError) as error:
            raise fail(
                f"argument {argument!r} expects {by_name[argument].type_name}: {error}",
                f"{key}.with.{argument}",
            ) from None
        _check_input_file(by_name[argument], value, base_dir, fail, f"{key}.with.{argument}")

    # Count a grid's points first: two large ranges are refused before any value
    # is made or checked (one axis is bounded by itself, below).
    counts = [
        _range_count(v) if isinstance(v, dict) else len(v) if isinstance(v, list) else 1
        for v in sweep_table.values()
    ]
    points = math.prod(counts)
    if mode == "grid" and len(counts) > 1 and points > MAX_SWEEP_POINTS:
        raise fail(
            f"the sweep has {points:,} points, more than {MAX_SWEEP_POINTS:,}: "
            "split the study into several pipelines",
            f"{key}.sweep",
        )
    axes = []
    for sweep_key, values in sweep_table.items():
        if isinstance(values, dict):
            try:
                values = sweep_range(values)
            except ValueError as error:
                raise fail(str(error), f"{key}.sweep.{sweep_key}") from None
        if not isinstance(values, list) or not values:
            raise fail(
                "a sweep lists one or more values or gives a range {start, stop, num|step}",
                f"{key}.sweep.{sweep_key}",
            )
        target, _, pname = sweep_key.partition(".")
        if target == "params" and pname:
            if uses is None:
                raise fail(
                    "this step has no component to sweep parameters of", f"{key}.sweep.{sweep_key}"
                )
            if unavailable is None:
                try:
                    values = [
                        validate_parameters(
                            component_parameters, {pname: v}, what=f"{uses[0]} {uses[1]!r}"
                        )[pname]
                        for v in values
                    ]
                except InputError as error:
                    raise fail(str(error), f"{key}.sweep.{sweep_key}") from None
            axes.append(("params", pname, values))
        else:
            if sweep_key not in by_name or sweep_key in inputs:
                raise fail(
                    f"cannot sweep {sweep_key!r}: not an argument of this step",
                    f"{key}.sweep.{sweep_key}",
                )
            for value in values:
                _check_input_file(
                    by_name[sweep_key], value, base_dir, fail, f"{key}.sweep.{sweep_key}"
                )
            try:
                values = [coerce_value(v, by_name[sweep_key].annotation) for v in values]
            except (TypeError, ValueError) as error:
                raise fail(f"sweep of {sweep_key!r}: {error}", f"{key}.sweep.{sweep_key}") from None
            axes.append(("with", sweep_key, values))
    if mode == "zip" and len({len(a[2]) for a in axes}) > 1:
        raise fail("a zip sweep needs lists of equal length", f"{key}.sweep")
    points = len(axes[0][2]) if mode == "zip" and axes else math.prod(len(a[2]) for a in axes)
    if points > MAX_SWEEP_POINTS:
        raise fail(
            f"the sweep has {points:,} points, more than {MAX_SWEEP_POINTS:,}: "
            "split the study into several pipelines",
            f"{key}.sweep",
        )
    combos = (
        zip(*(a[2] for a in axes), strict=True)
        if mode == "zip"
        else itertools.product(*(a[2] for a in axes))
    )
    sweep = []
    for combo in combos:
        point: dict[str, dict[str, Any]] = {"with": {}, "params": {}}
        for (target, pname, _), value in zip(axes, combo, strict=True):
            point[target][pname] = value
        sweep.append(point)

    given = set(with_) | set(inputs) | {a[1] for a in axes if a[0] == "with"}
    missing = [p.name for p in op_parameters if p.required and p.name not in given]
    if missing:
        raise fail(
            f"missing argument(s) {', '.join(missing)}: give them in `with` or `inputs`", key
        )

    writes = []
    output_argument = getattr(operation.function, "output_argument", None) if "op" in raw else None
    if output_argument is not None and output_argument not in inputs:
        where = (
            f"{key}.sweep.{output_argument}"
            if output_argument in sweep_table
            else f"{key}.with.{output_argument}"
        )
        for point in sweep or [{"with": {}}]:
            written = str(point["with"].get(output_argument, with_.get(output_argument)))
            try:
                writes.append((str(relative_name(written)), where))
            except ValueError as error:
                raise fail(f"output name {error}", where) from None

    return Step(
        name=name,
        op=str(raw["op"]) if "op" in raw else None,
        uses=uses,
        call=call,
        params=params,
        with_=with_,
        inputs=inputs,
        sweep=sweep or [{"with": {}, "params": {}}],
        optional=bool(raw.get("optional", False)),
        save=bool(raw.get("save", True)),
        title=str(raw.get("title", "")),
        retries=retries,
        writes=writes,
        unavailable=unavailable,
    )


def _range_count(spec: dict[str, Any]) -> int:
    """How many values a range spec gives (1 when it is malformed: reported later)."""
    try:
        if "num" in spec:
            return max(1, int(spec["num"]))
        return max(1, math.ceil((spec["stop"] - spec["start"]) / spec["step"]))
    except (KeyError, TypeError, ValueError, ZeroDivisionError, OverflowError):
        return 1


def sweep_range(spec: dict[str, Any]) -> list[Any]:
    """The values of a sweep range ``{start, stop, num}`` or ``{start, stop, step}``.

    Examples
    --------
    >>> sweep_range({"start": 0, "stop": 1, "num": 5})
    [0.0, 0.25, 0.5, 0.75, 1.0]
    >>> sweep_range({"start": 2, "stop": 10, "step": 3})
    [2, 5, 8]
    """
    keys = set(spec)
    if keys not in ({"start", "stop", "num"}, {"start", "stop", "step"}):
        raise ValueError(
            f"a sweep range has keys start, stop and num (or step), got {', '.join(sorted(keys))}"
        )
    start, stop = spec["start"], spec["stop"]
    for name in keys:
        value = spec[name]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:
            raise ValueError(f"sweep range {name} must be a number, got {value!r}")
    if "num" in spec:
        num = spec["num"]
        if not isinstance(num, int) or not 1 <= num <= MAX_SWEEP_POINTS:
            raise ValueError(
                f"sweep range num must be an integer in 1..{MAX_SWEEP_POINTS:,}, got {num!r}"
            )
        if num == 1:
            return [float(start)]
        # start + i * width keeps both ends exact, as numpy.linspace does.
        width = (stop - start) / (num - 1)
        return [float(start + i * width) if i < num - 1 else float(stop) for i in range(num)]
    step = spec["step"]
    if step == 0 or (stop - start) * step < 0:
        raise ValueError(f"sweep range step {step!r} never gets from {start!r} to {stop!r}")
    count = math.ceil((stop - start) / step)
    if count > MAX_SWEEP_POINTS:
        raise ValueError(f"sweep range has {count:,} values, more than {MAX_SWEEP_POINTS:,}")
    exact = all(isinstance(spec[k], int) for k in ("start", "stop", "step"))
    return [start + i * step if exact else float(start + i * step) for i in range(count)]


def _check_input_file(
    parameter: Parameter, value: Any, base_dir: Path | None, fail: Any, key: str
) -> None:
    """Arguments annotated ``pathlib.Path`` name input files: they must exist now."""
    if base_dir is None or parameter.annotation is not Path:
        return
    if not (base_dir / str(value)).is_file():
        raise fail(f"input file {str(value)!r} does not exist (looked in {base_dir})", key)


def _topological_order(steps: dict[str, Step], fail: Any) -> list[str]:
    for step in steps.values():
        for argument, ref in step.inputs.items():
            if ref.step not in steps:
                raise fail(
                    f"input {argument!r} names unknown step {ref.step!r}",
                    f"steps.{step.name}.inputs.{argument}",
                )
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = " -> ".join([*trail[trail.index(name) :], name])
            raise fail(f"the steps form a cycle: {cycle}", f"steps.{name}.inputs")
        state[name] = 1
        for ref in steps[name].inputs.values():
            visit(ref.step, [*trail, name])
        state[name] = 2
        order.append(name)

    for name in steps:
        visit(name, [])
    return order


def _count_tasks(steps: dict[str, Step], fail: Any) -> None:
    for step in steps.values():
        mapped = {
            arg: steps[ref.step].n_tasks
            for arg, ref in step.inputs.items()
            if ref.index is None and steps[ref.step].n_tasks > 1
        }
        for arg, ref in step.inputs.items():
            if isinstance(ref.index, int) and ref.index >= steps[ref.step].n_tasks:
                raise fail(
                    f"input {arg!r} asks for item {ref.index} of {ref.step!r}, which has {steps[ref.step].n_tasks}",
                    f"steps.{step.name}.inputs.{arg}",
                )
        if len(set(mapped.values())) > 1:
            raise fail(
                f"inputs mapped item by item have different lengths: {mapped}",
                f"steps.{step.name}.inputs",
            )
        step.mapped_over = sorted(mapped)
        step.n_tasks = len(step.sweep) * (next(iter(mapped.values())) if mapped else 1)
        if step.unavailable is None:
            for ref in step.inputs.values():
                if steps[ref.step].unavailable is not None:
                    step.unavailable = f"needs step {ref.step!r}: {steps[ref.step].unavailable}"
        if (
            step.unavailable is not None
            and not step.optional
            and any(steps[ref.step].unavailable for ref in step.inputs.values())
        ):
            raise fail(
                "step depends on an unavailable optional step; mark it optional = true",
                f"steps.{step.name}",
            )


def _check_outputs(steps: dict[str, Step], fail: Any) -> None:
    """No two outputs share a path: saved steps own ``NAME.*`` (one task) or
    ``NAME/`` (several); each file an operation writes is named once."""
    # path or "NAME/" folder -> who writes it
    owners: dict[str, str] = dict.fromkeys(RESERVED, "every run")
    owners.update(dict.fromkeys((f"{name}/" for name in RESERVED), "every run"))
    for step in steps.values():
        claims = [f"{step.name}/"] if step.n_tasks > 1 else [step.name + s for s in STEP_SUFFIXES]
        for claim in claims if step.save else []:
            if claim in owners:
                raise fail(
                    f"the step's output {claim!r} is also written by {owners[claim]}: "
                    "rename the step or set save = false",
                    f"steps.{step.name}",
                )
            owners[claim] = f"step {step.name!r}"
    for step in steps.values():
        if step.writes and len(step.writes) < step.n_tasks:
            raise fail(
                f"all {step.n_tasks} tasks of this step write {step.writes[0][0]!r}: "
                "sweep the file name or give it as an input",
                step.writes[0][1],
            )
        for name, key in step.writes:
            folder = name.split("/", 1)[0] + "/"
            other = owners.get(name) or (owners.get(folder) if "/" in name else None)
            if other is not None:
                raise fail(f"{name!r} is also written by {other}: choose another name", key)
            owners[name] = f"step {step.name!r}"
