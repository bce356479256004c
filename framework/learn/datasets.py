"""Tables for learners: CSV reading with column typing, bundled example tables
and category encoding (stratified folds: :mod:`lamina.learn.cv`).

A :class:`Dataset` holds ``X`` as a 2-D object array whose numeric columns
contain floats (``nan`` where missing) and whose categorical columns contain
strings (``None`` where missing), so one array carries a mixed table into any
lamina learner; :meth:`Dataset.numeric` gives the float matrix that purely
numeric learners want.

The example tables ship in this package's ``data/`` folder, described by
``data/datasets.json``; a plugin may ship more in its own ``data/`` folder.
:func:`load_dataset` finds them by name.

Examples
--------
>>> from lamina.learn.datasets import load_dataset
>>> iris = load_dataset("iris")
>>> iris.X.shape, iris.feature_names[0]
((150, 4), 'sepal_length')
"""

from __future__ import annotations

import csv
import json
import math
import numbers
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np

from lamina.errors import InputError, shorten_list

__all__ = [
    "MISSING_TOKENS",
    "CategoryCodes",
    "Dataset",
    "categorical_mask",
    "category_key",
    "column_keys",
    "encode_column",
    "is_missing",
    "list_datasets",
    "load_dataset",
    "numeric_columns",
    "read_csv",
    "read_table",
    "table_options",
]

