"""perf_profiler.storage.metrics_repo on real PostgreSQL and SQLite databases.

Upserts, reads, and the schema's constraints.
"""
from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

import pytest

from metrics_rows import count_rows, integrity_errors, make_row, query, table_exists
from perf_profiler.model.columns import DATABASE_SET_COLUMNS, ROW_COLUMNS, ROW_DEFAULTS
from perf_profiler.model.identity import make_row_id
from perf_profiler.storage.metrics_repo import fetch_metrics, upsert_metrics


def test_upsert_then_upsert_same_keys_updates_in_place(migrated: Any) -> None:
    services = ["registry", "runtime", "insight", "predictive"]
    first = [make_row(s, "/healthz", p50_ms=1.234, max_ms=3_600_000) for s in services]
    assert upsert_metrics(migrated, first) == len(services)
    before = {r["service"]: r for r in fetch_metrics(migrated)}
    assert len(before) == len(services)
    assert before["registry"]["p50_ms"] == 1.23  # DECIMAL(10,2) on both dialects
    assert before["registry"]["max_ms"] == 3_600_000.0  # a 1 h histogram ceiling fits

    time.sleep(0.05)
    second = [
        make_row(s, "/healthz", p95_ms=900.5, verdict="fail", errors_by_class={"timeout": 3, "status": 0},
                 requests=300, ok_count=297, error_count=3, measured_at="2024-12-29T01:02:03Z")
        for s in services
    ]  # fmt: skip
    assert upsert_metrics(migrated, second) == len(services)
    assert count_rows(migrated) == len(services)

    after = {r["service"]: r for r in fetch_metrics(migrated)}
    for service in services:
        old, new = before[service], after[service]
        assert new["id"] == old["id"] == make_row_id("default", "perf_profiler", old["run_id"], service, "/healthz")
        assert (new["p95_ms"], new["verdict"], new["requests"]) == (900.5, "fail", 300)
        assert json.loads(new["errors_by_class"]) == {"timeout": 3, "status": 0}
        assert new["measured_at"] == "2024-12-29T01:02:03.000000+00:00"
        assert new["created_at"] == old["created_at"]
        assert new["updated_at"] > old["updated_at"]


def test_fetched_rows_round_trip_the_contract(migrated: Any) -> None:
    row = make_row(logical_date=None, run_type="manual")
    upsert_metrics(migrated, [row])
    (stored,) = fetch_metrics(migrated)
    assert set(stored) == set(ROW_COLUMNS) | set(DATABASE_SET_COLUMNS)
    for column in ROW_COLUMNS:
        if column in ("errors_by_class", "status_codes", "saturation_reasons"):
            assert json.loads(stored[column]) == json.loads(row[column]), column
        elif column.endswith(("_at", "_date", "_start", "_end")) and row[column] is not None:
            assert stored[column].endswith("+00:00"), column  # ISO-8601 UTC, microseconds
            assert datetime.fromisoformat(stored[column]) == datetime.fromisoformat(row[column]), column
        else:
            assert stored[column] == row[column], column


def test_repeated_key_in_one_batch_keeps_the_last_row(migrated: Any) -> None:
    rows = [make_row(p95_ms=10.0), make_row("other"), make_row(p95_ms=20.0)]
    assert upsert_metrics(migrated, rows) == 2
    stored = {r["service"]: r["p95_ms"] for r in fetch_metrics(migrated)}
    assert stored == {"registry": 20.0, "other": 45.2}


def test_fetch_filters_by_run(migrated: Any) -> None:
    upsert_metrics(migrated, [make_row(run_id="run-1"), make_row(run_id="run-2"), make_row(dag_id="other")])
    assert [r["run_id"] for r in fetch_metrics(migrated, run_id="run-2")] == ["run-2"]
    assert {r["dag_id"] for r in fetch_metrics(migrated, dag_id="other")} == {"other"}
    assert len(fetch_metrics(migrated, dag_id="perf_profiler")) == 2


