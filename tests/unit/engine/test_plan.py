"""plan: shares of a load, the per-endpoint plan, the open-loop schedule and the closed-loop gates."""
from __future__ import annotations

import pytest

from perf_profiler.engine.plan import Deadline, Quota, Share, counted_gate, plan_endpoint, scheduled_arrivals
from perf_profiler.model.targets import Endpoint, LoadSettings


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shares_add_up_and_differ_by_at_most_one(count: int) -> None:
    for total in range(30):
        parts = [Share(index, count).part(total) for index in range(count)]
        assert sum(parts) == total
        assert max(parts) - min(parts) <= 1


def test_endpoint_caps_apply_before_the_share() -> None:
    load = LoadSettings(model="open", requests=None, duration_s=2.0, rate=100.0, concurrency=10, warmup=5, processes=2)
    plan = plan_endpoint(load, Endpoint(path="/x", max_rate=30.0, max_concurrency=4), Share(1, 2))
    assert (plan.model, plan.concurrency, plan.rate, plan.share_rate, plan.warmup) == ("open", 2, 30.0, 15.0, 2)
    assert plan.requests is None and plan.duration_s == 2.0


def test_closed_loop_plan_counts_requests_or_runs_for_a_duration() -> None:
    by_count = plan_endpoint(LoadSettings(requests=41, concurrency=4), Endpoint(path="/x"), Share(0, 2))
    assert (by_count.requests, by_count.concurrency, by_count.rate) == (21, 2, None)
    by_time = plan_endpoint(LoadSettings(requests=41, duration_s=1.0), Endpoint(path="/x", max_rate=5.0), Share())
    assert (by_time.requests, by_time.rate, by_time.share_rate) == (None, 5.0, 5.0)


@pytest.mark.parametrize(
    ("rate", "duration_s", "expected"),
    [(200.0, 3.0, 600), (3.0, 1.0, 3), (0.5, 1.0, 1), (7.0, 0.0, 0), (1000.0, 0.1, 100)],
)
def test_scheduled_arrivals_are_the_times_i_over_rate_before_the_end(
    rate: float, duration_s: float, expected: int
) -> None:
    assert scheduled_arrivals(rate, duration_s) == expected


def test_counted_gate_by_number_needs_no_more_workers_than_requests() -> None:
    gate, workers = counted_gate(plan_endpoint(LoadSettings(requests=3, concurrency=10), Endpoint(path="/x"), Share()))
    assert isinstance(gate, Quota) and workers == 3
    assert [gate.take() for _ in range(4)] == [True, True, True, False]


def test_counted_gate_by_duration_uses_every_worker() -> None:
    plan = plan_endpoint(LoadSettings(requests=None, duration_s=60.0, concurrency=10), Endpoint(path="/x"), Share())
    gate, workers = counted_gate(plan)
    assert isinstance(gate, Deadline) and workers == 10 and gate.take()
    assert not Deadline(0.0).take()
