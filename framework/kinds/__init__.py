"""Kinds of component: each kind is one module, and the host iterates over kinds.

A :class:`Kind` says everything the host knows about one kind of component:
the hook that registers it, its protocol, its core calls for pipeline steps,
the tags it adds to the common ones, its conformance checks, how pipelines
store, write and show its results, its generic commands and the
``lamina new-plugin`` template. The built-in kinds live in
``lamina.kinds.renderer``, ``.interpolator``, ``.position_estimator`` and
``.learner``; a plugin adds another kind with the ``lamina_register_kinds``
hook, and its components, checks, results and commands then work everywhere
with no change to the host.

Nothing here imports numpy: the host reads every kind at start-up, and
``lamina --help`` stays fast.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from lamina.hookspecs import hookspec
from lamina.registry import NAME, resolve_target

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "BUILTIN_KINDS",
    "Kind",
    "KindDefinitions",
    "KindInfo",
    "ResultType",
    "TagField",
    "Tags",
    "Template",
    "builtin_kinds",
    "result_type",
]

#: The modules that define lamina's own kinds, each as ``"module:attr"``.
BUILTIN_KINDS: tuple[str, ...] = (
    "lamina.kinds.renderer:KIND",
    "lamina.kinds.interpolator:KIND",
    "lamina.kinds.position_estimator:KIND",
    "lamina.kinds.learner:KIND",
)

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class TagField:
    """A tag a kind adds to the common ones (``deterministic``, ``gpu``, ``requires``).

    Parameters
    ----------
    name : str
        The keyword a plugin passes to :class:`Tags`.
    default : object
        The value a component that does not set it gets.
    doc : str
        What the tag promises, for ``lamina describe`` readers and the docs.
    choices : tuple, optional
        The values it may take; any value when omitted. A value matches a
        choice of its own type only: ``True``/``False``/``None`` by identity
        (``1`` is not ``True``), others by ``==`` on an instance of the
        choice's type.
    """

    name: str
    default: Any
    doc: str
    choices: tuple[Any, ...] | None = None

    def allows(self, value: Any) -> bool:
        """Whether ``value`` is one of :attr:`choices` (any value when there are none)."""
        return self.choices is None or any(_is_choice(value, c) for c in self.choices)


def _is_choice(value: Any, choice: Any) -> bool:
    # `value in choices` says 1 and 0.0 are True/False (bool is an int), and an array
    # value makes `==` ambiguous: compare within the choice's own type only.
    if isinstance(choice, bool) or choice is None:
        return value is choice
    return isinstance(value, type(choice)) and bool(value == choice)


_COMMON_TAGS = (
    TagField(
        "deterministic",
        True,
        "The same input (and ``random_state``) gives the same output bit for bit.",
        (False, True),
    ),
    TagField(
        "gpu",
        False,
        "Can run on a GPU backend (CUDA/Vulkan) when one is present.",
        (False, True),
    ),
    TagField(
        "requires",
        (),
        "Importable modules the component needs beyond lamina's own dependencies, "
        'e.g. ``("torch",)``.',
    ),
)


class Tags:
    """What a component promises; the conformance suite picks its checks from these.

    The common tags are keyword arguments here; each kind adds its own
    (:attr:`Kind.tags`), e.g. ``exact`` for renderers, ``locate`` for position
    estimators, ``learner_type`` and ``input_data`` for learners. Registering a
    component checks its tags against its kind and fills in the kind's
    defaults, so ``info.tags.exact`` is always set on a registered renderer.

    Parameters
    ----------
    deterministic : bool
        The same input (and ``random_state``) gives the same output bit for bit.
    gpu : bool
        Can run on a GPU backend (CUDA/Vulkan) when one is present.
    requires : tuple of str
        Importable modules the component needs beyond lamina's own
        dependencies, e.g. ``("torch",)``.
    **kind_tags
        Tags of the component's kind.

    Examples
    --------
    >>> tags = Tags(exact=True, gpu=True)
    >>> tags.exact, tags.deterministic, tags.requires
    (True, True, ())
    """

    __slots__ = ("_values",)

    def __init__(
        self,
        *,
        deterministic: bool = True,
        gpu: bool = False,
        requires: Iterable[str] = (),
        **kind_tags: Any,
    ) -> None:
        # A str is iterable too: requires="torch" would be five one-letter modules.
        listed = isinstance(requires, Iterable) and not isinstance(requires, str)
        modules = tuple(requires) if listed else ()
        if not listed or not all(isinstance(module, str) for module in modules):
            raise TypeError(f"tag requires={requires!r}: expected a tuple of module names")
        values = {"deterministic": deterministic, "gpu": gpu, "requires": modules}
        object.__setattr__(self, "_values", {**values, **kind_tags})

    @classmethod
    def coerce(cls, tags: Tags | Mapping[str, Any] | None) -> Tags:
        """Accept a ``Tags``, a mapping of its fields, or ``None``."""
        if tags is None:
            return cls()
        if isinstance(tags, Tags):
            return tags
        if not isinstance(tags, Mapping):
            raise TypeError(f"tags must be a lamina.Tags or a mapping, not {type(tags).__name__}")
        return cls(**tags)

    @property
    def deterministic(self) -> bool:
        return bool(self._values["deterministic"])

    @property
    def gpu(self) -> bool:
        return bool(self._values["gpu"])

    @property
    def requires(self) -> tuple[str, ...]:
        return tuple(self._values["requires"])

    def __getattr__(self, name: str) -> Any:
        # Only names __getattribute__ did not find arrive here: the kinds' tags.
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._values:
            return self._values[name]
        for kind in builtin_kinds():
            for tag in kind.tags:
                if tag.name == name:
                    return tag.default
        raise AttributeError(f"no tag {name!r}; tags set here: {', '.join(self._values)}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("lamina.Tags are frozen")

    def __reduce__(self) -> tuple[Any, ...]:
        # Copies and pickles are rebuilt through the constructor: attributes cannot be set.
        return (Tags.coerce, (dict(self._values),))

    def _set_apart_from_defaults(self) -> dict[str, Any]:
        # A tag left at its default equals one spelled out (Tags() == Tags(exact=False),
        # as registration fills the kind's defaults in), for lamina's own kinds' tags.
        defaults: dict[str, Any] = {"deterministic": True, "gpu": False, "requires": ()}
        for kind in builtin_kinds():
            defaults.update((tag.name, tag.default) for tag in kind.tags)
        return {
            name: value
            for name, value in self._values.items()
            if not (name in defaults and value == defaults[name])
        }

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Tags)
            and self._set_apart_from_defaults() == other._set_apart_from_defaults()
        )

    def __hash__(self) -> int:
        # The names only: equal Tags must hash equal, and equal values can differ in
        # repr (exact=1 and exact=True) or be unhashable (a list a plugin passed).
        return hash(frozenset(self._set_apart_from_defaults()))

    def __repr__(self) -> str:
        return f"Tags({', '.join(f'{k}={v!r}' for k, v in self._values.items())})"

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)


@dataclass(frozen=True)
class Template:
    """What ``lamina new-plugin --kind KIND`` writes: a working component to grow from.

    ``source`` is the component module, a ``str.format`` template with fields
    ``{title}``, ``{name}`` and ``{cls}`` (braces meant literally are doubled);
    ``tags`` is the Python text of the tags mapping the plugin registers.
    """

    summary: str
    source: str
    tags: str = "{}"


class ResultType:
    """How pipelines store, write and show one result type of a kind.

    The base class treats the type as any dataclass: storable, written as
    JSON of its fields, shown in the report as a row of its scalar fields.
    A kind subclasses it for results that need more (a rendering is pictures).

    Parameters
    ----------
    target : str
        ``"module:qualname"`` of the dataclass, imported when first needed.
    """

    #: Whether the result belongs in ``metrics.json`` and JSON exports; a
    #: result made of pictures is written as files of its own instead.
    tabular = True

    def __init__(self, target: str) -> None:
        self.target = target

    @cached_property
    def cls(self) -> type:
        return resolve_target(self.target, what=f"result type {self.target!r}")  # type: ignore[no-any-return]

    def matches(self, value: Any) -> bool:
        return isinstance(value, self.cls)

    def write(self, value: Any, stem: Path, *, durable: bool) -> list[Path] | None:
        """Write ``value``'s output files beside ``stem``; ``None``: as any value."""
        return None

    def picture(self, value: Any) -> np.ndarray | None:
        """The straight-alpha image the report shows for ``value``, if any."""
        return None

    def scalars(self, value: Any) -> dict[str, Any] | None:
        """The report's table row for ``value``; ``None``: its scalar fields."""
        return None


