"""What load one process puts on one endpoint, and the gates that pace its closed loop.

``LoadSettings.processes = K > 1`` splits a service's load over K processes: each gets a
:class:`Share` (requests, concurrency, warm-up and rate are split; the open-loop timelines
interleave). :func:`plan_endpoint` applies the endpoint's caps, then the share.
"""
from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

from perf_profiler.engine.cancel import STOP
from perf_profiler.model.targets import Endpoint, LoadSettings

#: Longest single sleep of a paced wait, so a cancel (``cancel.STOP``) is seen promptly.
_MAX_WAIT_S = 0.1


@dataclass(frozen=True)
class Share:
    """This process's part of a service's load: number ``index`` of ``count`` processes (all shards')."""

    index: int = 0
    count: int = 1

    def split(self, index: int, count: int) -> Share:
        """Part ``index`` of ``count`` of this share (a shard's processes): global index
        ``self.index * count + index`` of ``self.count * count``, so the open-loop timelines of
        every process of every shard interleave into the service's one timeline."""
        return Share(self.index * count + index, self.count * count)

    def part(self, total: int) -> int:
        """This process's share of an integer total (shares differ by at most 1 and add up)."""
        return total // self.count + (1 if self.index < total % self.count else 0)


#: The whole load (one process, one shard).
WHOLE = Share()


@dataclass(frozen=True)
class EndpointPlan:
    """The load one process puts on one endpoint: endpoint caps and the share applied."""

    model: str
    concurrency: int  # closed: workers; open: cap on requests in flight
    requests: int | None  # closed loop counted by number (None: by duration)
    duration_s: float | None
    rate: float | None  # the endpoint's whole rate (all processes); closed: a pace cap or None
    warmup: int
    share: Share

    @property
    def share_rate(self) -> float | None:
        """This process's part of ``rate``."""
        return None if self.rate is None else self.rate / self.share.count


def plan_endpoint(load: LoadSettings, endpoint: Endpoint, share: Share) -> EndpointPlan:
    """Effective per-endpoint load: min of the load's and the endpoint's caps, then this share."""
    concurrency = load.concurrency
    if endpoint.max_concurrency is not None:
        concurrency = min(concurrency, endpoint.max_concurrency)
    rate = load.rate if load.model == "open" else None
    if endpoint.max_rate is not None:
        rate = endpoint.max_rate if rate is None else min(rate, endpoint.max_rate)
    return EndpointPlan(
        model=load.model,
        concurrency=max(1, share.part(concurrency)),
        requests=None if load.duration_s is not None or load.requests is None else share.part(load.requests),
        duration_s=load.duration_s,
        rate=rate,
        warmup=share.part(load.warmup),
        share=share,
    )


def scheduled_arrivals(rate: float, duration_s: float) -> int:
    """How many arrivals a schedule of ``rate``/s holds: times ``i / rate`` in ``[0, duration_s)``."""
    return max(0, math.ceil(rate * duration_s - 1e-9))


# --------------------------------------------------------------------------- closed-loop gates
class Quota:
    """A shared budget of ``n`` requests that workers draw from."""

    __slots__ = ("left",)

    def __init__(self, n: int) -> None:
        self.left = n

    def take(self) -> bool:
        if self.left <= 0 or STOP.signal is not None:  # cancelled: stop sending
            return False
        self.left -= 1
        return True


class Deadline:
    """Lets workers start requests until ``duration_s`` has passed (in-flight ones finish)."""

    __slots__ = ("until",)

    def __init__(self, duration_s: float) -> None:
        self.until = time.perf_counter() + duration_s

    def take(self) -> bool:
        return STOP.signal is None and time.perf_counter() < self.until


Gate = Quota | Deadline


class Pacer:
    """Closed loop under an endpoint's ``max_rate``: hands out send slots on a fixed timeline."""

    __slots__ = ("interval", "next", "stride", "t0")

    def __init__(self, rate: float, share: Share, t0_ns: int) -> None:
        self.t0 = t0_ns
        self.interval = 1e9 / rate
        self.next = share.index
        self.stride = share.count

    async def wait(self) -> None:
        due = self.t0 + int(self.next * self.interval)
        self.next += self.stride
        now = time.perf_counter_ns()
        while now < due and STOP.signal is None:
            await asyncio.sleep(min((due - now) / 1e9, _MAX_WAIT_S))
            now = time.perf_counter_ns()


def counted_gate(plan: EndpointPlan) -> tuple[Gate, int]:
    """The gate of the closed loop's counted phase and how many workers it needs."""
    if plan.duration_s is not None:
        return Deadline(plan.duration_s), plan.concurrency
    assert plan.requests is not None  # LoadSettings requires requests or duration_s
    return Quota(plan.requests), min(plan.concurrency, plan.requests)
