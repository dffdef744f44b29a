"""Client saturation: when the load generator, not the service, shapes the numbers it reports.

The generator measures its own scheduling lag (open loop: actual minus intended send time of
every request; closed loop: how late a 10 ms event-loop timer fires). A result is
``client_saturated`` when the lag p99 exceeds :func:`saturation_limit_ms` of the measured
latency p99 -- i.e. when the generator's own delay is a material part of the tail it reports --
or when any send was dropped. Such numbers describe the load generator as much as the service,
and every consumer (CLI summary, stored row, DAG log) says so.
"""
from __future__ import annotations

from perf_profiler.engine.plan import EndpointPlan
from perf_profiler.engine.recorders import EndpointRecorder

#: A result is ``client_saturated`` when the generator's scheduling lag p99 exceeds
#: ``saturation_limit_ms(latency p99)`` = max(SATURATION_LAG_FLOOR_MS, SATURATION_LAG_FRACTION x
#: latency p99), or when any send was dropped. The lag adds to the latencies it delays, so past
#: this point the generator, not the service, shapes the tail.
#: The floor is twice the event loop's timer granularity (1 ms): below it, lag is timer noise.
SATURATION_LAG_FLOOR_MS = 2.0
SATURATION_LAG_FRACTION = 0.10


def saturation_limit_ms(latency_p99_ms: float) -> float:
    """The lag p99 above which a result is client-saturated, for a measured latency p99."""
    return max(SATURATION_LAG_FLOOR_MS, SATURATION_LAG_FRACTION * latency_p99_ms)


def saturation_reasons(
    plan: EndpointPlan, recorder: EndpointRecorder, lag_p99_ms: float, latency_p99_ms: float
) -> list[str]:
    """Why the generator did not deliver the load it was asked for (empty: it did)."""
    reasons = []
    limit = saturation_limit_ms(latency_p99_ms)
    if lag_p99_ms > limit:
        what = "send lag (actual - intended send time)" if plan.model == "open" else "event-loop lag"
        reasons.append(
            f"{what} p99 {lag_p99_ms:.2f} ms > {limit:.2f} ms (the larger of "
            f"{SATURATION_LAG_FLOOR_MS:g} ms and {SATURATION_LAG_FRACTION:.0%} of the latency p99 "
            f"{latency_p99_ms:.2f} ms)"
        )
    if recorder.dropped_cap:
        reasons.append(f"{recorder.dropped_cap} of {recorder.scheduled} sends dropped: "
                       f"{plan.concurrency} requests already in flight (the cap)")
    if recorder.dropped_late:
        reasons.append(f"{recorder.dropped_late} of {recorder.scheduled} sends dropped: "
                       "the generator fell behind its schedule")
    return reasons