#: Field values read as "missing" in CSV files (compared after stripping spaces).
MISSING_TOKENS: frozenset[str] = frozenset(
    {"", "?", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"}
)


@dataclass
class Dataset:
    """A table with one target column.

    Attributes
    ----------
    name : str
        Dataset name (file stem for CSV files).
    X : ndarray of object, shape (n_samples, n_features)
        Numeric columns hold floats (``nan`` = missing), categorical columns
        hold ``str`` (``None`` = missing).
    y : ndarray of str, shape (n_samples,)
        Class labels.
    feature_names : tuple of str
    target : str
        Name of the target column.
    categorical : tuple of bool
        Which columns are categorical.
    description : str
        Source, licence and notes.
    lines : ndarray of int, optional
        The line of the file each row was read from (1 = the header), so
        errors about a row can point into the file.
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    target: str
    categorical: tuple[bool, ...]
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    lines: np.ndarray | None = None

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def categorical_features(self) -> tuple[int, ...]:
        """Indices of the categorical columns."""
        return tuple(i for i, c in enumerate(self.categorical) if c)

    @property
    def classes(self) -> np.ndarray:
        return np.unique(self.y)

    def numeric(self) -> np.ndarray:
        """``X`` as a float64 matrix; :class:`InputError` if a column is categorical."""
        if any(self.categorical):
            names = [n for n, c in zip(self.feature_names, self.categorical, strict=True) if c]
            raise InputError(
                f"dataset {self.name!r} has categorical column(s) {', '.join(names)}; "
                "use a learner for categorical or mixed data (categorical-nb, mixed-nb, cn2)"
            )
        return self.X.astype(np.float64)

    def subset(self, rows: np.ndarray) -> Dataset:
        """The same table restricted to ``rows`` (indices or a boolean mask)."""
        return Dataset(
            self.name,
            self.X[rows],
            self.y[rows],
            self.feature_names,
            self.target,
            self.categorical,
            self.description,
            dict(self.metadata),
            None if self.lines is None else self.lines[rows],
        )

    def summary(self) -> dict[str, Any]:
        classes, counts = np.unique(self.y, return_counts=True)
        missing = int(sum(is_missing(v) for v in self.X.ravel().tolist()))
        return {
            "name": self.name,
            "samples": self.n_samples,
            "features": self.n_features,
            "categorical": [
                n for n, c in zip(self.feature_names, self.categorical, strict=True) if c
            ],
            "numeric": [
                n for n, c in zip(self.feature_names, self.categorical, strict=True) if not c
            ],
            "target": self.target,
            "classes": {str(c): int(k) for c, k in zip(classes, counts, strict=True)},
            "missing_values": missing,
            "description": self.description,
        }


def is_missing(value: Any) -> bool:
    """``None`` and float NaN are missing values."""
    return (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or (isinstance(value, np.floating) and bool(np.isnan(value)))
    )


def category_key(value: Any) -> str | None:
    """The text a categorical value is matched by (``None`` for missing).

    Integral numbers lose a trailing ``.0`` (``1``, ``1.0`` and ``"1"`` are the
    same category), other floats use their shortest round-trip form; a long
    double that float64 does not hold keeps its own exact key.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isnan(number):
            return None
        if isinstance(value, np.floating) and number != value:
            return _longdouble_key(value)
        if number.is_integer():
            return str(int(number))
        return repr(number)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _longdouble_key(value: np.floating[Any]) -> str:
    """The key of a long double that float64 does not hold (more digits, or past
    its range): exact, as readable as it can be, and never another value's key."""
    if value == np.floor(value):
        return str(int(value))
    text = str(value)  # the shortest decimal that reads back as this long double
    if repr(float(text)) == text:
        # Also the key of the nearest float64 (long double 0.1 is not float64's 0.1):
        # past float64's 17 digits it is no float64's key.
        return np.format_float_scientific(value, unique=True, min_digits=17)
    return text


@dataclass
class CategoryCodes:
    """A categorical column as integer codes into ``categories`` (-1 = missing)."""

    codes: np.ndarray
    categories: np.ndarray


def column_keys(column: np.ndarray) -> np.ndarray:
    """Category keys of a 1-D column as an object array (``None`` = missing)."""
    if column.dtype.kind in "US" or column.dtype.kind == "T":
        keys = column.astype(str).astype(object)
        return keys
    if column.dtype.kind == "b":
        return np.where(column, "True", "False").astype(object)
    if column.dtype.kind in "iu":
        return column.astype(str).astype(object)
    if column.dtype.kind == "f":
        # The keys category_key gives each value, vectorised where int64 holds them.
        # A signalling NaN (bits with the quiet bit clear, as read from a binary file)
        # raises numpy's "invalid" in the widening cast and in round: it is missing.
        # A long double float64 does not hold (more digits, or past its range: the
        # cast overflows) is keyed by category_key, exactly.
        with np.errstate(invalid="ignore", over="ignore"):
            wide = column.astype(np.float64, copy=False)
            integral = np.isfinite(wide) & (wide == np.round(wide))
            unheld = (wide != column) & ~np.isnan(column) if column.dtype.itemsize > 8 else None
        out = np.empty(wide.shape, dtype=object)
        missing = np.isnan(wide)
        small = integral & (np.abs(wide) < 2.0**63)
        out[small] = wide[small].astype(np.int64).astype(str)
        out[integral & ~small] = [str(int(v)) for v in wide[integral & ~small]]
        rest = ~missing & ~integral  # fractions and infinities
        out[rest] = [repr(float(v)) for v in wide[rest]]
        out[missing] = None
        if unheld is not None:
            out[unheld] = [category_key(v) for v in column[unheld]]
        return out
    if _text_cells(column) is not None:  # text is its own key
        return column.astype(object, copy=True)
    cells = column.tolist()
    keyed: dict[tuple[type, Any], Any] = {}
    try:
        # Categorical columns repeat a few values: key each distinct one once. The type
        # is part of the lookup because True == 1 == 1.0 in Python but not as categories.
        return np.array(
            [
                keyed[k] if (k := (type(v), v)) in keyed else keyed.setdefault(k, category_key(v))
                for v in cells
            ],
            dtype=object,
        )
    except TypeError:  # an unhashable cell
        return np.array([category_key(v) for v in cells], dtype=object)


def encode_column(column: np.ndarray, categories: np.ndarray | None = None) -> CategoryCodes:
    """Encode a 1-D column as indices into ``categories`` (learned, sorted, when
    not given; any order when given); missing and unseen values get code -1."""
    column = np.asarray(column)
    inverse = None
    if column.dtype.kind in "biuf":
        # Equal numbers have equal keys: key the distinct values only and spread
        # their codes (fixed-width text sorts slower than it keys). A signalling
        # NaN raises numpy's "invalid" in the comparisons; it is missing, as in
        # column_keys.
        with np.errstate(invalid="ignore"):
            distinct, inverse = np.unique(column, return_inverse=True)
        cells = column_keys(distinct).tolist()
        keys = set(cells)
    else:
        cells, keys = _text_cells(column) or _keyed_cells(column)
    if categories is None:
        categories = np.array(sorted(keys - {None}), dtype=str)
    categories = np.asarray(categories, dtype=str)
    # A dict lookup per cell: categorical columns are short text, for which this
    # beats numpy's string sort and search several times over. Missing (None)
    # and unseen values are not in the dict: code -1.
    lookup = {category: index for index, category in enumerate(categories.tolist())}
    codes = np.fromiter(map(lookup.get, cells, repeat(-1)), np.int64, len(cells))
    return CategoryCodes(codes if inverse is None else codes[inverse], categories)


def _keyed_cells(column: np.ndarray) -> tuple[list[Any], set[Any]]:
    """The keys of a column's cells, and the set of them."""
    cells = column_keys(column).tolist()
    return cells, set(cells)


def _text_cells(column: np.ndarray) -> tuple[list[Any], set[Any]] | None:
    """The cells of an object column that holds only text and ``None``, which are
    their own keys (see :func:`category_key`), and the set of them; ``None`` for
    any other column.

    Only the distinct cells' types are checked: one pass over the cells fewer
    than :func:`column_keys` makes. A cell the set merged into an equal text
    (one hashing and comparing equal to a ``str`` without being one) is taken
    as that text.
    """
    if column.dtype.kind != "O":
        return None
    cells = column.tolist()
    try:
        distinct = set(cells)
    except TypeError:  # an unhashable cell
        return None
    if all(isinstance(value, str) or value is None for value in distinct):
        return cells, distinct
    return None


# -- CSV -----------------------------------------------------------------------------
def _parse_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def read_csv(
    path: str | os.PathLike[str],
    *,
    target: str,
    categorical: Iterable[str] = (),
    numeric: Iterable[str] = (),
    ignore: Iterable[str] = (),
    missing: Iterable[str] = MISSING_TOKENS,
    delimiter: str | None = None,
    name: str | None = None,
    description: str = "",
) -> Dataset:
    """Read a CSV file with a header row into a :class:`Dataset`.

    A column is numeric when every non-missing value parses as a number, else
    categorical; ``categorical`` and ``numeric`` override that by column name.

    Parameters
    ----------
    path : path-like
        The file (``.csv``, or ``.tsv`` / ``.tab`` for tab-separated).
    target : str
        Name of the class column.
    categorical, numeric : iterable of str
        Columns forced to be categorical / numeric.
    ignore : iterable of str
        Columns to drop (identifiers, for example).
    missing : iterable of str
        Field values that mean "missing".
    delimiter : str, optional
        Field separator; by default sniffed from the header line.

    Raises
    ------
    InputError
        Unreadable file, unknown column names, rows of the wrong length, a
        missing class label, or a forced-numeric column that holds text; the
        message names the file, the column and the line.
    """
    source = Path(path)
    if source.is_dir():
        raise InputError(f"data file {str(source)!r} is a folder; expected a CSV file in it")
    if not source.is_file():
        raise InputError(f"data file {str(source)!r} does not exist")
    try:
        text = source.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"data file {str(source)!r} cannot be read: {error}") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise InputError(f"data file {str(source)!r} is empty; expected a header row")
    if delimiter is None:
        if source.suffix.lower() in (".tsv", ".tab"):
            delimiter = "\t"
        else:
            counts = {d: lines[0].count(d) for d in (",", ";", "\t", "|")}
            delimiter = max(counts, key=lambda d: counts[d]) if max(counts.values()) else ","
    rows = list(csv.reader(lines, delimiter=delimiter, skipinitialspace=True))
    header = [h.strip() for h in rows[0]]
    body = [
        (number, row) for number, row in enumerate(rows[1:], start=2) if any(f.strip() for f in row)
    ]
    where = f"data file {str(source)!r}"
    if len(set(header)) != len(header):
        duplicates = sorted({h for h in header if header.count(h) > 1})
        raise InputError(f"{where}: duplicate column name(s) {duplicates}")
    categorical, numeric, ignore = set(categorical), set(numeric), set(ignore)
    for label, marked in (("categorical", categorical), ("numeric", numeric), ("ignore", ignore)):
        unknown = sorted(marked - set(header))
        if unknown:
            raise InputError(
                f"{where}: no column(s) {shorten_list(unknown)} to mark {label}; "
                f"columns: {shorten_list(header)}"
            )
    if target not in header:
        raise InputError(
            f"{where}: no target column {target!r}; columns are: {shorten_list(header)}"
        )
    if target in ignore:
        raise InputError(f"{where}: the target column {target!r} cannot be ignored")
    both = sorted(categorical & numeric)
    if both:
        raise InputError(f"{where}: column(s) {both} marked both categorical and numeric")
    if not body:
        raise InputError(f"{where} has a header but no data rows")
    width = len(header)
    for number, row in body:
        if len(row) != width:
            raise InputError(
                f"{where}, line {number}: {len(row)} fields, but the header has {width}"
            )
    missing = {m.strip() for m in missing}
    columns = list(zip(*(row for _, row in body), strict=True))
    target_index = header.index(target)
    labels = [v.strip() for v in columns[target_index]]
    for (number, _), label in zip(body, labels, strict=True):
        if label in missing:
            raise InputError(f"{where}, line {number}: the class ({target!r}) is missing")
    features: list[list[Any]] = []
    names: list[str] = []
    kinds: list[bool] = []
    for index, (column_name, values) in enumerate(zip(header, columns, strict=True)):
        if index == target_index or column_name in ignore:
            continue
        stripped = [v.strip() for v in values]
        parsed = [None if v in missing else _parse_float(v) for v in stripped]
        all_numbers = all(
            p is not None for p, v in zip(parsed, stripped, strict=True) if v not in missing
        )
        if column_name in numeric and not all_numbers:
            bad = next(
                (n, v)
                for (n, _), p, v in zip(body, parsed, stripped, strict=True)
                if p is None and v not in missing
            )
            raise InputError(
                f"{where}, line {bad[0]}: column {column_name!r} is numeric but holds {bad[1]!r}"
            )
        is_categorical = column_name in categorical or not all_numbers
        values_out: list[Any]
        if is_categorical:
            values_out = [None if v in missing else v for v in stripped]
        else:
            values_out = [math.nan if p is None else p for p in parsed]
        features.append(values_out)
        names.append(column_name)
        kinds.append(is_categorical)
    if not features:
        raise InputError(f"{where}: no feature columns besides the target {target!r}")
    X = np.empty((len(body), len(features)), dtype=object)
    for j, column in enumerate(features):
        X[:, j] = column
    return Dataset(
        name=name or source.stem,
        X=X,
        y=np.asarray(labels, dtype=str),
        feature_names=tuple(names),
        target=target,
        categorical=tuple(kinds),
        description=description,
        lines=np.array([number for number, _ in body], dtype=np.int64),
    )