@dataclass(frozen=True)
class Kind:
    """Everything the host knows about one kind of component.

    Parameters
    ----------
    name : str
        The kind as users write it: ``lamina components NAME``, ``uses = "NAME:..."``.
    plural : str
        Names the registration hook, ``lamina_register_<plural>``.
    summary : str
        One line for the hook reference and ``lamina components``' help.
    protocol : str
        ``"module:attr"`` of the :class:`typing.Protocol` components implement.
    calls : mapping of str to tuple of str
        Core methods a pipeline step may call without an operation, with
        their argument names; the first is the default ``call``.
    tags : tuple of TagField
        The tags this kind adds to the common ones.
    checks : str, optional
        ``"module:attr"`` of ``checks(info) -> list[Check]``: the conformance
        checks for one component (run after the common checks).
    results : tuple of ResultType
        The kind's result types: stored by pipelines, written and reported.
    commands : tuple of (name, "module:attr", summary)
        The kind's generic commands, e.g. ``lamina resize`` for interpolators.
    exclusive : bool
        Its components' pipeline tasks run one at a time in a process
        (renderers run Taichi kernels, and Taichi is not thread-safe).
    template : Template, optional
        The starting point ``lamina new-plugin --kind NAME`` writes.
    """

    name: str
    plural: str
    summary: str
    protocol: str
    calls: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    tags: tuple[TagField, ...] = ()
    checks: str | None = None
    results: tuple[ResultType, ...] = ()
    commands: tuple[tuple[str, str, str], ...] = ()
    exclusive: bool = False
    template: Template | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name) or not _NAME.match(self.plural):
            raise ValueError(
                f"kind name {self.name!r} and plural {self.plural!r} must be lower-case "
                "letters, digits and '_'"
            )
        clash = {t.name for t in self.tags} & {t.name for t in _COMMON_TAGS}
        if clash:
            raise ValueError(f"kind {self.name!r} redefines the common tag(s) {sorted(clash)}")
        targets = [self.protocol, self.checks, *(r.target for r in self.results)]
        targets += [target for _, target, _ in self.commands]
        for target in targets:
            if target is not None and ":" not in target:
                raise ValueError(f"kind {self.name!r}: {target!r} must look like 'module:attr'")
        for command, _, _ in self.commands:
            if not NAME.match(command):
                raise ValueError(
                    f"kind {self.name!r}: command name {command!r} must be lower-case letters, "
                    "digits, '-', '_' or '.'"
                )

    @property
    def hook(self) -> str:
        """The name of the hook that registers components of this kind."""
        return f"lamina_register_{self.plural}"

    def hookspec(self) -> ModuleType:
        """A namespace holding this kind's hook specification, for pluggy."""
        namespace = ModuleType(f"lamina.kinds.{self.name}.hookspec")

        def register(registry: Any) -> None: ...

        register.__name__ = register.__qualname__ = self.hook
        register.__doc__ = (
            f"Register {self.plural.replace('_', ' ')} with "
            "``registry.add(name, factory, summary=..., tags=...)``."
        )
        setattr(namespace, self.hook, hookspec(register))
        return namespace

    def all_tags(self) -> tuple[TagField, ...]:
        """The common tags, then this kind's."""
        return (*_COMMON_TAGS, *self.tags)

    def tags_for(self, tags: Tags | Mapping[str, Any] | None, *, owner: str = "") -> Tags:
        """``tags`` (see :meth:`Tags.coerce`) checked against this kind, with every
        tag of the kind set.

        Raises ``TypeError`` for a tag the kind does not have and ``ValueError``
        for a value outside a tag's choices (:meth:`TagField.allows`: ``1`` is
        not ``True``); the message starts with ``owner`` (who registers the
        component, e.g. ``"plugin 'oit', renderer 'peeling'"``) when given.
        """
        where = f"{owner}: " if owner else ""
        known = {t.name: t for t in self.all_tags()}
        try:
            given = Tags.coerce(tags).as_dict()
        except TypeError as error:  # not a mapping, or requires is not module names
            raise TypeError(f"{where}{error}") from None
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise TypeError(
                f"{where}unknown tag(s) {unknown} for a {self.name}; valid tags: {sorted(known)}"
            )
        for name, value in given.items():
            tag = known[name]
            if not tag.allows(value):
                raise ValueError(
                    f"{where}tag {name}={value!r} ({type(value).__name__}) for a {self.name}: "
                    f"expected one of {list(tag.choices or ())}"
                )
        return Tags(**{name: given.get(name, tag.default) for name, tag in known.items()})


