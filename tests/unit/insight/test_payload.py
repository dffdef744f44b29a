"""perf_profiler.insight.payload: the payload bytes and idempotency keys are pinned.

The expected texts and keys below were produced by the code before the column registry existed.
Entries already waiting in an outbox are keyed by them: if one of these tests fails, existing
payloads would be delivered again under new keys.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from perf_profiler.insight import payload as insight_payload

_ROW_TEXT: dict[str, Any] = {
    "tenant_id": "default", "dag_id": "perf_profiler", "run_id": "manual__2024-12-28T00:00:00+00:00",
    "service": "registry", "endpoint": "/healthz", "p50_ms": 12.5, "p95_ms": 45.2, "p99_ms": 90.0,
    "throughput": 156.7, "error_rate": 0.01, "requests": 200, "error_count": 2, "verdict": "pass",
    "budget_p95_ms": 800.0, "data_interval_start": "2024-12-27T00:00:00+00:00",
    "data_interval_end": "2024-12-28T00:00:00.000000+00:00", "measured_at": "2024-12-28T00:00:05.500000+00:00",
}  # fmt: skip
_TEXT_PAYLOAD = (
    '{"metrics":{"budget_p95_ms":800.0,"dag_id":"perf_profiler","data_interval_end":"2024-12-28T00:00:00+00:00",'
    '"data_interval_start":"2024-12-27T00:00:00+00:00","endpoint":"/healthz","error_rate":0.01,"errors":2,'
    '"measured_at":"2024-12-28T00:00:05.500000+00:00","p50_latency_ms":12.5,"p95_latency_ms":45.2,'
    '"p99_latency_ms":90.0,"requests":200,"run_id":"manual__2024-12-28T00:00:00+00:00","service":"registry",'
    '"tenant_id":"default","throughput_rps":156.7,"verdict":"pass"},"source":"perf-profiler"}'
)
_TEXT_KEY = "pp1-3b6506521da99a51877d-61bd08106b4a44fbe13a"

# What PostgreSQL hands back (Decimal, datetime), with non-ASCII names, -0.0, NULLs and a naive time.
_ROW_DRIVER: dict[str, Any] = {
    "tenant_id": "t", "dag_id": "d", "run_id": "r", "service": "sérvice", "endpoint": "/é",
    "p50_ms": Decimal("1.20"), "p95_ms": Decimal("-0.0"), "p99_ms": None, "throughput": Decimal("3.33"),
    "error_rate": 0.0, "requests": 5, "error_count": 0, "verdict": "fail", "budget_p95_ms": None,
    "data_interval_start": None, "data_interval_end": dt.datetime(2024, 1, 1, 1, 2, 3),
    "measured_at": dt.datetime(2024, 1, 1, 1, 2, 3, 4, tzinfo=dt.timezone(dt.timedelta(hours=2))),
}  # fmt: skip
_DRIVER_PAYLOAD = (
    '{"metrics":{"budget_p95_ms":null,"dag_id":"d","data_interval_end":"2024-01-01T01:02:03+00:00",'
    '"data_interval_start":null,"endpoint":"/\\u00e9","error_rate":0.0,"errors":0,'
    '"measured_at":"2023-12-31T23:02:03.000004+00:00","p50_latency_ms":1.2,"p95_latency_ms":0.0,'
    '"p99_latency_ms":null,"requests":5,"run_id":"r","service":"s\\u00e9rvice","tenant_id":"t",'
    '"throughput_rps":3.33,"verdict":"fail"},"source":"perf-profiler"}'
)
_DRIVER_KEY = "pp1-3c0749146ed08fa967ac-e559c15a2fd99fd190b0"


@pytest.mark.parametrize(
    ("row", "text", "key"),
    [(_ROW_TEXT, _TEXT_PAYLOAD, _TEXT_KEY), (_ROW_DRIVER, _DRIVER_PAYLOAD, _DRIVER_KEY)],
    ids=["text-row", "driver-row"],
)
def test_payload_bytes_and_key_are_those_of_entries_already_queued(row: dict[str, Any], text: str, key: str) -> None:
    payload = insight_payload.build_payload(row)
    assert insight_payload.canonical_json(payload) == text
    assert insight_payload.idempotency_key(row) == key
    assert insight_payload.payload_key(payload) == key
    assert insight_payload.keyed_payloads([row]) == [(key, payload)]


def test_canonical_json_refuses_nan() -> None:
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        insight_payload.canonical_json({"metrics": {"p95_latency_ms": float("nan")}})


def test_p75_is_an_extra_field_left_out_for_rows_stored_before_it() -> None:
    payload = insight_payload.build_payload({**_ROW_TEXT, "p75_ms": 20.254})
    assert payload["metrics"]["p75_latency_ms"] == 20.254
    assert payload["metrics"]["p95_latency_ms"] == 45.2
    assert insight_payload.idempotency_key({**_ROW_TEXT, "p75_ms": 20.254}) != _TEXT_KEY
    old_row = {**_ROW_TEXT, "p75_ms": None}  # what fetch_metrics returns for a row stored before 005_p75.sql
    assert "p75_latency_ms" not in insight_payload.build_payload(old_row)["metrics"]
    assert insight_payload.canonical_json(insight_payload.build_payload(old_row)) == _TEXT_PAYLOAD
    assert insight_payload.idempotency_key(old_row) == _TEXT_KEY
