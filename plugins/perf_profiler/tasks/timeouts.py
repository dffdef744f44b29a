"""Each task's ``execution_timeout``: static caps derived from the configured maxima.

Airflow fixes ``execution_timeout`` when the DAG file is parsed and cannot vary it per mapped
instance, so ``benchmark`` gets the longest any accepted plan may run: the cap on one service's
planned load (``model.caps.MAX_SERVICE_PLAN_S``: its endpoints in turn, each with its shard start
line; a config over it is refused when it is read) plus an allowance for the warm-up, the start-line
wait of a multi-process probe and a margin. The other tasks do bounded work: the Insight drain stops at its
own budget (at most ``model.caps.MAX_DRAIN_BUDGET_S``), the rest touch the metrics database.
A task past its cap fails (and is retried like any failure): nothing hangs forever.

Cheap to import at DAG-parse time: constants and ``timedelta`` only.
"""
from __future__ import annotations

from datetime import timedelta

from perf_profiler.model.caps import MAX_DRAIN_BUDGET_S, MAX_SERVICE_PLAN_S, MAX_TIMEOUT_S

#: Warm-up allowance: the warm-up requests are not timed by ``duration_s``; two request timeouts'
#: worth of the slowest allowed request.
WARMUP_ALLOWANCE_S = 2 * MAX_TIMEOUT_S
#: How long the processes of a multi-process probe may take to reach their common start line.
START_LINE_WAIT_S = 60.0
#: On top of every computed cap: imports, connections, the XCom write.
MARGIN_S = 600.0
#: The Insight drain waits at most this long for another drain's lock (``delivery.DRAIN_LOCK_WAIT_S``).
DRAIN_LOCK_ALLOWANCE_S = 120.0

#: Any task not listed in ``TASK_TIMEOUTS`` (reading config, branching, small DB queries).
DEFAULT_TIMEOUT = timedelta(minutes=15)

TASK_TIMEOUTS: dict[str, timedelta] = {
    "benchmark": timedelta(seconds=MAX_SERVICE_PLAN_S + WARMUP_ALLOWANCE_S + START_LINE_WAIT_S + MARGIN_S),
    "post_to_insight": timedelta(seconds=MAX_DRAIN_BUDGET_S + DRAIN_LOCK_ALLOWANCE_S + MARGIN_S),
    "store": timedelta(minutes=30),
    "analyse": timedelta(minutes=30),
    "apply_retention": timedelta(minutes=30),
}


def execution_timeout(task_id: str) -> timedelta:
    """The ``execution_timeout`` of task ``task_id`` (``DEFAULT_TIMEOUT`` unless listed)."""
    return TASK_TIMEOUTS.get(task_id, DEFAULT_TIMEOUT)
