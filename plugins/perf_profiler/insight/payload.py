"""Insight Engine payloads and their idempotency keys (see ``delivery`` for the key format)."""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from perf_profiler.common.encoding import canonical_json, iso_utc

SOURCE = "perf-profiler"
KEY_VERSION = "pp1"
_IDENTITY = ("tenant_id", "dag_id", "run_id", "service", "endpoint")

Payload = Mapping[str, Any]


def build_payload(row: Mapping[str, Any]) -> dict[str, Any]:
    """The Insight Engine body for one perf_metrics row (no histograms, nothing secret).

    Metric names follow the seed report (``p95_latency_ms``, ``throughput_rps``); values are
    normalised so that a row read back from either database gives the same payload.
    """
    metrics = {
        "service": _text(row.get("service")),
        "endpoint": _text(row.get("endpoint")),
        "p95_latency_ms": _number(row.get("p95_ms")),
        "throughput_rps": _number(row.get("throughput")),
        "p50_latency_ms": _number(row.get("p50_ms")),
        "p99_latency_ms": _number(row.get("p99_ms")),
        "error_rate": _number(row.get("error_rate")),
        "requests": _count(row.get("requests")),
        "errors": _count(row.get("error_count")),
        "verdict": _text(row.get("verdict")),
        "budget_p95_ms": _number(row.get("budget_p95_ms")),
        "tenant_id": _text(row.get("tenant_id")),
        "dag_id": _text(row.get("dag_id")),
        "run_id": _text(row.get("run_id")),
        "data_interval_start": iso_utc(row.get("data_interval_start")),
        "data_interval_end": iso_utc(row.get("data_interval_end")),
        "measured_at": iso_utc(row.get("measured_at")),
    }
    return {"source": SOURCE, "metrics": metrics}


def idempotency_key(row: Mapping[str, Any], payload: Mapping[str, Any] | None = None) -> str:
    """``pp1-<row identity hash>-<payload hash>``: stable for identical content, new when it changes."""
    payload = build_payload(row) if payload is None else payload
    identity = "\x1f".join(str(row.get(name) or "") for name in _IDENTITY)
    return f"{KEY_VERSION}-{_sha(identity)}-{_sha(canonical_json(payload))}"


def keyed_payloads(rows: Iterable[Mapping[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """``(idempotency key, payload)`` for each perf_metrics row, ready for ``enqueue``/``deliver``."""
    pairs = []
    for row in rows:
        payload = build_payload(row)
        pairs.append((idempotency_key(row, payload), payload))
    return pairs


def payload_key(payload: Mapping[str, Any]) -> str:
    """The idempotency key of a payload built by ``build_payload`` (it carries the row identity)."""
    return idempotency_key(payload["metrics"], payload)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _count(value: Any) -> int | None:
    return None if value is None else int(value)


def _number(value: Any) -> float | None:
    if value is None:
        return None
    return round(float(value), 6) + 0.0  # + 0.0 turns -0.0 into 0.0
