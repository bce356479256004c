"""Kinds are rooms: a fifth kind added from a test module works in the CLI,
``components``, ``describe``, ``check`` and pipelines with no change to the host,
and the host names no kind outside ``lamina.kinds``."""

from __future__ import annotations

import copy
import json
import pickle
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import lamina
from lamina import Host
from lamina import host as host_module
from lamina.cli import main
from lamina.kinds import Kind, Tags, builtin_kinds
from lamina.pipeline import parse_pipeline, run_pipeline
from lamina.testing import check_component

from . import denoise_kind
from . import fake_plugins as fake

FRAMEWORK = Path(__file__).parents[2] / "framework"


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> Host:
    """The installed plugins plus the denoise plugin, as the process-wide host."""
    built = Host()
    record = built.register(denoise_kind, name="denoise")
    assert record.status == "loaded", record.error
    monkeypatch.setattr(host_module, "_host", built)
    return built


def test_the_fifth_kind_is_listed_with_its_components(host: Host) -> None:
    assert [k.name for k in host.kinds()][-1] == "denoiser"
    assert [c.name for c in host.components("denoiser")] == ["box", "brightens"]
    assert host.plugins["denoise"].as_dict()["kinds"] == ["denoiser"]
    result = CliRunner().invoke(main, ["components", "denoiser", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [(c["kind"], c["name"]) for c in listed] == [
        ("denoiser", "box"),
        ("denoiser", "brightens"),
    ]
    # The kind's tag is filled in with its default; the common ones are there too.
    assert listed[1]["tags"] == {
        "deterministic": True,
        "gpu": False,
        "requires": [],
        "preserves_mean": True,
    }
    every = CliRunner().invoke(main, ["components", "--json"])
    assert {c["kind"] for c in json.loads(every.stdout)} == {k.name for k in host.kinds()}
    table = CliRunner().invoke(main, ["plugins"], env={"COLUMNS": "250"})
    assert "kind:denoiser, box, brightens" in table.stdout


def test_describe_and_a_bad_kind_name(host: Host) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["describe", "denoiser", "box"])
    assert result.exit_code == 0, result.output
    assert "size" in result.stdout and "preserves_mean=True" in result.stdout
    bad = runner.invoke(main, ["components", "denoisers"])
    assert bad.exit_code == 2 and "denoiser" in bad.output  # click lists the host's kinds


def test_help_lists_the_kinds_command_and_it_runs(host: Host, tmp_path: Path) -> None:
    runner = CliRunner()
    helped = runner.invoke(main, ["--help"])
    assert helped.exit_code == 0
    assert re.search(r"denoise\s+Denoise an \.npy image with any denoiser\.", helped.stdout)
    assert host.command("denoise").plugin == "denoise"
    noisy = np.random.default_rng(2).normal(0.5, 0.1, size=(20, 20)).astype(np.float32)
    np.save(tmp_path / "in.npy", noisy)
    result = runner.invoke(main, ["denoise", str(tmp_path / "in.npy"), str(tmp_path / "out.npy")])
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "out.npy").std() < noisy.std() / 2


def test_check_runs_the_kinds_own_checks(host: Host) -> None:
    good = {r.check: r.status for r in check_component("denoiser", "box", host=host)}
    assert good["denoiser_keeps_shape"] == good["denoiser_preserves_mean"] == "passed"
    assert good["registration"] == "passed"
    bad = {r.check: r for r in check_component("denoiser", "brightens", host=host)}
    assert bad["denoiser_keeps_shape"].status == "passed"
    assert bad["denoiser_preserves_mean"].status == "failed"
    assert "mean moved" in bad["denoiser_preserves_mean"].message
    result = CliRunner().invoke(main, ["check", "denoise", "--json"])
    assert result.exit_code == 1  # brightens fails
    failed = [r for r in json.loads(result.stdout)["results"] if r["status"] == "failed"]
    assert [(r["component"], r["check"]) for r in failed] == [
        ("brightens", "denoiser_preserves_mean")
    ]


PIPELINE = """
[steps.noisy]
op = "add_noise"
with = { sigma = 0.1 }
inputs = { image = "clean" }

[steps.clean]
op = "load"
with = { path = "clean.npy" }

[steps.denoised]
uses = "denoiser:box"
params = { size = 5 }
inputs = { image = "noisy" }
"""


