"""The fast engine's open loop: arrivals on a fixed timeline, handed to idle connections.

The same load model and recording as ``open_loop`` (arrivals ``share.index, share.index + K, ...``
of the global schedule, latency from the intended send time and service time from the actual
one, send lag per request, drops counted: ``scheduled = requests + dropped``), driven by
callbacks instead of a coroutine per request: a :class:`~perf_profiler.engine.wakeup.Wakeup`
beats on the schedule (a periodic timer, to the microsecond, no busy-polling on Linux), and at each
beat every arrival due is sent on an idle :class:`~perf_profiler.engine.fast_exchange.Slot` (a new
one while fewer than the in-flight cap exist).

At a high rate the beat is every :data:`BATCH_NS` rather than every arrival: the arrivals due
within one beat are sent together at its end (each one's lag -- at most ``BATCH_NS`` plus the
sending -- is measured and its latency counted from its intended time, as always). A wake-up
costs more CPU than a send on the VMs measured (README, "The engines"), so fewer of them leave
more of the core for sending.
"""
from __future__ import annotations

import asyncio
import math
import time

from perf_profiler.engine.cancel import STOP
from perf_profiler.engine.fast_exchange import FastTarget, Slot
from perf_profiler.engine.open_loop import LATE_GRACE_S
from perf_profiler.engine.plan import EndpointPlan, scheduled_arrivals
from perf_profiler.engine.recorders import FLUSH_EVERY, EndpointRecorder
from perf_profiler.engine.wakeup import Wakeup

#: Back-to-back sends before the dispatcher lets the loop read responses (when behind schedule).
_DISPATCH_BURST = 64
#: Longest wait between two looks at the stop flag.
_MAX_WAIT_NS = 100_000_000
#: The shortest beat: arrivals closer together than this are sent in groups, one wake-up each.
BATCH_NS = 100_000
#: How far the kernel's beat may fall behind the arrival it stands for before it is re-armed
#: (the beat is rounded up to whole nanoseconds, so it slips by under 1 ns a beat).
_DRIFT_NS = 2_000


class OpenDispatcher:
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
        step_ns = self.interval * self.stride  # between two arrivals of this share
        self.batch = max(1, math.ceil(BATCH_NS / step_ns))  # arrivals per beat
        beat_ns = math.ceil(self.batch * step_ns)
        self.beat_ns = beat_ns if beat_ns <= _MAX_WAIT_NS else 0  # 0: slow schedule, one wake-up at a time
        recorder.scheduled = self.count
        self.k = 0  # arrivals handled (sent or dropped) so far
        self.cap = plan.concurrency
        self.deadline = t0_ns + int((plan.duration_s + LATE_GRACE_S) * 1e9)
        self.idle: list[Slot] = []
        self.slots: list[Slot] = []  # every slot made (at most the in-flight cap)
        self.in_flight = 0
        self.sending = True
        self.done: asyncio.Future[None] = target.loop.create_future()
        assert recorder.service is not None  # an open-loop recorder
        # appended to directly, flushed by tick (the beat comes at least every _MAX_WAIT_NS)
        self.samples = (recorder.lag, recorder.latency, recorder.service)
        self.add_lag, self.add_latency, self.add_service = (samples.buf.append for samples in self.samples)
        self.wakeup = Wakeup(target.loop, self.tick)

    def tick(self) -> None:
        """Send every arrival that is due, then wait for the next beat."""
        if not self.sending:
            return
        for samples in self.samples:  # at most one flush a beat: each is a pause in sending
            if len(samples.buf) >= FLUSH_EVERY:
                samples.flush()
                break
        clock = time.perf_counter_ns
        now = clock()
        add_lag = self.add_lag
        t0, interval, first, stride = self.t0, self.interval, self.first, self.stride
        burst = 0
        while self.k < self.count:
            if now > self.deadline or STOP.signal is not None:  # late, or cancelled: stop sending
                break
            intended = t0 + int((first + self.k * stride) * interval)
            if intended > now:
                self.arm(now)
                return
            if burst >= _DISPATCH_BURST:  # behind schedule: still let responses in
                self.target.loop.call_soon(self.tick)
                return
            self.k += 1
            burst += 1
            if self.in_flight >= self.cap:
                self.recorder.dropped_cap += 1
                continue
            slot = self.idle.pop() if self.idle else self.new_slot()
            self.in_flight += 1
            slot.intended = intended
            slot.sent = now = clock()
            add_lag((now - intended) // 1000)
            slot.start()
        self.stop_sending()

    def arm(self, now: int) -> None:
        """Wake at the last arrival of the next one's group (the beat goes on unless it slipped).

        Groups are fixed (arrivals ``0..batch-1``, ``batch..2*batch-1``, ...), so the beat keeps one
        grid however late a wake-up ran.
        """
        last = min(self.k // self.batch * self.batch + self.batch, self.count) - 1
        due = self.t0 + int((self.first + last * self.stride) * self.interval)
        wakeup = self.wakeup
        if not self.beat_ns:
            wakeup.at(min(due, now + _MAX_WAIT_NS))
        elif wakeup.period_ns != self.beat_ns or not 0 <= wakeup.next_ns - due <= _DRIFT_NS:
            wakeup.every(due, self.beat_ns)

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
            self.add_latency((done - slot.intended) // 1000)
            self.add_service((done - slot.sent) // 1000)
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
    loop = OpenDispatcher(target, recorder, plan, t0_ns)
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
