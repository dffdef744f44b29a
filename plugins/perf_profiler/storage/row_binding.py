"""perf_metrics rows on their way into and out of the database: validation, binding, normalising.

A row dict is checked before anything reaches the database (every required column present, the
key columns non-empty strings, the id the uuid5 of the key, each value of its column's kind) and
converted to what both dialects store alike (DECIMAL(10,2) rounding done here so SQLite keeps what
PostgreSQL keeps, timestamps as fixed-width ISO-8601 UTC text, JSON as canonical text). Fetched
rows are normalised back to one shape whichever dialect they came from.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from perf_profiler.common.encoding import canonical_json, iso_utc
from perf_profiler.model.columns import COLUMNS, KEY_COLUMNS, REQUIRED, ROW_COLUMNS, Kind
from perf_profiler.model.identity import make_row_id

__all__ = ["bound_rows", "normalise_row", "prepare_row", "prepare_rows", "timestamp_text", "validated_columns"]


def prepare_row(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """Validate one row dict and convert it to its bound values (``ROW_COLUMNS`` order)."""
    return prepare_rows([row])[0]


def prepare_rows(rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """Validate row dicts and convert them to the bound values of the upsert, row by row."""
    return bound_rows(validated_columns(rows), range(len(rows)))


def validated_columns(rows: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    """The rows' values column by column (ROW_COLUMNS order, optional ones defaulted), after
    the checks that need no conversion: every required key present, the key columns non-empty
    strings, the id the uuid5 of the key (the id column is returned as text)."""
    columns: list[list[Any]] = []
    for column, default in _DEFAULTS:
        if default is REQUIRED:
            try:
                columns.append([row[column] for row in rows])
            except KeyError:
                for row in rows:
                    missing = [c for c, d in _DEFAULTS if d is REQUIRED and c not in row]
                    if missing:
                        raise ValueError(f"perf_metrics row is missing key(s): {', '.join(missing)}") from None
                raise
        else:
            columns.append([row.get(column, default) for row in rows])
    keys = [columns[p] for p in _KEY_POSITIONS]
    for column, values in zip(KEY_COLUMNS, keys, strict=True):
        if not all(type(value) is str and value for value in values):
            for value in values:
                if not isinstance(value, str) or not value:
                    raise ValueError(f"perf_metrics key column {column!r} must be a non-empty string, got {value!r}")
    expected_ids = [make_row_id(*key) for key in zip(*keys, strict=True)]
    for given, expected_id in zip(columns[_ID_AT], expected_ids, strict=True):
        if given != expected_id and str(given) != expected_id:
            raise ValueError(f"perf_metrics row id {given!r} is not make_row_id(...) of its key ({expected_id})")
    columns[_ID_AT] = expected_ids
    return columns


def bound_rows(all_columns: list[list[Any]], indices: Sequence[int]) -> list[tuple[Any, ...]]:
    """Bound values of the rows at ``indices``: each value validated and converted for binding.

    The hot loop of a big upsert, so it works column by column: one list comprehension per
    column with the common, valid case inline (a float that only needs rounding, an int, ...)
    and the converter called only for the rest (which validates and raises, naming the column).
    """
    if len(indices) == len(all_columns[0]) and isinstance(indices, range) and indices.start == 0:
        columns = [list(values) for values in all_columns]
    else:
        columns = [[values[i] for i in indices] for values in all_columns]
    finite = math.isfinite
    for position, column, convert in _CONVERT_AT:
        values = columns[position]
        if convert is _decimal_10_2:
            columns[position] = [round(v, 2) if type(v) is float and finite(v) else
                                 None if v is None else convert(v, column) for v in values]
        elif convert is _finite:
            columns[position] = [v if type(v) is float and finite(v) else
                                 None if v is None else convert(v, column) for v in values]
        elif convert is _integer or convert is _boolean:
            kind = int if convert is _integer else bool
            columns[position] = [v if type(v) is kind else None if v is None else convert(v, column) for v in values]
        elif convert is timestamp_text or convert is _canonical_json:
            cached = _iso_text_to_utc if convert is timestamp_text else _canonical_json_text
            columns[position] = [cached(v, column) if type(v) is str else
                                 None if v is None else convert(v, column) for v in values]
        else:
            columns[position] = [None if v is None else convert(v, column) for v in values]
    return list(zip(*columns, strict=True))


def timestamp_text(value: Any, column: str) -> str:
    """Fixed-width ISO-8601 UTC text (naive values are taken as UTC, numbers as epoch s)."""
    if isinstance(value, str):
        return _iso_text_to_utc(value, column)
    try:
        return iso_utc(value, "microseconds") or ""
    except ValueError as exc:
        raise ValueError(f"{column}: {exc}") from None


@lru_cache(maxsize=4096)
def _iso_text_to_utc(text: str, column: str) -> str:
    """Cached: the rows of one run share most of their timestamps."""
    try:
        return iso_utc(text, "microseconds") or ""
    except ValueError as exc:
        raise ValueError(f"{column}: {exc}") from None


def _decimal_10_2(value: Any, column: str) -> float:
    """Round like DECIMAL(10,2) so SQLite (which keeps every digit) stores what PostgreSQL does."""
    if type(value) is float and math.isfinite(value):  # the common case, without a call
        return round(value, 2)
    return round(_finite(value, column), 2)


def _boolean(value: Any, column: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):  # SQLite's representation
        return bool(value)
    raise ValueError(f"{column}: expected true or false, got {value!r}")


def _finite(value: Any, column: str) -> float:
    if isinstance(value, float) and math.isfinite(value):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{column}: expected a number, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(number):
        raise ValueError(f"{column}: expected a finite number, got {value!r}")
    return number


def _integer(value: Any, column: str) -> int:
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
        raise ValueError(f"{column}: expected an integer, got {value!r}")
    return int(value)


def _canonical_json(value: Any, column: str) -> str:
    """Canonical JSON text (``common.encoding``), from JSON text or a JSON-serialisable value."""
    if isinstance(value, (str, bytes)):
        return _canonical_json_text(value, column)
    try:
        return canonical_json(value)
    except ValueError as exc:  # NaN or Infinity
        raise ValueError(f"{column}: not valid JSON: {exc}") from None


@lru_cache(maxsize=4096)
def _canonical_json_text(text: str | bytes, column: str) -> str:
    try:
        value = json.loads(text)
    except ValueError:
        raise ValueError(f"{column}: not valid JSON text: {text[:80]!r}") from None
    return _canonical_json(value, column)


def _text(value: Any, column: str) -> str:
    return str(value)


#: How a non-None value of each kind is bound (None: as given).
_BIND: dict[Kind, Callable[[Any, str], Any] | None] = {
    "text": None, "uuid": _text, "timestamp": timestamp_text, "decimal": _decimal_10_2, "float": _finite,
    "int": _integer, "json": _canonical_json, "bool": _boolean,
}  # fmt: skip
#: How a fetched non-None value of each kind is normalised (both dialects give the same).
_READ: dict[Kind, Callable[[Any, str], Any]] = {
    "text": lambda value, _column: value, "uuid": _text, "timestamp": timestamp_text,
    "decimal": lambda value, _column: float(value), "float": lambda value, _column: float(value),
    "int": lambda value, _column: int(value), "json": _canonical_json, "bool": lambda value, _column: bool(value),
}  # fmt: skip
_KIND = {c.name: c.kind for c in COLUMNS}
_ROW = tuple(c for c in COLUMNS if not c.set_by_database)
_CONVERT_AT = tuple(
    (position, c.name, convert) for position, c in enumerate(_ROW) if (convert := _BIND[c.kind]) is not None
)
_DEFAULTS = tuple((c.name, c.default) for c in _ROW)
_KEY_POSITIONS = tuple(ROW_COLUMNS.index(column) for column in KEY_COLUMNS)
_ID_AT = ROW_COLUMNS.index("id")


def normalise_row(row: dict[str, Any]) -> dict[str, Any]:
    """Make a fetched row look the same whichever dialect it came from (by each column's kind)."""
    return {
        column: value if value is None or column not in _KIND else _READ[_KIND[column]](value, column)
        for column, value in row.items()
    }
