"""The fast engine's closed loop: the next request goes out from the completion callback.

The same load model as ``closed_loop`` (``workers`` slots, each sending its next request when its
last one returned, until the gate says stop; an endpoint's ``max_rate`` paces the sends on a
fixed timeline) and the same recording (latency = send -> full body read, event-loop lag from a
periodic timer), without a coroutine per request: a :class:`~perf_profiler.engine.fast_exchange.Slot`
calls back, the callback records and starts the next exchange.
"""
from __future__ import annotations

import asyncio
import time

from perf_profiler.engine.cancel import STOP
from perf_profiler.engine.closed_loop import watch_loop_lag
from perf_profiler.engine.fast_exchange import FastTarget, Slot
from perf_profiler.engine.plan import Gate, Pacer
from perf_profiler.engine.recorders import EndpointRecorder


class _ClosedLoop:
    """The callbacks of one closed-loop phase."""

    def __init__(self, target: FastTarget, recorder: EndpointRecorder, gate: Gate, workers: int,
                 pacer: Pacer | None) -> None:
        self.target = target
        self.recorder = recorder
        self.gate: Gate | _Closed = gate
        self.pacer = pacer
        self.running = workers
        self.over = False  # the phase ended (or was cut short): late completions send nothing
        self.done: asyncio.Future[None] = target.loop.create_future()
        self.slots = [Slot(target, recorder, self.on_done) for _ in range(workers)]

    def start(self) -> None:
        for slot in self.slots:
            self.next(slot)

    def next(self, slot: Slot) -> None:
        """Send ``slot``'s next request (when the gate allows), or retire the slot."""
        if not self.gate.take():
            self.running -= 1
            if self.running == 0 and not self.done.done():
                self.done.set_result(None)
            return
        pacer = self.pacer
        if pacer is not None:
            due = pacer.t0 + int(pacer.next * pacer.interval)
            pacer.next += pacer.stride
            wait_ns = due - time.perf_counter_ns()
            if wait_ns > 0:
                self.target.loop.call_later(wait_ns / 1e9, self.paced, slot, due)
                return
        slot.sent = time.perf_counter_ns()
        slot.start()

    def paced(self, slot: Slot, due: int) -> None:
        """A paced send whose time came (or a cancel: checked at most every 0.1 s)."""
        now = time.perf_counter_ns()
        if STOP.signal is not None:
            self.gate = _Closed()
            self.next(slot)
        elif now < due:
            self.target.loop.call_later(min((due - now) / 1e9, 0.1), self.paced, slot, due)
        else:
            slot.sent = now
            slot.start()

    def on_done(self, slot: Slot, error: str | None) -> None:
        if self.over:
            return
        recorder = self.recorder
        elapsed_us = (time.perf_counter_ns() - slot.sent) // 1000
        if error is None:
            recorder.ok += 1
            recorder.latency.add(elapsed_us)
        else:
            recorder.errors[error] += 1
            recorder.failed.add(elapsed_us)
        self.next(slot)


class _Closed:
    """A gate that lets nothing more through (cancelled while a paced send waited)."""

    def take(self) -> bool:
        return False


async def run_closed_fast(
    target: FastTarget, gate: Gate, workers: int, pacer: Pacer | None = None, recorder: EndpointRecorder | None = None,
) -> EndpointRecorder:
    """Run ``workers`` closed-loop slots until ``gate`` says stop (into ``recorder``, or a new one);
    their connections stay for the next phase."""
    recorder = recorder or EndpointRecorder()
    loop = _ClosedLoop(target, recorder, gate, workers, pacer)
    watcher = asyncio.ensure_future(watch_loop_lag(recorder.lag))
    try:
        loop.start()
        await loop.done
    finally:
        watcher.cancel()
        loop.over = True
        for slot in loop.slots:
            slot.park()
    recorder.scheduled = recorder.requests
    return recorder