def test_upsert_of_nothing_writes_nothing(migrated: Any) -> None:
    assert upsert_metrics(migrated, []) == 0
    assert count_rows(migrated) == 0


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("p95_ms", -1.0),
        ("throughput", -0.5),
        ("error_rate", 1.5),
        ("verdict", "maybe"),
        ("ok_count", 10),  # ok_count + error_count must equal requests
        ("p99_ms", 100_000_000.0),  # beyond DECIMAL(10,2)
    ],
)
def test_database_constraints_reject_bad_values(migrated: Any, column: str, value: Any) -> None:
    rows = [make_row("good"), make_row(**{column: value})]
    if column == "p99_ms":  # PostgreSQL: numeric field overflow (a DataError, not a CHECK)
        import psycopg

        errors: tuple[type[BaseException], ...] = (*integrity_errors(migrated), psycopg.errors.DataError)
    else:
        errors = integrity_errors(migrated)
    with pytest.raises(errors):
        upsert_metrics(migrated, rows)
    assert count_rows(migrated) == 0  # the good row of the batch was rolled back too


def test_hostile_and_unicode_names_are_stored_verbatim(migrated: Any) -> None:
    names = [
        ("x'); DROP TABLE perf_metrics;--", "/a'b\"c;--"),
        ("サービス", "/エンドポイント?q=値"),
        ("tab\tnew\nline", "back\\slash\\N"),
        ("%s %(x)s ?", "/{}%"),
    ]
    rows = [make_row(s, e, tenant_id="t'; DELETE FROM perf_metrics; --", dag_id="ダグ") for s, e in names]
    assert upsert_metrics(migrated, rows) == len(names)
    assert table_exists(migrated, "perf_metrics")
    stored = {(r["service"], r["endpoint"], r["tenant_id"], r["dag_id"]) for r in fetch_metrics(migrated)}
    assert stored == {(s, e, "t'; DELETE FROM perf_metrics; --", "ダグ") for s, e in names}
    upsert_metrics(migrated, rows)  # the same hostile keys still match on conflict
    assert count_rows(migrated) == len(names)


def test_violations_view_lists_only_failing_rows(migrated: Any) -> None:
    rows = [
        make_row("fast", p95_ms=45.2, verdict="pass"),
        make_row("slow", p95_ms=950.25, verdict="fail"),
        make_row("flaky", p95_ms=100.0, error_rate=0.2, requests=10, ok_count=8, error_count=2, verdict="fail"),
    ]
    upsert_metrics(migrated, rows)
    violations = query(
        migrated,
        "SELECT service, endpoint, p95_ms, budget_p95_ms, p95_over_budget_ms, verdict "
        "FROM perf_budget_violations ORDER BY service",
    )
    assert [(s, e, float(p), float(b), float(o), v) for s, e, p, b, o, v in violations] == [
        ("flaky", "/healthz", 100.0, 800.0, -700.0, "fail"),
        ("slow", "/healthz", 950.25, 800.0, 150.25, "fail"),
    ]


# --------------------------------------------------------------------------- load fidelity (003)


def test_rows_without_the_load_fidelity_columns_store_a_closed_loop(migrated: Any) -> None:
    row = make_row()
    for column in ROW_DEFAULTS:
        row.pop(column, None)
    upsert_metrics(migrated, [row])
    (stored,) = fetch_metrics(migrated)
    assert (stored["load_model"], stored["dropped"], stored["client_saturated"]) == ("closed", 0, False)
    assert json.loads(stored["saturation_reasons"]) == []
    assert stored["lag_p99_ms"] is None and stored["service_p95_ms"] is None and stored["service_hist"] is None


@pytest.mark.parametrize(
    ("overrides", "fine"),
    [
        ({"dropped": 5, "client_saturated": False}, False),  # a drop always means saturated
        ({"load_model": "ramp"}, False),
        ({"dropped": -1}, False),
        ({"dropped": 0, "client_saturated": False, "saturation_reasons": "[]"}, True),
    ],
)
def test_load_fidelity_constraints(migrated: Any, overrides: dict[str, Any], fine: bool) -> None:
    rows = [make_row("good"), make_row(**overrides)]
    if fine:
        assert upsert_metrics(migrated, rows) == 2
        return
    with pytest.raises(integrity_errors(migrated)):
        upsert_metrics(migrated, rows)
    assert count_rows(migrated) == 0
