"""The column registry against itself and against the migrated tables of both dialects.

The migration consistency test applies every migration to a real PostgreSQL database and a
SQLite file and compares the table with the registry: column names, type family per dialect and
NOT NULL. It fails when a registry entry has no migration (or the reverse).
"""
from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest

from perf_profiler.model import columns as C
from perf_profiler.model.identity import make_row_id


@pytest.fixture
def migrated(metrics_db: str) -> Any:
    """The perf_metrics_db hook (PostgreSQL, then SQLite) with every migration applied."""
    from perf_profiler.storage.dialect import get_hook
    from perf_profiler.storage.migrations import migrate

    hook = get_hook("perf_metrics_db")
    migrate(hook)
    return hook


def test_the_registry_matches_the_migrated_table(migrated: Any) -> None:
    from perf_profiler.storage.schema_check import mismatches, table_columns

    assert mismatches(migrated) == []
    assert set(table_columns(migrated)) == {c.name for c in C.COLUMNS}


def _changed(name: str, **changes: Any) -> tuple[C.Column, ...]:
    return tuple(dataclasses.replace(c, **changes) if c.name == name else c for c in C.COLUMNS)


@pytest.mark.parametrize(
    ("registry", "complaint"),
    [
        ((*C.COLUMNS, C.Column("p42_ms", "decimal", nullable=True)), "p42_ms: in the registry, not in the"),
        (tuple(c for c in C.COLUMNS if c.name != "p90_ms"), "p90_ms: in the "),
        (_changed("p95_ms", kind="int"), "p95_ms: registry kind 'int'"),
        (_changed("requests", kind="decimal"), "requests: registry kind 'decimal'"),
        (_changed("errors_by_class", kind="bool"), "errors_by_class: registry kind 'bool'"),
        (_changed("run_type", nullable=False), "run_type: registry says NOT NULL"),
        (_changed("verdict", nullable=True), "verdict: registry says nullable"),
    ],
    ids=["column-without-migration", "column-without-entry", "decimal-vs-int", "int-vs-decimal",
         "json-vs-bool", "not-null-vs-nullable", "nullable-vs-not-null"],
)
def test_a_disagreement_is_reported(migrated: Any, registry: tuple[C.Column, ...], complaint: str) -> None:
    from perf_profiler.storage.schema_check import mismatches

    found = mismatches(migrated, registry)
    assert len(found) == 1 and found[0].startswith(complaint), found


def test_a_column_added_by_hand_is_reported(migrated: Any) -> None:
    from perf_profiler.storage.schema_check import mismatches

    conn = migrated.get_conn()
    try:
        conn.cursor().execute("ALTER TABLE perf_metrics ADD COLUMN p42_ms DECIMAL(10,2)")
        conn.commit()
    finally:
        conn.close()
    assert mismatches(migrated) == [
        f"p42_ms: in the {'postgres' if migrated.placeholder == '%s' else 'sqlite'} table, not in the registry"
    ]


def test_names_are_unique_and_the_row_is_every_column_the_database_does_not_set() -> None:
    names = [c.name for c in C.COLUMNS]
    assert len(names) == len(set(names))
    assert tuple(n for n in names if n not in C.DATABASE_SET_COLUMNS) == C.ROW_COLUMNS
    assert C.DATABASE_SET_COLUMNS == ("created_at", "updated_at")
    assert C.TABLE == "perf_metrics"


def test_the_key_is_the_row_ids_key_in_its_order() -> None:
    assert C.KEY_COLUMNS == ("tenant_id", "dag_id", "run_id", "service", "endpoint")
    assert tuple(inspect.signature(make_row_id.__wrapped__).parameters) == C.KEY_COLUMNS
    assert all(not C.column(name).nullable for name in C.KEY_COLUMNS)


def test_optional_columns_have_defaults_the_database_accepts() -> None:
    for name, default in C.ROW_DEFAULTS.items():
        assert default is not None or C.column(name).nullable, name
    assert {"load_model", "dropped", "client_saturated", "saturation_reasons", "service_hist"} <= set(C.ROW_DEFAULTS)
    assert C.column("p95_ms").default is C.REQUIRED


def test_derived_columns_are_latency_decimals_of_a_known_histogram() -> None:
    for c in C.DERIVED_COLUMNS:
        assert c.kind == "decimal" and c.derived is not None, c.name
        assert c.derived.histogram in C.HISTOGRAM_COLUMN, c.name
    assert C.column("p999_ms").derived == C.FromHistogram("latency", percentile=99.9)
    assert C.column("mean_ms").derived == C.FromHistogram("latency", stat="mean")
    assert C.column("service_p95_ms").derived == C.FromHistogram("service", percentile=95.0)
    assert C.HISTOGRAM_COLUMN == {"latency": "latency_hist", "service": "service_hist", "lag": None}
    assert set(C.PERCENTILES) >= {50.0, 90.0, 95.0, 99.0, 99.9}
    with pytest.raises(ValueError, match=r"^FromHistogram needs exactly one of percentile and stat$"):
        C.FromHistogram("latency", percentile=50.0, stat="min")


def test_payload_names_are_the_seed_reports() -> None:
    payload = {c.payload: c.name for c in C.COLUMNS if c.payload}
    assert len(payload) == len([c for c in C.COLUMNS if c.payload])
    assert {"p95_latency_ms": "p95_ms", "throughput_rps": "throughput", "service": "service",
            "endpoint": "endpoint", "errors": "error_count"}.items() <= payload.items()


def test_report_columns_follow_the_registry_order() -> None:
    titled = [(c.report.title, c.name) for c in C.COLUMNS if c.report]
    assert titled[:2] == [("service", "service"), ("endpoint", "endpoint")]
    assert [t for t, _ in titled][-4:] == ["rps", "errors", "requests", "verdict"]
    assert C.percentile_label(99.9) == "p99.9" and C.percentile_label(50.0) == "p50"
