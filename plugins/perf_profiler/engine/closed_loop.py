"""The closed loop: a fixed pool of workers, each sending its next request when its last returned.

What hey, ab and Locust do. Latency = service time, send -> full body read. A closed loop stops
sending while the server stalls, so a stall hits only ``concurrency`` requests and vanishes from
the percentiles (*coordinated omission*; the open loop does not have this blind spot).
The generator's own delay is measured as event-loop lag: how late a periodic timer fires, i.e.
how long a finished response may wait before the loop sees it.
"""
from __future__ import annotations

import asyncio
import time

import aiohttp

from perf_profiler.engine.exchange import RequestSpec, exchange
from perf_profiler.engine.plan import Gate, Pacer
from perf_profiler.engine.recorders import EndpointRecorder, Samples

#: Closed loop: period of the event-loop lag probe.
LAG_PROBE_INTERVAL_S = 0.01


async def _worker(
    session: aiohttp.ClientSession, spec: RequestSpec, recorder: EndpointRecorder, gate: Gate,
    pacer: Pacer | None,
) -> None:
    clock = time.perf_counter_ns
    latency, failed, errors = recorder.latency, recorder.failed, recorder.errors
    while gate.take():
        if pacer is not None:
            await pacer.wait()
        sent = clock()
        error = await exchange(session, spec, recorder)
        elapsed_us = (clock() - sent) // 1000
        if error is None:
            recorder.ok += 1
            latency.add(elapsed_us)
        else:
            errors[error] += 1
            failed.add(elapsed_us)


async def watch_loop_lag(lag: Samples) -> None:
    """How late a periodic timer fires = how long a ready response may wait."""
    clock = time.perf_counter_ns
    period_ns = int(LAG_PROBE_INTERVAL_S * 1e9)
    while True:
        due = clock() + period_ns
        await asyncio.sleep(LAG_PROBE_INTERVAL_S)
        lag.add(max(0, clock() - due) // 1000)


async def run_closed(
    session: aiohttp.ClientSession, spec: RequestSpec, gate: Gate, workers: int, pacer: Pacer | None = None,
    recorder: EndpointRecorder | None = None,
) -> EndpointRecorder:
    """Run ``workers`` closed-loop workers until ``gate`` says stop (into ``recorder``, or a new one)."""
    recorder = recorder or EndpointRecorder()
    watcher = asyncio.ensure_future(watch_loop_lag(recorder.lag))
    try:
        await asyncio.gather(*(_worker(session, spec, recorder, gate, pacer) for _ in range(workers)))
    finally:
        watcher.cancel()
    recorder.scheduled = recorder.requests
    return recorder
