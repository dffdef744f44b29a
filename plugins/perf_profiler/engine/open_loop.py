"""The open loop: ``rate`` arrivals per second on a fixed timeline (like wrk2 -R, k6's constant-arrival-rate).

Arrival *i* is due at ``t0 + i / rate`` whatever happened to the previous ones. Latency is
measured from the *intended* send time (``latency``, corrected for coordinated omission; it
drives the percentiles) and from the actual send (``service``). At most ``concurrency``
requests are in flight: an arrival due while the cap is reached is **dropped and counted**,
never silently skipped; arrivals the generator has not sent :data:`LATE_GRACE_S` after the end
of the schedule are dropped as behind schedule. Every scheduled arrival is either sent
(``requests``) or dropped: ``scheduled = requests + dropped``. The generator's own delay is the
send lag: actual minus intended send time of every request.
"""
from __future__ import annotations

import asyncio
import time

import aiohttp

from perf_profiler.engine.cancel import STOP
from perf_profiler.engine.exchange import RequestSpec, exchange
from perf_profiler.engine.plan import EndpointPlan, scheduled_arrivals
from perf_profiler.engine.recorders import EndpointRecorder, InFlight, Samples

#: Open loop: arrivals not sent this long after the end of the schedule are dropped (behind schedule).
LATE_GRACE_S = 0.1
#: Open loop: the dispatcher yields to the event loop after this many back-to-back sends.
_DISPATCH_BURST = 64


async def _open_send(
    session: aiohttp.ClientSession, spec: RequestSpec, recorder: EndpointRecorder, service: Samples, intended: int,
    flight: InFlight,
) -> None:
    """One arrival of the open loop, timed from its intended send time and from the actual one (``service``)."""
    clock = time.perf_counter_ns
    sent = clock()
    try:
        error = await exchange(session, spec, recorder)
    finally:
        flight.n -= 1
    done = clock()
    recorder.lag.add((sent - intended) // 1000)
    if error is None:
        recorder.ok += 1
        recorder.latency.add((done - intended) // 1000)
        service.add((done - sent) // 1000)
    else:
        recorder.errors[error] += 1
        recorder.failed.add((done - intended) // 1000)


async def run_open(
    session: aiohttp.ClientSession, spec: RequestSpec, plan: EndpointPlan, t0_ns: int,
    recorder: EndpointRecorder | None = None,
) -> EndpointRecorder:
    """The open loop: dispatch arrivals ``share.index, share.index + K, ...`` of the global schedule
    (into ``recorder``, an open-loop one, or a new one)."""
    assert plan.rate is not None and plan.duration_s is not None
    recorder = recorder or EndpointRecorder(open_loop=True)
    service = recorder.service
    assert service is not None  # an open-loop recorder has one
    clock = time.perf_counter_ns
    interval_ns = 1e9 / plan.rate
    arrivals = range(plan.share.index, scheduled_arrivals(plan.rate, plan.duration_s), plan.share.count)
    recorder.scheduled = len(arrivals)
    cap = plan.concurrency
    deadline = t0_ns + int((plan.duration_s + LATE_GRACE_S) * 1e9)
    flight = InFlight()
    tasks: set[asyncio.Task[None]] = set()
    create_task = asyncio.get_running_loop().create_task
    sleep = asyncio.sleep
    handled = burst = 0
    stop = STOP
    for i in arrivals:
        intended = t0_ns + int(i * interval_ns)
        now = clock()
        if now < intended:
            burst = 0
            while now < intended:
                # event-loop timers tick in whole ms and round: sleep the whole ms that surely
                # fit, then yield to the loop (responses keep flowing) until the intended time.
                # CPU for precision: a rounded-up timer would send up to 0.5 ms late.
                await sleep(min((intended - now) // 1_000_000, 100) / 1000)  # <= 0.1 s: see a cancel
                now = clock()
                if stop.signal is not None:
                    break
        elif burst >= _DISPATCH_BURST:  # behind schedule: still let responses in
            burst = 0
            await sleep(0)
            now = clock()
        if now > deadline or stop.signal is not None:  # late, or cancelled: stop sending
            break
        handled += 1
        burst += 1
        if flight.n >= cap:
            recorder.dropped_cap += 1
            continue
        flight.n += 1
        task = create_task(_open_send(session, spec, recorder, service, intended, flight))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    recorder.dropped_late = recorder.scheduled - handled
    if tasks:
        await asyncio.gather(*tasks)
    return recorder
