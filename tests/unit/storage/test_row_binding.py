"""perf_profiler.storage.row_binding: rows are validated and converted before the database sees them."""
from __future__ import annotations

import json
from typing import Any

import pytest

from metrics_rows import count_rows, integrity_errors, make_row, query
from perf_profiler.model.columns import ROW_COLUMNS
from perf_profiler.storage.metrics_repo import fetch_metrics, upsert_metrics
from perf_profiler.storage.row_binding import prepare_row


@pytest.mark.parametrize("missing", ["p95_ms", "tenant_id", "measured_at"])
def test_rows_missing_a_key_are_refused_by_name(migrated: Any, missing: str) -> None:
    row = make_row()
    del row[missing]
    with pytest.raises(ValueError, match=missing):
        upsert_metrics(migrated, [make_row("fine"), row])
    assert count_rows(migrated) == 0


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("id", "00000000-0000-0000-0000-000000000000", "make_row_id"),
        ("service", "", "non-empty string"),
        ("p95_ms", float("nan"), "finite"),
        ("requests", 1.5, "integer"),
        ("measured_at", "yesterday", "ISO-8601"),
        ("status_codes", "{not json", "JSON"),
    ],
)
def test_malformed_values_are_refused_before_the_database(
    migrated: Any, column: str, value: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        upsert_metrics(migrated, [make_row(**{column: value})])
    assert count_rows(migrated) == 0


@pytest.mark.parametrize("column", ["p95_ms", "throughput", "error_rate"])
def test_check_constraints_hold_for_direct_inserts(migrated: Any, column: str) -> None:
    """The schema itself, not just the store, refuses negative latency/throughput and error_rate > 1."""
    bad = {"p95_ms": -5, "throughput": -1, "error_rate": 1.5}[column]
    values = dict(zip(ROW_COLUMNS, prepare_row(make_row()), strict=True))
    values[column] = bad
    mark = migrated.placeholder
    sql = f"INSERT INTO perf_metrics ({', '.join(values)}) VALUES ({', '.join([mark] * len(values))})"
    with pytest.raises(integrity_errors(migrated), match=r"(?i)check"):
        query(migrated, sql + " RETURNING id", tuple(values.values()))


def test_client_saturated_must_be_a_boolean(migrated: Any) -> None:
    with pytest.raises(ValueError, match="client_saturated"):
        upsert_metrics(migrated, [make_row(client_saturated="yes")])


def test_prepare_row_gives_what_both_dialects_store_alike() -> None:
    row = make_row(p95_ms=45.256, measured_at="2024-12-28T01:00:00+01:00")
    values = dict(zip(ROW_COLUMNS, prepare_row(row), strict=True))
    assert values["p95_ms"] == 45.26  # DECIMAL(10,2), rounded before SQLite sees it
    assert values["measured_at"] == "2024-12-28T00:00:00.000000+00:00"  # fixed-width UTC text
    assert values["status_codes"] == '{"200":198,"500":2}'  # canonical JSON text
    assert values["client_saturated"] is True and values["requests"] == 200


def test_json_columns_round_trip_non_ascii_text(migrated: Any) -> None:
    reasons = ["latence élevée — ×2", "送信遅延"]
    upsert_metrics(migrated, [make_row(saturation_reasons=json.dumps(reasons, ensure_ascii=False),
                                       errors_by_class={"tïmeout": 1, "status": 1})])
    (stored,) = fetch_metrics(migrated)
    assert json.loads(stored["saturation_reasons"]) == reasons
    assert json.loads(stored["errors_by_class"]) == {"tïmeout": 1, "status": 1}
    prepared = prepare_row(make_row(saturation_reasons=reasons))
    assert stored["saturation_reasons"] == prepared[ROW_COLUMNS.index("saturation_reasons")]
