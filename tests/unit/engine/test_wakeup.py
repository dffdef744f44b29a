"""engine/wakeup.py: a wake-up never comes before its time, with a timerfd and without."""
from __future__ import annotations

import asyncio
import itertools
import sys
import time

import pytest


async def _wake_times(precise: bool, delays_ns: list[int]) -> list[tuple[int, int]]:
    from perf_profiler.engine.wakeup import Wakeup

    loop = asyncio.get_running_loop()
    fired: asyncio.Future[int] = loop.create_future()
    wakeup = Wakeup(loop, lambda: fired.set_result(time.perf_counter_ns()))
    if not precise:
        wakeup.close()  # as on a system without timerfd: loop timer + busy-polled last millisecond
    assert wakeup.precise is precise
    out = []
    try:
        for delay in delays_ns:
            fired = loop.create_future()
            when = time.perf_counter_ns() + delay
            wakeup.at(when)
            out.append((when, await fired))
    finally:
        wakeup.close()
    return out


@pytest.mark.parametrize("precise", [
    pytest.param(True, marks=pytest.mark.skipif(not sys.platform.startswith("linux"), reason="timerfd is Linux")),
    False,
])
def test_the_callback_comes_at_or_after_its_time(precise: bool) -> None:
    delays = [0, 200_000, 1_500_000, 3_000_000]  # now, within the poll window, beyond it
    for when, fired_at in asyncio.run(_wake_times(precise, delays)):
        assert fired_at >= when


def test_a_later_time_replaces_an_earlier_one() -> None:
    async def run() -> tuple[int, list[int]]:
        from perf_profiler.engine.wakeup import Wakeup

        loop = asyncio.get_running_loop()
        calls: list[int] = []
        wakeup = Wakeup(loop, lambda: calls.append(time.perf_counter_ns()))
        later = time.perf_counter_ns() + 20_000_000
        wakeup.at(time.perf_counter_ns() + 5_000_000)
        wakeup.at(later)  # re-armed before the first was due
        await asyncio.sleep(0.05)
        wakeup.close()
        return later, calls

    later, calls = asyncio.run(run())
    assert len(calls) == 1 and calls[0] >= later


@pytest.mark.parametrize("precise", [
    pytest.param(True, marks=pytest.mark.skipif(not sys.platform.startswith("linux"), reason="timerfd is Linux")),
    False,
])
def test_a_beat_calls_back_at_each_beat_never_early_and_skips_the_beats_missed(precise: bool) -> None:
    period = 2_000_000

    async def run() -> tuple[int, list[tuple[int, int]]]:
        from perf_profiler.engine.wakeup import Wakeup

        loop = asyncio.get_running_loop()
        calls: list[tuple[int, int]] = []  # (perf_counter_ns, next_ns when called)
        wakeup = Wakeup(loop, lambda: calls.append((time.perf_counter_ns(), wakeup.next_ns)))
        if not precise:
            wakeup.close()
        first = time.perf_counter_ns() + 3_000_000
        wakeup.every(first, period)
        await asyncio.sleep(0.012)
        time.sleep(0.009)  # the loop is busy through several beats
        await asyncio.sleep(0.005)
        wakeup.close()
        return first, calls

    first, calls = asyncio.run(run())
    assert len(calls) >= 4
    for fired_at, next_ns in calls:
        assert (next_ns - first) % period == 0  # the grid never moves
        assert fired_at >= next_ns - period  # never early: the beat called back for has come
        assert next_ns > fired_at - 1_000_000  # and the next one is the one after it (give or take the call)
    late = [b - a for (a, _), (b, _) in itertools.pairwise(calls)]
    assert max(late) >= 8_000_000  # the busy stretch: beats missed ...
    assert len(calls) < (calls[-1][0] - first) // period + 1  # ... are not called back one by one
