"""saturation: when the generator's own lag or its drops make a result client-saturated."""
from __future__ import annotations

from perf_profiler.engine.plan import Share, plan_endpoint
from perf_profiler.engine.recorders import EndpointRecorder
from perf_profiler.engine.saturation import SATURATION_LAG_FLOOR_MS, saturation_limit_ms, saturation_reasons
from perf_profiler.model.targets import Endpoint, LoadSettings

OPEN = LoadSettings(model="open", requests=None, duration_s=1.0, rate=100.0, concurrency=5)


def test_limit_is_the_floor_or_a_tenth_of_the_latency_p99() -> None:
    assert saturation_limit_ms(5.0) == SATURATION_LAG_FLOOR_MS == 2.0
    assert saturation_limit_ms(100.0) == 10.0


def test_no_reason_when_lag_is_under_the_limit_and_nothing_was_dropped() -> None:
    plan = plan_endpoint(OPEN, Endpoint(path="/x"), Share())
    assert saturation_reasons(plan, EndpointRecorder(open_loop=True), 9.9, 100.0) == []


def test_each_reason_says_what_happened() -> None:
    plan = plan_endpoint(OPEN, Endpoint(path="/x"), Share())
    recorder = EndpointRecorder(open_loop=True)
    recorder.scheduled, recorder.dropped_cap, recorder.dropped_late = 100, 7, 3
    lag, cap, late = saturation_reasons(plan, recorder, 12.0, 100.0)
    assert lag.startswith("send lag (actual - intended send time) p99 12.00 ms > 10.00 ms")
    assert cap == "7 of 100 sends dropped: 5 requests already in flight (the cap)"
    assert late == "3 of 100 sends dropped: the generator fell behind its schedule"
    closed = plan_endpoint(LoadSettings(), Endpoint(path="/x"), Share())
    assert saturation_reasons(closed, EndpointRecorder(), 3.0, 1.0)[0].startswith("event-loop lag p99 3.00 ms")