# -- bundled tables ------------------------------------------------------------------------
def _data_packages() -> list[str]:
    """Packages that may ship ``data/datasets.json``: this library (the bundled
    tables, there whichever plugins are enabled), then every loaded plugin's module."""
    from lamina.host import get_host

    names = ["lamina.learn"]
    for info in get_host().plugins.values():
        module = getattr(info, "module", None)
        if module is not None and getattr(module, "__name__", None):
            names.append(module.__name__)
    return names


def list_datasets() -> dict[str, dict[str, Any]]:
    """Bundled tables by name: file, target, column types, source and licence."""
    found: dict[str, dict[str, Any]] = {}
    for package in _data_packages():
        try:
            manifest = resources.files(package) / "data" / "datasets.json"
            if not manifest.is_file():
                continue
            entries = json.loads(manifest.read_text(encoding="utf-8"))
        except (ModuleNotFoundError, TypeError, OSError, ValueError):  # plain modules, no data
            continue
        for dataset_name, entry in entries.items():
            found.setdefault(dataset_name, {**entry, "package": package})
    return dict(sorted(found.items()))


def load_dataset(
    name: str,
    *,
    target: str | None = None,
    categorical: Iterable[str] = (),
    numeric: Iterable[str] = (),
    ignore: Iterable[str] | None = None,
) -> Dataset:
    """A bundled table by name, or a CSV file by path.

    For bundled tables the target, column types and ignored columns come from
    the manifest unless given; a path needs ``target``.
    """
    bundled = list_datasets()
    if name in bundled:
        entry = bundled[name]
        with resources.as_file(resources.files(entry["package"]) / "data" / entry["file"]) as path:
            return read_csv(
                path,
                target=target or entry["target"],
                categorical=set(categorical) | set(entry.get("categorical", ())),
                numeric=numeric,
                ignore=entry.get("ignore", ()) if ignore is None else ignore,
                name=name,
                description=f"{entry.get('description', '')} Source: {entry.get('source', '?')}. "
                f"Licence: {entry.get('licence', '?')}.",
            )
    if Path(name).is_dir():
        raise InputError(
            f"--data {name!r} is a folder; expected a CSV file (with --target NAME) or a "
            f"bundled table: {', '.join(bundled) or 'none'}"
        )
    if not Path(name).exists():
        known = ", ".join(bundled) or "none"
        raise InputError(
            f"no data file {name!r} and no bundled dataset of that name; bundled: {known}"
        )
    if target is None:
        raise InputError(f"data file {name!r} needs a target column (--target NAME)")
    return read_csv(
        name, target=target, categorical=categorical, numeric=numeric, ignore=ignore or ()
    )