def test_a_pipeline_step_uses_the_fifth_kind(host: Host, tmp_path: Path) -> None:
    x = np.arange(32)[None, :].repeat(32, axis=0)
    np.save(tmp_path / "clean.npy", (0.5 + 0.3 * np.sin(x / 5.0)).astype(np.float32))
    (tmp_path / "p.toml").write_text(PIPELINE)
    pipeline = parse_pipeline(PIPELINE, source=tmp_path / "p.toml", host=host)
    assert pipeline.steps["denoised"].call == "denoise"  # the kind's first core call
    first = run_pipeline(pipeline, tmp_path / "out", progress=False)
    value = first.steps["denoised"].values[0]
    assert isinstance(value, denoise_kind.Denoised) and value.removed_sigma > 0.05
    # Written by the kind's result type, pictured and tabulated in the report.
    assert np.array_equal(np.load(tmp_path / "out" / "denoised.npy"), value.image)
    report = (tmp_path / "out" / "report.html").read_text()
    assert "removed_sigma" in report
    assert report.count("data:image/png") >= 3  # the clean, noisy and denoised pictures
    # Stored by the codec as a kind's result type, and read back on a rerun.
    second = run_pipeline(pipeline, tmp_path / "out", progress=False)
    assert second.cached == second.tasks == 3
    assert np.array_equal(second.steps["denoised"].values[0].image, value.image)


def test_components_of_a_kind_added_by_a_plugin_loaded_later(tmp_path: Path) -> None:
    # "a-uses" is loaded first and registers a denoiser; "b-adds" adds the kind.
    uses = """
        from lamina import hookimpl
        @hookimpl
        def lamina_register_denoisers(registry):
            registry.add("early", "tests.framework.denoise_kind:Box", summary="box")
    """
    adds = "from tests.framework.denoise_kind import KIND, lamina_register_kinds\n"
    fake.install(tmp_path, "uses-dist", "1", {"a_uses": uses})
    fake.install(tmp_path, "adds-dist", "1", {"b_adds": adds})
    host = Host(entry_points=fake.entry_points(tmp_path))
    assert host.plugins["a-uses"].status == "loaded", host.plugins["a-uses"].error
    assert host.get("denoiser", "early").distribution == "uses-dist"
    assert host.command("denoise").distribution == "adds-dist"


def test_a_kind_name_is_taken_by_its_first_provider(tmp_path: Path) -> None:
    again = "from tests.framework.denoise_kind import lamina_register_kinds\n"
    fake.install(tmp_path, "first-dist", "1", {"a_first": again})
    fake.install(tmp_path, "second-dist", "2", {"b_second": again})
    host = Host(entry_points=fake.entry_points(tmp_path))
    assert host.plugins["a-first"].status == "loaded"
    second = host.plugins["b-second"]
    assert second.status == "failed"
    assert "kind 'denoiser' is already provided by plugin 'a-first' (first-dist 1)" in second.error
    assert "second-dist 2" in second.error


@pytest.mark.parametrize(
    ("plural", "message"),
    [
        ("renderers", "hook lamina_register_renderers is used by kind 'renderer'"),
        ("kinds", "hook lamina_register_kinds is used by lamina"),
    ],
)
def test_a_kind_cannot_take_a_hook_in_use(tmp_path: Path, plural: str, message: str) -> None:
    source = f"""
        from lamina import hookimpl
        from lamina.kinds import Kind
        @hookimpl
        def lamina_register_kinds(registry):
            registry.add(Kind("painter", {plural!r}, "paints", "m:P"))
    """
    module = f"takes_{plural}"
    fake.install(tmp_path, "hooks-dist", "1", {module: source})
    host = Host(entry_points=fake.entry_points(tmp_path))
    record = host.plugins[module.replace("_", "-")]
    assert record.status == "failed" and message in record.error, record.error
    assert "painter" not in [k.name for k in host.kinds()]


@pytest.mark.parametrize(
    ("module", "tags", "message"),
    [
        ("tag_unknown", {"exact": True}, "unknown tag(s) ['exact'] for a denoiser"),
        (
            "tag_bad_value",
            {"preserves_mean": "yes"},
            "tag preserves_mean='yes' (str) for a denoiser: expected one of",
        ),
        (
            "tag_int_bool",
            {"preserves_mean": 1},
            "plugin 'tag-int-bool', denoiser 'tagged': tag preserves_mean=1 (int) for a "
            "denoiser: expected one of [True, False]",
        ),
    ],
)
def test_tags_are_checked_against_the_kind(
    tmp_path: Path, module: str, tags: dict, message: str
) -> None:
    source = f"""
        from lamina import hookimpl
        from tests.framework.denoise_kind import lamina_register_kinds
        @hookimpl
        def lamina_register_denoisers(registry):
            registry.add("tagged", "tests.framework.denoise_kind:Box", summary="box", tags={tags!r})
    """
    fake.install(tmp_path, "tags-dist", "1", {module: source})
    record = Host(entry_points=fake.entry_points(tmp_path)).plugins[module.replace("_", "-")]
    assert record.status == "failed" and message in record.error, record.error


