"""Insight Engine payloads and their idempotency keys (see ``delivery`` for the key format).

Which columns a payload carries, under which names, comes from the column registry
(``model.columns``): names follow the seed report (``p95_latency_ms``, ``throughput_rps``).
The canonical text of a payload decides its idempotency key, so the encoding of existing fields
must never change; a column added later is an *extra* field, left out while NULL, so rows stored
before it existed keep their payload bytes and keys.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from perf_profiler.common.encoding import canonical_json, iso_utc
from perf_profiler.model.columns import COLUMNS, KEY_COLUMNS, Kind

SOURCE = "perf-profiler"
KEY_VERSION = "pp1"

Payload = Mapping[str, Any]


def build_payload(row: Mapping[str, Any]) -> dict[str, Any]:
    """The Insight Engine body for one perf_metrics row (no histograms, nothing secret).

    Values are normalised so that a row read back from either database gives the same payload.
    """
    metrics = {}
    for name, column, encode, extra in _FIELDS:
        value = row.get(column)
        if value is not None or not extra:
            metrics[name] = encode(value)
    return {"source": SOURCE, "metrics": metrics}


def idempotency_key(row: Mapping[str, Any], payload: Mapping[str, Any] | None = None) -> str:
    """``pp1-<row identity hash>-<payload hash>``: stable for identical content, new when it changes."""
    payload = build_payload(row) if payload is None else payload
    identity = "\x1f".join(str(row.get(name) or "") for name in KEY_COLUMNS)
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


def _flag(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _json_value(value: Any) -> Any:
    return json.loads(value) if isinstance(value, (str, bytes)) else value


_ENCODERS: dict[Kind, Callable[[Any], Any]] = {
    "text": _text, "uuid": _text, "timestamp": iso_utc, "decimal": _number, "float": _number,
    "int": _count, "bool": _flag, "json": _json_value,
}  # fmt: skip
#: (payload name, row column, encoder, extra) of every column the payload carries.
_FIELDS = tuple((c.payload, c.name, _ENCODERS[c.kind], c.payload_extra) for c in COLUMNS if c.payload)
