"""The loader isolates every kind of plugin failure and still serves the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

import lamina
from lamina import ComponentNotFound, Host, InputError, PluginError

from . import fake_plugins as fake


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("LAMINA_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("LAMINA_STRICT_PLUGINS", raising=False)
    fake.install(tmp_path, "good-dist", "1.2", {"good_plugin": fake.GOOD})
    fake.install(
        tmp_path,
        "broken-dist",
        "0.1",
        {
            "import_error": fake.IMPORT_ERROR,
            "raising_hook": fake.RAISING_HOOK,
            "unknown_hook": fake.UNKNOWN_HOOK,
            "wrong_argument": fake.WRONG_ARGUMENT,
        },
    )
    fake.install(tmp_path, "clash-dist", "2.0", {"other_doubler": fake.DUPLICATE})
    fake.install(tmp_path, "heavy-dist", "3.0", {"needs_missing": fake.NEEDS_MISSING_MODULE})
    return tmp_path


def test_good_plugin_is_served_beside_broken_ones(site: Path) -> None:
    host = Host(entry_points=fake.entry_points(site))
    record = host.plugins["good-plugin"]
    assert (record.status, record.distribution, record.version) == ("loaded", "good-dist", "1.2")
    doubler = host.create("interpolator", "doubler", repeat=4)
    assert doubler.repeat == 4
    info = host.get("interpolator", "doubler")
    assert (info.plugin, info.distribution, info.summary) == (
        "good-plugin",
        "good-dist",
        "repeat pixels",
    )


def test_each_failure_is_recorded_on_its_plugin(site: Path) -> None:
    host = Host(entry_points=fake.entry_points(site))
    plugins = host.plugins
    assert plugins["import-error"].status == "failed"
    assert "no_such_module_for_lamina_tests" in plugins["import-error"].error
    assert "boom in the hook" in plugins["raising-hook"].error
    assert "lamina_register_rendrers" in plugins["unknown-hook"].error
    assert "registy" in plugins["wrong-argument"].error
    for name in ("import-error", "raising-hook", "unknown-hook", "wrong-argument"):
        assert plugins[name].distribution == "broken-dist"


def test_a_raising_hook_registers_nothing_but_its_other_hooks_work(site: Path) -> None:
    host = Host(entry_points=fake.entry_points(site))
    with pytest.raises(ComponentNotFound):
        host.get("learner", "half-registered")
    assert host.get("interpolator", "survivor").plugin == "raising-hook"


def test_duplicate_names_both_distributions(site: Path) -> None:
    host = Host(entry_points=fake.entry_points(site))
    error = host.plugins["other-doubler"].error
    assert "good-dist" in error and "clash-dist" in error and "doubler" in error
    assert host.get("interpolator", "doubler").distribution == "good-dist"


def test_disable_plugins_from_environment(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAMINA_DISABLE_PLUGINS", "good-plugin, import-error")
    host = Host(entry_points=fake.entry_points(site))
    assert host.plugins["good-plugin"].status == "disabled"
    assert host.plugins["import-error"].status == "disabled"
    # With the first provider blocked, the name falls to the next one, cleanly.
    assert host.get("interpolator", "doubler").distribution == "clash-dist"
    assert host.plugins["other-doubler"].status == "loaded"


def test_strict_mode_turns_records_into_plugin_error(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAMINA_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError) as raised:
        Host(entry_points=fake.entry_points(site))
    message = str(raised.value)
    for plugin in (
        "import-error",
        "raising-hook",
        "unknown-hook",
        "wrong-argument",
        "other-doubler",
    ):
        assert plugin in message
    good_only = [ep for ep in fake.entry_points(site) if ep.name == "good-plugin"]
    assert Host(entry_points=good_only).plugins["good-plugin"].status == "loaded"


def test_missing_requirement_makes_component_unavailable(site: Path) -> None:
    host = Host(entry_points=fake.entry_points(site))
    record = host.plugins["needs-missing"]
    assert record.status == "unavailable"
    info = host.get("learner", "heavy")
    assert not info.available
    assert info.install_hint == "pip install no_such_module_for_lamina_tests"
    with pytest.raises(PluginError, match="pip install no_such_module_for_lamina_tests"):
        host.create("learner", "heavy")


def test_parameters_validated_before_any_work(site: Path) -> None:
    host = Host(entry_points=fake.entry_points(site))
    with pytest.raises(InputError, match=r"no parameter 'repeats'.*valid parameters: repeat"):
        host.create("interpolator", "doubler", repeats=3)
    with pytest.raises(InputError, match=r"'repeat'.*expects int"):
        host.create("interpolator", "doubler", repeat="three")
    assert host.create("interpolator", "doubler", repeat="5").repeat == 5


def test_unknown_component_suggests_close_names(site: Path) -> None:
    host = Host(entry_points=fake.entry_points(site))
    with pytest.raises(ComponentNotFound, match="did you mean 'doubler'"):
        host.create("interpolator", "dubler")
    with pytest.raises(InputError, match="unknown component kind"):
        host.components("shader")


def test_register_in_process_with_same_isolation() -> None:
    host = Host(entry_points=[])

    class Broken:
        @lamina.hookimpl
        def lamina_register_renderers(self, registry: lamina.KindRegistry) -> None:
            registry.add("Bad Name!", object)

    record = host.register(Broken(), name="broken")
    assert record.status == "failed" and "Bad Name!" in record.error


def test_builtin_plugins_come_from_entry_points() -> None:
    host = lamina.get_host()
    for name in ("oit", "interpolate", "subpixel", "bayes", "cn2"):
        assert host.plugins[name].distribution == "lamina", name