# -- column types for learners -------------------------------------------------------------
def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _holds_non_numbers(cells: list[Any]) -> bool:
    """Whether a column holds anything but numbers and missing values."""
    types = set(map(type, cells))
    # Most columns are all numbers or hold text: decide those by type alone.
    if types <= {float, int, np.float64, type(None)}:
        return False
    if str in types:
        return True
    return any(not _is_number(v) for v in cells if not is_missing(v))


def categorical_mask(
    X: np.ndarray,
    spec: Any,
    feature_names: Sequence[str] | np.ndarray | None = None,
    *,
    owner: str = "",
) -> np.ndarray:
    """Which columns of ``X`` are categorical, as a boolean array.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Numeric, string, boolean or object data.
    spec : "auto", "all", None, or sequence of int, str or bool
        ``"auto"``: columns holding anything but numbers (strings, booleans,
        other objects) are categorical, numbers are numeric; ``"all"`` /
        ``None``: every / no column; a sequence: column indices, column names
        (needs ``feature_names``) or a boolean mask.
    """
    n_features = X.shape[1]
    where = f"parameter 'categorical_features' of {owner}" if owner else "categorical_features"
    if spec is None or (isinstance(spec, str) and spec == "none"):
        return np.zeros(n_features, dtype=bool)
    if isinstance(spec, str) and spec == "all":
        return np.ones(n_features, dtype=bool)
    if isinstance(spec, str) and spec == "auto":
        kind = X.dtype.kind
        if kind in "fiu":
            return np.zeros(n_features, dtype=bool)
        if kind != "O":
            return np.ones(n_features, dtype=bool)
        return np.array([_holds_non_numbers(X[:, j].tolist()) for j in range(n_features)])
    if isinstance(spec, str):
        spec = [s.strip() for s in spec.split(",") if s.strip()]
    items = list(np.asarray(spec, dtype=object).ravel()) if not isinstance(spec, list) else spec
    mask = np.zeros(n_features, dtype=bool)
    if items and all(isinstance(v, (bool, np.bool_)) for v in items):
        if len(items) != n_features:
            raise InputError(f"{where}: a boolean mask needs {n_features} values, got {len(items)}")
        return np.asarray(items, dtype=bool)
    for item in items:
        if isinstance(item, str):
            if feature_names is None or item not in list(feature_names):
                known = (
                    shorten_list(feature_names)
                    if feature_names is not None
                    else "none (X has no column names)"
                )
                raise InputError(f"{where}: no column named {item!r}; columns: {known}")
            mask[list(feature_names).index(item)] = True
        elif isinstance(item, numbers.Integral) and not isinstance(item, (bool, np.bool_)):
            if not -n_features <= int(item) < n_features:
                raise InputError(
                    f"{where}: column index {item} is out of range for {n_features} columns"
                )
            mask[int(item)] = True
        else:
            raise InputError(
                f"{where}: expected column indices, names or a boolean mask, got {item!r}"
            )
    return mask