def test_builtin_kind_tags_keep_working_for_plugins() -> None:
    assert Tags(exact=True).exact and not Tags().exact and Tags().locate is False
    assert Tags().learner_type is None and Tags().input_data == "continuous"
    assert Tags(gpu=True) == Tags.coerce({"gpu": True}) != Tags()
    with pytest.raises(AttributeError, match="no tag 'bogus'"):
        Tags().bogus  # noqa: B018
    with pytest.raises(AttributeError, match="frozen"):
        Tags().gpu = True  # type: ignore[misc]
    tags = Tags(exact=True, requires=["torch"])
    assert pickle.loads(pickle.dumps(tags)) == copy.deepcopy(tags) == tags
    renderer = lamina.get_host().get("renderer", "fragment-list").tags
    assert renderer.as_dict() == {
        "deterministic": True,
        "gpu": True,
        "requires": (),
        "exact": True,
    }


def test_equal_tags_hash_equal() -> None:
    variants = [
        Tags(),
        Tags(exact=True),
        Tags(exact=1),
        Tags(exact=True, gpu=True),
        Tags(gpu=True, exact=True),
        Tags(requires=["torch"]),
        Tags(requires=("torch",)),
        Tags(input_data="mixed", learner_type="classifier"),
    ]
    pairs = [(a, b) for a in variants for b in variants if a == b]
    assert len(pairs) > len(variants)  # some distinct spellings compare equal
    assert all(hash(a) == hash(b) for a, b in pairs)


def test_a_tag_at_its_default_equals_one_left_out() -> None:
    # As the dataclass Tags were: registration fills in the kind's defaults, and
    # a registered renderer that set no tags still equals Tags().
    assert Tags() == Tags(exact=False) == Tags(locate=False, input_data="continuous")
    assert hash(Tags()) == hash(Tags(exact=False, deterministic=True))
    assert Tags(exact=True) != Tags()
    registered = [info for info in lamina.components("renderer") if info.name == "reference"]
    assert registered and registered[0].tags == Tags(exact=True)


def test_a_kind_is_checked_when_it_is_defined() -> None:
    from lamina.kinds import TagField

    with pytest.raises(ValueError, match="redefines the common tag"):
        Kind("widget", "widgets", "", "m:P", tags=(TagField("gpu", False, ""),))
    with pytest.raises(ValueError, match=r"'widgets\.checks' must look like 'module:attr'"):
        Kind("widget", "widgets", "", "m:P", checks="widgets.checks")
    with pytest.raises(ValueError, match="command name 'Widget'"):
        Kind("widget", "widgets", "", "m:P", commands=(("Widget", "m:c", ""),))
    with pytest.raises(ValueError, match="must be lower-case"):
        Kind("Widget", "widgets", "", "m:P")


def test_the_host_names_no_kind_outside_lamina_kinds() -> None:
    """Code (docstrings and comments aside) outside framework/kinds and the kinds'
    generic commands names no kind: everything else iterates over kinds."""
    names = "|".join(kind.name for kind in builtin_kinds())
    pattern = re.compile(rf"""["']({names})["']""")
    commands = {
        target.partition(":")[0].removeprefix("lamina.").replace(".", "/") + ".py"
        for kind in builtin_kinds()
        for _, target, _ in kind.commands
    }
    assert "scene/command.py" in commands  # lamina render, the renderer kind's
    found = []
    for path in sorted(FRAMEWORK.rglob("*.py")):
        relative = path.relative_to(FRAMEWORK).as_posix()
        if relative.startswith("kinds/") or relative in commands:
            continue  # a kind's own module, or its command (which names the kind it serves)
        code = _without_docstrings_and_comments(path.read_text())
        found += [f"{relative}: {m.group(0)}" for m in pattern.finditer(code)]
    assert found == []


def _without_docstrings_and_comments(source: str) -> str:
    import ast
    import io
    import tokenize

    docstrings = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        value = first.value if isinstance(first, ast.Expr) else None
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            docstrings.add(value.lineno)
    kept = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            continue
        if token.type == tokenize.STRING and token.start[0] in docstrings:
            continue
        kept.append(token.string)
    return " ".join(kept)


def test_help_imports_no_kind_command_module() -> None:
    code = "import sys; from lamina.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
    code += "print(sorted(m for m in sys.modules if m in ('lamina.kinds.resize', 'lamina.kinds.estimate', 'numpy')))"
    import subprocess

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stderr[-2000:]