@functools.cache
def builtin_kinds() -> tuple[Kind, ...]:
    """lamina's own kinds, in the order the host lists them."""
    return tuple(resolve_target(target, what="lamina's own kinds") for target in BUILTIN_KINDS)


@dataclass(frozen=True)
class KindInfo:
    """A registered kind and the plugin that added it (``"lamina"`` for the built-ins)."""

    kind: Kind
    plugin: str
    distribution: str
    version: str

    @property
    def name(self) -> str:
        return self.kind.name


class KindDefinitions:
    """The ``registry`` the ``lamina_register_kinds`` hook receives: ``add`` a :class:`Kind`.

    Staged like the component registries: nothing is added when the hook raises.
    """

    def __init__(self, *, plugin: str, distribution: str, version: str) -> None:
        self._owner = (plugin, distribution, version)
        self.staged: list[KindInfo] = []

    def add(self, kind: Kind) -> None:
        """Add ``kind``; its components are registered through ``kind.hook``."""
        if not isinstance(kind, Kind):
            raise TypeError(f"add expects a lamina.kinds.Kind, not {type(kind).__name__}")
        if any(k.name == kind.name for k in self.staged):
            raise ValueError(f"kind {kind.name!r} is added twice by the same hook")
        self.staged.append(KindInfo(kind, *self._owner))


def result_type(value: Any, kinds: Iterable[Kind]) -> ResultType | None:
    """The result type of ``kinds`` that ``value`` is an instance of, if any."""
    for kind in kinds:
        for candidate in kind.results:
            if candidate.matches(value):
                return candidate
    return None