def numeric_columns(
    X: np.ndarray, columns: np.ndarray, feature_names: Sequence[str] | np.ndarray | None = None
) -> np.ndarray:
    """``X[:, columns]`` as float64 with ``None`` turned into NaN; a column
    holding text raises :class:`InputError` naming it and the row."""
    part = X[:, columns]
    if part.dtype.kind in "fiub":
        return part.astype(np.float64)
    part = part.copy()
    if part.dtype.kind == "O":
        part[np.equal(part, np.array(None, dtype=object))] = np.nan
    try:
        return part.astype(np.float64)
    except (TypeError, ValueError):
        pass
    for local, j in enumerate(np.flatnonzero(columns) if columns.dtype == bool else columns):
        for row, value in enumerate(part[:, local].tolist()):
            try:
                float(value)
            except (TypeError, ValueError):
                name = feature_names[j] if feature_names is not None else f"x{j}"
                raise InputError(
                    f"column {name!r} (index {j}) is numeric but row {row} holds {value!r}; "
                    "declare it categorical with categorical_features"
                ) from None
    raise InputError("X holds values that are not numbers")  # pragma: no cover - unreachable


# -- command-line helpers --------------------------------------------------------------------
def table_options(function: Any) -> Any:
    """``--data``, ``--target``, ``--categorical``, ``--numeric``, ``--ignore``."""
    options = [
        _click().option(
            "--data",
            "data",
            required=True,
            metavar="FILE.csv|NAME",
            help="CSV file with a header row, or a bundled table (`lamina datasets`).",
        ),
        _click().option(
            "--target",
            default=None,
            metavar="COLUMN",
            help="Class column (bundled tables know theirs).",
        ),
        _click().option(
            "--categorical",
            default="",
            metavar="COL,COL",
            help="Columns to treat as categorical (default: those holding text).",
        ),
        _click().option(
            "--numeric", default="", metavar="COL,COL", help="Columns to treat as numeric."
        ),
        _click().option("--ignore", default=None, metavar="COL,COL", help="Columns to leave out."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _click() -> Any:
    import click

    return click


def _names(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def read_table(
    data: str, target: str | None, categorical: str, numeric: str, ignore: str | None
) -> Dataset:
    """The table named on the command line."""
    return load_dataset(
        data,
        target=target,
        categorical=_names(categorical),
        numeric=_names(numeric),
        ignore=None if ignore is None else _names(ignore),
    )
