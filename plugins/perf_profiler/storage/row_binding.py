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
from perf_profiler.model.identity import make_row_id

__all__ = [
    "AUDIT_COLUMNS",
    "KEY_COLUMNS",
    "METRIC_COLUMNS",
    "OPTIONAL_COLUMNS",
    "TABLE",
    "bound_rows",
    "normalise_row",
    "prepare_row",
    "prepare_rows",
    "timestamp_text",
    "validated_columns",
]

TABLE = "perf_metrics"

#: Columns of a perf_metrics row, in the order of docs/CONTRACTS.md (all required in a row dict).
METRIC_COLUMNS: tuple[str, ...] = (
    "id", "tenant_id", "dag_id", "run_id", "run_type",
    "logical_date", "data_interval_start", "data_interval_end",
    "service", "endpoint", "method",
    "p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms", "min_ms", "max_ms", "mean_ms",
    "throughput", "error_rate", "requests", "ok_count", "error_count",
    "errors_by_class", "status_codes", "budget_p95_ms", "budget_error_rate", "verdict",
    "latency_hist", "error_hist", "started_at", "finished_at", "measured_at",
    # load fidelity (sql/<dialect>/003_load_fidelity.sql); optional in a row dict, see below
    "load_model", "target_rate", "dropped", "client_saturated", "saturation_reasons",
    "lag_p50_ms", "lag_p99_ms", "service_p50_ms", "service_p95_ms", "service_p99_ms", "service_hist",
)  # fmt: skip
#: Columns a row dict may leave out, with the value stored then: rows built before the load
#: fidelity columns existed describe a closed loop without drops, lag and service time unknown.
OPTIONAL_COLUMNS: dict[str, Any] = {
    "load_model": "closed", "target_rate": None, "dropped": 0, "client_saturated": False,
    "saturation_reasons": "[]", "lag_p50_ms": None, "lag_p99_ms": None, "service_p50_ms": None,
    "service_p95_ms": None, "service_p99_ms": None, "service_hist": None,
}  # fmt: skip
#: The unique key: one row per tenant x DAG run x service x endpoint.
KEY_COLUMNS: tuple[str, ...] = ("tenant_id", "dag_id", "run_id", "service", "endpoint")
#: Set by the database: created_at on first insert, updated_at on every upsert.
AUDIT_COLUMNS: tuple[str, ...] = ("created_at", "updated_at")

_TIMESTAMP_COLUMNS = frozenset(
    {"logical_date", "data_interval_start", "data_interval_end", "started_at", "finished_at", "measured_at"}
)
_DECIMAL_COLUMNS = frozenset(
    {"p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms", "min_ms", "max_ms", "mean_ms", "throughput", "budget_p95_ms",
     "lag_p50_ms", "lag_p99_ms", "service_p50_ms", "service_p95_ms", "service_p99_ms"}
)
_FLOAT_COLUMNS = frozenset({"error_rate", "budget_error_rate", "target_rate"})
_INT_COLUMNS = frozenset({"requests", "ok_count", "error_count", "dropped"})
_JSON_COLUMNS = frozenset({"errors_by_class", "status_codes", "saturation_reasons"})
_BOOL_COLUMNS = frozenset({"client_saturated"})

_MISSING = object()


def prepare_row(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """Validate one row dict and convert it to its bound values (``METRIC_COLUMNS`` order)."""
    return prepare_rows([row])[0]


def prepare_rows(rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """Validate row dicts and convert them to the bound values of the upsert, row by row."""
    return bound_rows(validated_columns(rows), range(len(rows)))


def validated_columns(rows: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    """The rows' values column by column (METRIC_COLUMNS order, optional ones defaulted), after
    the checks that need no conversion: every required key present, the key columns non-empty
    strings, the id the uuid5 of the key (the id column is returned as text)."""
    columns: list[list[Any]] = []
    for column, default in _DEFAULTS:
        if default is _MISSING:
            try:
                columns.append([row[column] for row in rows])
            except KeyError:
                for row in rows:
                    missing = [c for c, d in _DEFAULTS if d is _MISSING and c not in row]
                    if missing:
                        raise ValueError(f"perf_metrics row is missing key(s): {', '.join(missing)}") from None
                raise
        else:
            columns.append([row.get(column, default) for row in rows])
    keys = [columns[p] for p in _KEY_POSITIONS]
    for column, values in zip(KEY_COLUMNS, keys):
        if not all(type(value) is str and value for value in values):
            for value in values:
                if not isinstance(value, str) or not value:
                    raise ValueError(f"perf_metrics key column {column!r} must be a non-empty string, got {value!r}")
    expected_ids = [make_row_id(*key) for key in zip(*keys)]
    for given, expected_id in zip(columns[0], expected_ids):
        if given != expected_id and str(given) != expected_id:
            raise ValueError(f"perf_metrics row id {given!r} is not make_row_id(...) of its key ({expected_id})")
    columns[0] = expected_ids
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
    return list(zip(*columns))


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


def _converter(column: str) -> Callable[[Any, str], Any] | None:
    """How a non-None value of ``column`` is bound (None: as given)."""
    if column in _TIMESTAMP_COLUMNS:
        return timestamp_text
    if column in _DECIMAL_COLUMNS:
        return _decimal_10_2
    if column in _FLOAT_COLUMNS:
        return _finite
    if column in _INT_COLUMNS:
        return _integer
    if column in _JSON_COLUMNS:
        return _canonical_json
    if column in _BOOL_COLUMNS:
        return _boolean
    if column == "id":
        return lambda value, _column: str(value)
    return None


_CONVERTERS = tuple(_converter(column) for column in METRIC_COLUMNS)
_CONVERT_AT = tuple(
    (position, column, convert)
    for position, (column, convert) in enumerate(zip(METRIC_COLUMNS, _CONVERTERS))
    if convert is not None
)
_DEFAULTS = tuple((column, OPTIONAL_COLUMNS.get(column, _MISSING)) for column in METRIC_COLUMNS)
_KEY_POSITIONS = tuple(METRIC_COLUMNS.index(column) for column in KEY_COLUMNS)


def normalise_row(row: dict[str, Any]) -> dict[str, Any]:
    """Make a fetched row look the same whichever dialect it came from."""
    out: dict[str, Any] = {}
    for column, value in row.items():
        if value is None:
            out[column] = None
        elif column in _TIMESTAMP_COLUMNS or column in AUDIT_COLUMNS:
            out[column] = timestamp_text(value, column)
        elif column in _DECIMAL_COLUMNS or column in _FLOAT_COLUMNS:
            out[column] = float(value)
        elif column in _INT_COLUMNS:
            out[column] = int(value)
        elif column in _JSON_COLUMNS:
            out[column] = _canonical_json(value, column)
        elif column in _BOOL_COLUMNS:
            out[column] = bool(value)
        elif column == "id":
            out[column] = str(value)
        else:
            out[column] = value
    return out

