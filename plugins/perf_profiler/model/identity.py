"""Which perf_metrics row a measurement is: the run it belongs to and the row's deterministic id."""
from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

__all__ = ["ROW_ID_NAMESPACE", "RunIdentity", "make_row_id"]

ROW_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:perf-profiler:perf_metrics")


@dataclass(frozen=True)
class RunIdentity:
    """Which DAG run a measurement belongs to. Manual runs in Airflow 3 may lack an interval.

    Timestamps are ISO-8601 UTC text (``common.encoding.iso_utc``)."""

    dag_id: str
    run_id: str
    run_type: str | None = None
    logical_date: str | None = None
    data_interval_start: str | None = None
    data_interval_end: str | None = None
    tenant_id: str = "default"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@lru_cache(maxsize=65536)
def make_row_id(tenant_id: str, dag_id: str, run_id: str, service: str, endpoint: str) -> str:
    """Deterministic row id: uuid5 of the unique key (the same key always gives the same id).

    The key is encoded as a JSON list, so no value can shift a character across a field
    boundary; ``ensure_ascii=False`` is part of the stored ids and must stay. Cached: the row
    builder derives the id and the store re-checks it, same key.
    """
    key = json.dumps([tenant_id, dag_id, run_id, service, endpoint], ensure_ascii=False, separators=(",", ":"))
    return str(uuid.uuid5(ROW_ID_NAMESPACE, key))
