"""Issue 10, class 3: every task of both DAGs has an execution_timeout, derived from the maxima."""
from __future__ import annotations

import importlib.util
from datetime import timedelta
from pathlib import Path

import pytest

from perf_profiler.model.caps import MAX_DRAIN_BUDGET_S, MAX_DURATION_S, MAX_SERVICE_PLAN_S, MAX_SHARD_START_TIMEOUT_S
from perf_profiler.tasks import timeouts

DAGS = Path(__file__).resolve().parents[3] / "dags"


def load_dag(file_name: str, factory: str):
    spec = importlib.util.spec_from_file_location(f"{file_name[:-3]}_timeouts_under_test", DAGS / file_name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, factory)()


@pytest.mark.parametrize(("file_name", "factory"), [("perf_profiler_dag.py", "perf_profiler"),
                                                    ("perf_trends_dag.py", "perf_trends")])
def test_every_task_has_its_execution_timeout(file_name, factory):
    dag = load_dag(file_name, factory)
    assert dag.tasks
    for task in dag.tasks:
        assert isinstance(task.execution_timeout, timedelta), f"{task.task_id} has no execution_timeout"
        assert task.execution_timeout == timeouts.execution_timeout(task.task_id), task.task_id


def test_the_caps_cover_the_longest_accepted_work():
    benchmark = timeouts.execution_timeout("benchmark").total_seconds()
    assert MAX_SERVICE_PLAN_S >= MAX_DURATION_S + MAX_SHARD_START_TIMEOUT_S, "one endpoint at both caps fits"
    assert benchmark >= MAX_SERVICE_PLAN_S + timeouts.WARMUP_ALLOWANCE_S + timeouts.START_LINE_WAIT_S
    assert benchmark < 3 * 3600, "a static cap, not a day"
    assert timeouts.execution_timeout("post_to_insight").total_seconds() > MAX_DRAIN_BUDGET_S
    assert timeouts.execution_timeout("load_targets") == timeouts.DEFAULT_TIMEOUT
    assert all(t > timedelta(0) for t in timeouts.TASK_TIMEOUTS.values())


def test_a_drain_budget_above_the_task_timeout_is_refused():
    from perf_profiler.insight.client import InsightClient

    with pytest.raises(ValueError, match="drain_budget_s"):
        InsightClient("http://127.0.0.1:1", drain_budget_s=MAX_DRAIN_BUDGET_S + 1)
