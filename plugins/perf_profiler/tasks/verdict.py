"""Tasks ``check_budget``, ``budget_violated`` and ``gate``: what the stored verdicts mean for the run."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)


def gate(stored: Mapping[str, Any]) -> int:
    """Fail the run (no retries) when it broke a budget and ``fail_on_violation`` is set."""
    from airflow.sdk.exceptions import AirflowFailException

    incomplete = stored.get("incomplete") or {}
    if incomplete:  # store wrote and posted the other services; the run still fails
        lost = "; ".join(f"{service} (missing {', '.join(shards)})" for service, shards in sorted(incomplete.items()))
        raise AirflowFailException(f"{len(incomplete)} service(s) not stored, a benchmark failed: {lost}")
    count = len(stored["violations"])
    if count and stored["fail_on_violation"]:
        names = ", ".join(f"{v['service']} {v['endpoint']}" for v in stored["violations"])
        raise AirflowFailException(f"P-6 budget violated by {count} endpoint(s): {names} (fail_on_violation=true)")
    log.info("gate passed: %s violation(s), fail_on_violation=%s", count, stored["fail_on_violation"])
    return count



def choose_branch(stored: Mapping[str, Any]) -> str:
    """``budget_violated`` when any endpoint broke its budget, else ``within_budget``."""
    return "budget_violated" if stored["violations"] else "within_budget"



def log_violations(stored: Mapping[str, Any]) -> list[str]:
    """Log one line per violation; returns the lines."""
    from perf_profiler.analysis.budget import describe_violation

    lines = [describe_violation(v) for v in stored["violations"]]
    for line in lines:
        log.warning("%s", line)
    return lines
