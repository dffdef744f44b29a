"""Safety caps and name limits: a typo in the config must not turn a nightly probe into a load test.

The field types of ``model.fields`` carry these caps (``cap("MAX_RATE")``), so the targets
validator, the trigger form's limits and the error messages all read the same numbers.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

MIB = 1024 * 1024

MAX_CONCURRENCY = 1000
MAX_REQUESTS = 1_000_000
MAX_DURATION_S = 3600.0
MAX_WARMUP = 10_000
MAX_TIMEOUT_S = 300.0
MAX_BODY_BYTES = 100 * MIB
#: Open model: arrivals per second per endpoint (a Python generator tops out far below this).
MAX_RATE = 50_000.0
#: Worker processes for one service's load.
MAX_PROCESSES = 16
#: Shards of one service's load (one mapped ``benchmark`` task each, on any worker).
MAX_SHARDS = 64
#: Longest wait of a shard for its siblings at an endpoint's start line.
MAX_SHARD_START_TIMEOUT_S = 3600.0
#: Longest load one ``benchmark`` task may plan for one service: its endpoints run in turn, each for
#: ``duration_s`` after its shard start line (``len(endpoints) * (duration_s + shard_start_timeout_s)``);
#: tasks/timeouts.py sizes the task's ``execution_timeout`` from it.
MAX_SERVICE_PLAN_S = MAX_DURATION_S + MAX_SHARD_START_TIMEOUT_S
#: Highest latency the histograms record (1 hour); a larger p95 budget could never fail.
MAX_P95_MS = 3_600_000.0
#: Longest per-run Insight drain budget (``drain_budget_s``); tasks/timeouts.py sizes the
#: post_to_insight execution_timeout from it.
MAX_DRAIN_BUDGET_S = 3600.0

#: Column limits of perf_metrics.service / perf_metrics.endpoint / perf_metrics.tenant_id.
SERVICE_NAME_MAX = 100
ENDPOINT_NAME_MAX = 200
TENANT_MAX = 63
#: Airflow's limit on connection ids.
CONN_ID_MAX = 250


@dataclass(frozen=True)
class SafetyCap:
    """Field metadata: the value may not exceed the constant ``name`` of this module.

    Used inside ``Annotated[...]``: it adds the ``le`` bound to the field's schema, so pydantic
    enforces it and the JSON schema shows it as ``maximum``; error messages name the constant.
    """

    name: str
    value: float

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        return {**handler(source), "le": self.value}

    @property
    def qualified_name(self) -> str:
        return f"{__name__}.{self.name}"


def cap(name: str) -> SafetyCap:
    """The cap named ``name`` (one of the ``MAX_*`` constants above)."""
    value = getattr(sys.modules[__name__], name)
    return SafetyCap(name, value)
