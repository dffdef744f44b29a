"""The fast engine's open loop: arrivals on a fixed timeline, handed to idle connections.

The same load model and recording as ``open_loop`` (arrivals ``share.index, share.index + K, ...``
of the global schedule, latency from the intended send time and service time from the actual
one, send lag per request, drops counted: ``scheduled = requests + dropped``), driven by
callbacks instead of a coroutine per request: a :class:`~perf_profiler.engine.wakeup.Wakeup`
fires at the next arrival's intended time (to the microsecond, no busy-polling on Linux), every
arrival due is sent on an idle :class:`~perf_profiler.engine.fast_exchange.Slot` (a new one while
fewer than the in-flight cap exist), and the wake-up is armed for the next arrival.
"""
from __future__ import annotations

import asyncio
import time

from perf_profiler.engine.cancel import STOP
from perf_profiler.engine.fast_exchange import FastTarget, Slot
from perf_profiler.engine.open_loop import LATE_GRACE_S
from perf_profiler.engine.plan import EndpointPlan, scheduled_arrivals
from perf_profiler.engine.recorders import EndpointRecorder
from perf_profiler.engine.wakeup import Wakeup

#: Back-to-back sends before the dispatcher lets the loop read responses (when behind schedule).
_DISPATCH_BURST = 64
#: Longest wait between two looks at the stop flag.
_MAX_WAIT_NS = 100_000_000
#: An arrival due sooner than this is waited for by yielding to the loop (its I/O polled, no sleep):
#: cheaper than arming a timer and waking from it, which costs more than this on a busy core.
_SPIN_NS = 50_000


class _OpenLoop:
    """The dispatcher and completion callbacks of one open-loop phase."""

    def __init__(self, target: FastTarget, recorder: EndpointRecorder, plan: EndpointPlan, t0_ns: int) -> None:
        assert plan.rate is not None and plan.duration_s is not None
        self.target = target
        self.recorder = recorder
        self.t0 = t0_ns
        self.interval = 1e9 / plan.rate
        self.first = plan.share.index
        self.stride = plan.share.count
        self.count = len(range(plan.share.index, scheduled_arrivals(plan.rate, plan.duration_s), plan.share.count))
        recorder.scheduled = self.count
        self.k = 0  # arrivals handled (sent or dropped) so far
        self.cap = plan.concurrency
        self.deadline = t0_ns + int((plan.duration_s + LATE_GRACE_S) * 1e9)
        self.idle: list[Slot] = []
        self.slots: list[Slot] = []  # every slot made (at most the in-flight cap)
        self.in_flight = 0
        self.sending = True
        self.done: asyncio.Future[None] = target.loop.create_future()
        self.wakeup = Wakeup(target.loop, self.tick)

    def intended(self, k: int) -> int:
        return self.t0 + int((self.first + k * self.stride) * self.interval)

    def tick(self) -> None:
        """Send every arrival that is due, then sleep until the next one."""
        if not self.sending:
            return
        clock = time.perf_counter_ns
        now = clock()
        recorder = self.recorder
        burst = 0
        while self.k < self.count:
            if now > self.deadline or STOP.signal is not None:  # late, or cancelled: stop sending
                break
            intended = self.intended(self.k)
            if intended > now:
                if intended - now < _SPIN_NS:
                    self.target.loop.call_soon(self.tick)
                else:
                    self.wakeup.at(min(intended, now + _MAX_WAIT_NS))
                return
            if burst >= _DISPATCH_BURST:  # behind schedule: still let responses in
                self.target.loop.call_soon(self.tick)
                return
            self.k += 1
            burst += 1
            if self.in_flight >= self.cap:
                recorder.dropped_cap += 1
                continue
            slot = self.idle.pop() if self.idle else self.new_slot()
            self.in_flight += 1
            slot.intended = intended
            slot.sent = now = clock()
            recorder.lag.add((now - intended) // 1000)
            slot.start()
        self.stop_sending()

    def new_slot(self) -> Slot:
        slot = Slot(self.target, self.recorder, self.on_done)
        self.slots.append(slot)
        return slot

    def stop_sending(self) -> None:
        self.sending = False
        self.recorder.dropped_late = self.count - self.k
        self.wakeup.close()
        if self.in_flight == 0 and not self.done.done():
            self.done.set_result(None)

    def on_done(self, slot: Slot, error: str | None) -> None:
        if self.done.done():  # the phase is over (or was cut short): nothing more to record
            return
        done = time.perf_counter_ns()
        recorder = self.recorder
        self.in_flight -= 1
        self.idle.append(slot)
        if error is None:
            recorder.ok += 1
            recorder.latency.add((done - slot.intended) // 1000)
            recorder.service.add((done - slot.sent) // 1000)  # type: ignore[union-attr]  # open-loop recorder
        else:
            recorder.errors[error] += 1
            recorder.failed.add((done - slot.intended) // 1000)
        if not self.sending and self.in_flight == 0 and not self.done.done():
            self.done.set_result(None)


async def run_open_fast(
    target: FastTarget, plan: EndpointPlan, t0_ns: int, recorder: EndpointRecorder | None = None,
) -> EndpointRecorder:
    """The open loop on the fast engine (see ``open_loop`` for the model and its counts)."""
    recorder = recorder or EndpointRecorder(open_loop=True)
    loop = _OpenLoop(target, recorder, plan, t0_ns)
    try:
        loop.tick()
        await loop.done
    finally:
        loop.wakeup.close()
        loop.sending = False
        if not loop.done.done():  # cut short (a deadline): late completions record nothing
            loop.done.cancel()
        for slot in loop.slots:
            slot.park()
    return recorder
