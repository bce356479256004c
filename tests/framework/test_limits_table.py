"""One limits table (issue #16): every upper bound a command line puts on a number
is a :mod:`lamina.limits` entry, and the command, the component and the message
all read it there.

Two nets catch a new hard-coded bound: the whole ``lamina`` command tree is walked
(every click IntRange/FloatRange maximum must be a limit), and the sources of the
host and the plugins are scanned for range types with a literal maximum.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import lamina.limits
from lamina.cli import main
from lamina.clitools import limited
from lamina.limits import LIMITS, Limit

ROOT = Path(__file__).resolve().parents[2]

#: Maxima that are not sizes but the quantity's own range, with the reason.
NATURAL_BOUNDS = {
    ("render", "fov"): (180, "a perspective field of view is an angle below 180 degrees"),
    ("render", "edge_opacity"): (1, "an opacity is a fraction"),
    ("vae", "test_fraction"): (1, "a share of the data set is a fraction"),
}
_RANGE = re.compile(r"\b(?:Int|Float)Range\(\s*([^,()]*),\s*([-+0-9_.eE]+)\b")


def _commands() -> list[tuple[str, click.Command]]:
    context = click.Context(main)
    found = []
    for name in main.list_commands(context):
        command = main.get_command(context, name)
        assert command is not None, name
        if isinstance(command, click.Group):
            found += [(f"{name} {sub}", c) for sub, c in command.commands.items()]
        else:
            found.append((name, command))
    return found


def _bounded() -> list[tuple[str, click.Parameter]]:
    """(command, parameter) for every parameter of every command with a range maximum."""
    return [
        (name, param)
        for name, command in _commands()
        for param in command.params
        if isinstance(param.type, click.IntRange | click.FloatRange) and param.type.max is not None
    ]


def test_the_table_is_well_formed() -> None:
    assert len(LIMITS) >= 20
    for name, limit in LIMITS.items():
        assert isinstance(limit, Limit) and limit.name == name and name.startswith("MAX_")
        assert limit.value > 0 and limit.applies_to.strip() and limit.why.strip()
        # Each entry has its module constant, equal to it and exported.
        assert getattr(lamina.limits, name) == limit.value and name in lamina.limits.__all__


def test_limits_other_code_depends_on() -> None:
    # The rasteriser's fixed-point depth plane caps its gradients at 2**62 >> bit_length
    # of the triangle's reach about its anchor, which stays at or above 2**47 only for
    # pixel indices below 2**14: a larger MAX_IMAGE_SIDE needs wider gradients.
    assert lamina.limits.MAX_IMAGE_SIDE <= 1 << 14
    # Fragment indices are int32 in the kernels.
    assert lamina.limits.MAX_FRAGMENTS <= 2**31 - 1


def test_every_command_line_maximum_is_a_limit() -> None:
    bounded = _bounded()
    assert len(bounded) >= 10  # the walk reached the plugins' commands
    for command, param in bounded:
        top = param.type.max  # type: ignore[attr-defined]
        natural = NATURAL_BOUNDS.get((command, param.name or ""))
        if natural is not None:
            assert top == natural[0], (command, param.name)
            continue
        limit = getattr(param.type, "limit", None)
        assert limit in LIMITS, (
            f"`lamina {command}` option {param.name!r} has the maximum {top} hard-coded: "
            "add a lamina.limits entry and use lamina.clitools.limited(NAME)"
        )
        assert top == LIMITS[limit].value, (command, param.name)


def test_no_range_type_in_the_sources_has_a_literal_maximum() -> None:
    natural = {value for value, _ in NATURAL_BOUNDS.values()}
    offenders = []
    for folder in ("framework", "plugins"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for match in _RANGE.finditer(path.read_text()):
                if float(match.group(2).replace("_", "")) not in natural:
                    offenders.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
    assert not offenders, offenders


@pytest.mark.parametrize(
    ("args", "limit"),
    [
        (["render", "x.toml", "--orbit", "100001"], "MAX_ORBIT_FRAMES"),
        (["render", "x.toml", "--samples", "9"], "MAX_SUPERSAMPLES"),
        (["render", "x.toml", "--fps", "121"], "MAX_FPS"),
        (["render", "x.toml", "--compare", "--repeat", "1001"], "MAX_COMPARE_REPEATS"),
        (["vae", "digits", "--zoom", "33"], "MAX_PREVIEW_ZOOM"),
        (["vae", "digits", "--traverse", "65"], "MAX_TRAVERSE_LATENTS"),
        (["run", "p.toml", "--workers", "65"], "MAX_WORKERS"),
        (["run", "p.toml", "--worker-timeout", "86401"], "MAX_WORKER_TIMEOUT"),
    ],
)
def test_one_past_a_limit_is_one_usage_line_naming_it(args: list[str], limit: str) -> None:
    result = CliRunner().invoke(main, args)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1, lines
    assert f"<={LIMITS[limit].value} (lamina.limits.{limit})." in lines[0], lines


@pytest.mark.parametrize("floats", [False, True])
def test_limited_accepts_the_limit_and_refuses_past_it(floats: bool) -> None:
    kind = limited("MAX_SUPERSAMPLES", floats=floats)
    assert kind.convert("1", None, None) == 1 and kind.convert("8", None, None) == 8
    with pytest.raises(click.BadParameter, match=r"lamina\.limits\.MAX_SUPERSAMPLES"):
        kind.convert("9", None, None)
    # Below the low end and not a number: click's own message, no limit named.
    for text in ("0", "many"):
        with pytest.raises(click.BadParameter) as caught:
            kind.convert(text, None, None)
        assert "lamina.limits" not in caught.value.message
    with pytest.raises(KeyError, match="MAX_NOTHING"):
        limited("MAX_NOTHING")


def _component_checks() -> list[tuple[str, object]]:
    from lamina.pipeline.executors import make_executor
    from lamina.plugins.oit.renderers import MultiLayerDepthPeeling
    from lamina.scene import procedural
    from lamina.scene.lighting import Light, Lighting
    from lamina.scene.view import supersampled_size

    def over(name: str) -> int:
        return int(LIMITS[name].value) + 1

    return [
        ("MAX_WORKERS", lambda: make_executor("local", workers=over("MAX_WORKERS"))),
        (
            "MAX_WORKER_TIMEOUT",
            lambda: make_executor("dask", worker_timeout=over("MAX_WORKER_TIMEOUT")),
        ),
        ("MAX_SUPERSAMPLES", lambda: supersampled_size((4, 4), over("MAX_SUPERSAMPLES"))),
        ("MAX_LIGHTS", lambda: Lighting(lights=(Light((0, 0, 1)),) * over("MAX_LIGHTS"))),
        ("MAX_PEEL_LAYERS", lambda: MultiLayerDepthPeeling(k=over("MAX_PEEL_LAYERS"))),
        ("MAX_FRAGMENTS", lambda: MultiLayerDepthPeeling(max_fragments=over("MAX_FRAGMENTS"))),
        ("MAX_PROCEDURAL_LAYERS", lambda: procedural.stacked_quads(over("MAX_PROCEDURAL_LAYERS"))),
        ("MAX_PROCEDURAL_SHELLS", lambda: procedural.torus(over("MAX_PROCEDURAL_SHELLS"))),
        (
            "MAX_SPHERE_SUBDIVISIONS",
            lambda: procedural.nested_spheres(1, subdivisions=over("MAX_SPHERE_SUBDIVISIONS")),
        ),
        (
            "MAX_TORUS_SUBDIVISIONS",
            lambda: procedural.torus(1, segments=over("MAX_TORUS_SUBDIVISIONS")),
        ),
        (
            "MAX_RANDOM_TRIANGLES",
            lambda: procedural.random_triangles(over("MAX_RANDOM_TRIANGLES")),
        ),
        (
            "MAX_RANDOM_COVERAGE",
            lambda: procedural.random_triangles(10, coverage=over("MAX_RANDOM_COVERAGE")),
        ),
    ]


def test_components_refuse_one_past_each_limit_naming_it() -> None:
    from lamina.errors import InputError

    for name, check in _component_checks():
        with pytest.raises(InputError, match=rf"lamina\.limits\.{name}\b"):
            check()  # type: ignore[operator]


def test_torch_components_refuse_past_their_limits() -> None:
    pytest.importorskip("torch")
    import numpy as np

    from lamina.errors import InputError
    from lamina.plugins.torch_mlp.expression import parse_expression
    from lamina.plugins.torch_mlp.relu_networks import interpolant_network

    too_long = "x" + " + x" * (lamina.limits.MAX_EXPRESSION_LENGTH // 4 + 1)
    with pytest.raises(InputError, match=r"lamina\.limits\.MAX_EXPRESSION_LENGTH"):
        parse_expression(too_long)
    side = int(np.sqrt(lamina.limits.MAX_HAT_NETWORK_NODES)) + 1
    axes = [np.linspace(0, 1, side)] * 2
    with pytest.raises(InputError, match=r"lamina\.limits\.MAX_HAT_NETWORK_NODES"):
        interpolant_network(axes, np.zeros((side * side, 1)), dtype="float32")
