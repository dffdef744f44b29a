"""engine.deadline: each phase's deadline from its plan, and a stuck phase failing with ProbeStuck."""
from __future__ import annotations

import asyncio
import time

import pytest

from perf_profiler.engine.deadline import MARGIN_S, ProbeStuck, counted_deadline_s, warmup_deadline_s, within
from perf_profiler.engine.plan import EndpointPlan, Share


def plan(**fields: object) -> EndpointPlan:
    base: dict = {"model": "closed", "concurrency": 10, "requests": 100, "duration_s": None, "rate": None,
                  "warmup": 0, "share": Share()}
    return EndpointPlan(**{**base, **fields})


@pytest.mark.parametrize(("fields", "longest_s"), [
    ({"requests": 100, "concurrency": 10}, 10 * 5.0),             # ceil(N / C) request times
    ({"requests": 101, "concurrency": 10}, 11 * 5.0),
    ({"requests": 1, "concurrency": 1000}, 5.0),
    ({"requests": None, "duration_s": 60.0}, 60.0 + 5.0),         # a timed closed loop
    ({"model": "open", "requests": None, "duration_s": 30.0, "rate": 500.0}, 30.0 + 5.0),
    ({"requests": 100, "concurrency": 10, "rate": 2.0}, 100 / 2.0 + 5.0),  # paced: N / rate
    ({"requests": 100, "concurrency": 10, "rate": 2.0, "share": Share(0, 2)}, 100 / 1.0 + 5.0),
])
def test_the_counted_deadline_is_twice_the_longest_the_plan_allows_plus_a_margin(fields, longest_s):
    assert counted_deadline_s(plan(**fields), timeout_s=5.0) == pytest.approx(2 * longest_s + MARGIN_S)


def test_the_warmup_deadline_counts_its_own_workers():
    assert warmup_deadline_s(plan(warmup=20, concurrency=10), 2.0) == pytest.approx(2 * 2 * 2.0 + MARGIN_S)
    assert warmup_deadline_s(plan(warmup=3, concurrency=10), 2.0) == pytest.approx(2 * 1 * 2.0 + MARGIN_S)


def test_a_phase_past_its_deadline_fails_naming_it():
    async def stuck() -> None:
        await asyncio.sleep(3600)

    started = time.monotonic()
    with pytest.raises(ProbeStuck, match=r"service 'api', endpoint '/x': the counted phase ran past its deadline"):
        asyncio.run(within(stuck(), 0.2, "service 'api', endpoint '/x': the counted phase"))
    assert time.monotonic() - started < 2.0


def test_a_phase_within_its_deadline_returns_its_result():
    async def quick() -> int:
        await asyncio.sleep(0.01)
        return 7

    assert asyncio.run(within(quick(), 5.0, "phase")) == 7
