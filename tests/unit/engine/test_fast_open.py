"""engine/fast_open.py: how arrivals are grouped into beats, and that the beat keeps one grid."""
from __future__ import annotations

import asyncio
import types
from collections.abc import Iterator

import pytest

from perf_profiler.engine.fast_open import BATCH_NS, OpenDispatcher
from perf_profiler.engine.plan import EndpointPlan, Share
from perf_profiler.engine.recorders import EndpointRecorder

T0 = 10**12  # any perf_counter_ns time: nothing here waits for it


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def open_loop(loop: asyncio.AbstractEventLoop, rate: float, share: Share | None = None) -> OpenDispatcher:
    plan = EndpointPlan(model="open", concurrency=100, requests=None, duration_s=2.0, rate=rate, warmup=0,
                        share=share or Share())
    target = types.SimpleNamespace(loop=loop)  # the dispatcher only needs the loop until it sends
    return OpenDispatcher(target, EndpointRecorder(open_loop=True), plan, T0)  # type: ignore[arg-type]


@pytest.mark.parametrize(("rate", "share", "batch", "beat_ns"), [
    (50_000, Share(), 5, 100_000),  # 20 µs apart: five arrivals a beat
    (20_000, Share(), 2, 100_000),
    (50_000, Share(0, 2), 3, 120_000),  # one of two processes: every other arrival, 40 µs apart
    (1_000, Share(), 1, 1_000_000),  # slower than a beat: one arrival a beat
    (5, Share(), 1, 0),  # slower than the stop flag is looked at: one wake-up at a time
])
def test_arrivals_closer_than_a_beat_are_grouped(loop, rate, share, batch, beat_ns) -> None:
    dispatcher = open_loop(loop, rate, share)
    assert (dispatcher.batch, dispatcher.beat_ns) == (batch, beat_ns)
    step_ns = 1e9 / rate * share.count
    assert (dispatcher.batch - 1) * step_ns < BATCH_NS  # the first of a group waits less than a beat
    dispatcher.wakeup.close()


def test_the_beat_stays_on_the_groups_last_arrival_however_late_a_tick_ran(loop) -> None:
    dispatcher = open_loop(loop, 50_000)  # groups of 5 arrivals, 20 µs apart
    wakeup = dispatcher.wakeup

    def intended(k: int) -> int:
        return T0 + k * 20_000

    dispatcher.k = 3  # arrivals 0-2 sent: wake at the end of group 0-4
    dispatcher.arm(intended(2))
    assert (wakeup.period_ns, wakeup.next_ns) == (100_000, intended(4))
    wakeup.next_ns += wakeup.period_ns  # the beat came; group 5-9 next
    dispatcher.k = 5
    dispatcher.arm(intended(4))
    assert wakeup.next_ns == intended(9)  # not re-armed: the kernel keeps the beat
    dispatcher.k = 12  # a late tick sent up to arrival 11: the grid stays (group 10-14)
    dispatcher.arm(intended(11))
    assert wakeup.next_ns == intended(14)
    dispatcher.k = dispatcher.count - 2  # the last group may be short: wake for the very last arrival
    dispatcher.arm(intended(dispatcher.k - 1))
    assert wakeup.next_ns == intended(dispatcher.count - 1)
    wakeup.close()
