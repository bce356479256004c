"""A component's parameters: introspect a factory's keyword parameters, validate
values against their hints, and :class:`Parameterized`, the one ``get_params`` /
``set_params`` / ``repr`` base shared by learners, interpolators and renderers."""

from __future__ import annotations

import inspect
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Self

from lamina.errors import InputError

__all__ = [
    "Parameter",
    "Parameterized",
    "check_choice",
    "coerce_value",
    "factory_parameters",
    "factory_signature",
    "same_value",
    "validate_parameters",
]

_MISSING = inspect.Parameter.empty


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    """``value`` must be one of ``choices``, else :class:`~lamina.InputError`.

    Examples
    --------
    >>> check_choice("edge", "reflect", ("reflect", "constant"))
    >>> check_choice("edge", "wrap", ("reflect", "constant"))
    Traceback (most recent call last):
    ...
    lamina.errors.InputError: edge must be one of 'reflect', 'constant', got 'wrap'
    """
    if value not in choices:
        raise InputError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


class Parameterized:
    """``get_params`` / ``set_params`` / ``repr`` read from the ``__init__`` signature.

    A subclass takes keyword parameters and keeps each one under its own name,
    as scikit-learn's estimators do, so these follow scikit-learn's protocol:
    ``get_params(deep=True)`` adds ``name__sub`` entries for parameters that
    have parameters themselves, ``set_params`` reaches them the same way, and
    the ``repr`` shows the parameters that differ from their defaults.
    ``set_params`` runs ``__init__`` again with the changed values, so a class
    that checks its values or derives state there (an interpolator, a renderer)
    checks and derives them again, and one that only stores them (a learner)
    just stores them.

    Examples
    --------
    >>> class Smoother(Parameterized):
    ...     def __init__(self, *, alpha: float = 1.0, passes: int = 1) -> None:
    ...         self.alpha = alpha
    ...         self.passes = passes
    >>> Smoother(alpha=2.0)
    Smoother(alpha=2.0)
    >>> Smoother().set_params(passes=3).get_params()
    {'alpha': 1.0, 'passes': 3}
    """

    @classmethod
    def _get_param_names(cls) -> list[str]:
        """The constructor's parameter names, sorted (scikit-learn's name for it)."""
        names = []
        for p in factory_signature(cls):
            if p.kind == p.VAR_KEYWORD:
                continue
            if p.kind == p.VAR_POSITIONAL:
                raise TypeError(f"{cls.__name__}.__init__ must not take *args")
            names.append(p.name)
        return sorted(names)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters (with ``name__sub`` entries for nested ones)."""
        out: dict[str, Any] = {}
        for name in self._get_param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{name}__{k}", v) for k, v in value.get_params().items())
            out[name] = value
        return out

    def set_params(self, **params: Any) -> Self:
        """Set parameters (``name__sub`` reaches nested ones); returns ``self``.

        Raises
        ------
        InputError
            For a name that is not a parameter, or whatever ``__init__`` raises
            for a value it refuses.
        """
        if not params:
            return self
        current = self.get_params(deep=False)
        nested: dict[str, dict[str, Any]] = {}
        changed: dict[str, Any] = {}
        for key, value in params.items():
            name, sep, sub = key.partition("__")
            if name not in current:
                raise InputError(
                    f"Invalid parameter {name!r} for estimator {type(self).__name__}. "
                    f"Valid parameters are: {sorted(current)!r}."
                )
            if sep:
                nested.setdefault(name, {})[sub] = value
            else:
                changed[name] = value
        if changed:
            type(self).__init__(self, **(current | changed))
        for name, sub_params in nested.items():
            getattr(self, name).set_params(**sub_params)
        return self

    def __repr__(self) -> str:
        defaults = {p.name: p.default for p in factory_signature(type(self))}
        shown = [
            f"{name}={value!r}"
            for name, value in self.get_params(deep=False).items()
            if not same_value(value, defaults.get(name, _MISSING))
        ]
        return f"{type(self).__name__}({', '.join(shown)})"


def same_value(a: Any, b: Any) -> bool:
    """Whether ``a`` is ``b`` or equal to it with the same type (arrays never are):
    when a parameter's value counts as its default.

    >>> same_value(1, 1), same_value(1, 1.0), same_value("a", "a")
    (True, False, True)
    """
    if a is b:
        return True
    if hasattr(a, "__array__") or hasattr(b, "__array__"):
        return False
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:  # objects whose == is unusual: show them
        return False


@dataclass(frozen=True)
class Parameter:
    """One constructor parameter of a component."""

    name: str
    annotation: Any
    default: Any = _MISSING

    @property
    def required(self) -> bool:
        return self.default is _MISSING

    @property
    def type_name(self) -> str:
        return type_name(self.annotation)

    def as_dict(self) -> dict[str, Any]:
        default = None if self.required else self.default
        if not isinstance(default, (str, int, float, bool, type(None), list, tuple)):
            default = repr(default)
        return {
            "name": self.name,
            "type": self.type_name,
            "default": default,
            "required": self.required,
        }


def type_name(annotation: Any) -> str:
    if annotation is _MISSING:
        return "any"
    if isinstance(annotation, type) and typing.get_origin(annotation) is None:
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _constructor(factory: Callable[..., Any]) -> Callable[..., Any] | None:
    """What builds a component: a class's ``__init__`` (``None`` when the class
    only inherits ``object.__init__`` and so takes no parameters) or the callable."""
    if isinstance(factory, type):
        init = getattr(factory, "__init__")  # noqa: B009  (mypy: the class's, not an instance's)
        return None if init is object.__init__ else init
    return factory


def factory_signature(factory: Callable[..., Any]) -> list[inspect.Parameter]:
    """The parameters ``factory`` (a class or callable) declares, ``self`` left out.

    >>> class Plain:
    ...     pass
    >>> factory_signature(Plain)
    []
    >>> class Sized:
    ...     def __init__(self, *, size: int = 3) -> None:
    ...         self.size = size
    >>> [p.name for p in factory_signature(Sized)]
    ['size']
    """
    constructor = _constructor(factory)
    if constructor is None:
        return []
    parameters = inspect.signature(constructor).parameters.values()
    return [p for p in parameters if p.name != "self"]


def factory_parameters(factory: Callable[..., Any]) -> list[Parameter]:
    """The keyword parameters of ``factory`` (a class or callable) with resolved hints."""
    constructor = _constructor(factory)
    try:
        hints = typing.get_type_hints(constructor) if constructor is not None else {}
    except Exception:  # unresolvable forward references: fall back to raw annotations
        hints = {}
    return [
        Parameter(p.name, hints.get(p.name, p.annotation), p.default)
        for p in factory_signature(factory)
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def validate_parameters(
    parameters: list[Parameter], values: Mapping[str, Any], *, what: str
) -> dict[str, Any]:
    """Check names and types of ``values`` before any work; strings are converted
    to the annotated type, so ``--set k=3`` works from the command line."""
    by_name = {p.name: p for p in parameters}
    valid = ", ".join(sorted(by_name)) or "none"
    checked = {}
    for name, value in values.items():
        if name not in by_name:
            raise InputError(f"{what} has no parameter {name!r}; valid parameters: {valid}")
        parameter = by_name[name]
        try:
            checked[name] = coerce_value(value, parameter.annotation)
        except (TypeError, ValueError) as error:
            raise InputError(
                f"parameter {name!r} of {what} expects {parameter.type_name}, "
                f"got {value!r} ({type(value).__name__}): {error}"
            ) from None
    missing = [p.name for p in parameters if p.required and p.name not in checked]
    if missing:
        raise InputError(f"{what} needs parameter(s) {', '.join(missing)}")
    return checked


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("not a boolean (true/false)")


def coerce_value(value: Any, annotation: Any) -> Any:
    """Return ``value`` as ``annotation`` demands, converting strings; raise on mismatch."""
    if annotation is _MISSING or annotation is Any:
        return value
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        is_none = value is None or (isinstance(value, str) and value.lower() == "none")
        if is_none and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce_value(value, arg)
            except (TypeError, ValueError) as error:
                errors.append(str(error))
        raise ValueError("; ".join(errors))
    if origin is typing.Literal:
        for choice in args:
            if value == choice or (isinstance(value, str) and str(choice) == value):
                return choice
        raise ValueError(f"must be one of {', '.join(map(repr, args))}")
    if origin in (tuple, list) or annotation in (tuple, list):
        item_type = args[0] if args else Any
        if isinstance(value, str):
            separated = value.replace("x", ",") if item_type in (int, float) else value
            value = [v.strip() for v in separated.split(",") if v.strip()]
        if not isinstance(value, (tuple, list)):
            raise TypeError("not a sequence")
        items = [coerce_value(v, item_type) for v in value]
        return tuple(items) if (origin or annotation) is tuple else items
    if annotation is bool:
        if isinstance(value, (bool,)):
            return value
        if isinstance(value, str):
            return _parse_bool(value)
        raise TypeError("not a boolean")
    if annotation is int:
        if isinstance(value, bool):
            raise TypeError("a boolean is not an int")
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            return int(value)
        if hasattr(value, "__index__"):
            return int(value)
        raise TypeError("not an integer")
    if annotation is float:
        if isinstance(value, bool):
            raise TypeError("a boolean is not a float")
        if isinstance(value, (int, float, str)) or hasattr(value, "__float__"):
            number = float(value)
            # Every comparison with NaN is false, so no range check would refuse it;
            # infinity stays (a parameter may mean "no bound" by it).
            if math.isnan(number):
                raise ValueError("NaN is not a number a parameter can take")
            return number
        raise TypeError("not a number")
    if annotation is str:
        if isinstance(value, str):
            return value
        raise TypeError("not a string")
    return value
