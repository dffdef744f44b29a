"""Nothing hangs forever: each phase of an endpoint's probe gets a deadline computed from its plan.

Every request ends within the load's ``timeout_s`` (aiohttp's total timeout, redirects included),
so a closed loop of N requests over C workers needs at most ceil(N / C) request times (N / rate
more when paced), and a timed or open loop its duration plus one request time. The deadline is
twice that plus :data:`MARGIN_S`: a safety net against a stuck probe, not a budget. Reaching it
fails the probe (``ProbeStuck``, naming the phase and the numbers) instead of holding the task
until Airflow's static ``execution_timeout``.
"""
from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable
from typing import TypeVar

from perf_profiler.engine.plan import EndpointPlan

T = TypeVar("T")

MARGIN_S = 30.0


class ProbeStuck(RuntimeError):
    """A phase of a probe ran past the deadline its plan allows."""


def warmup_deadline_s(plan: EndpointPlan, timeout_s: float) -> float:
    """The deadline of the closed-loop warm-up of ``plan.warmup`` requests."""
    workers = max(1, min(plan.concurrency, plan.warmup))
    return 2 * math.ceil(plan.warmup / workers) * timeout_s + MARGIN_S


def counted_deadline_s(plan: EndpointPlan, timeout_s: float) -> float:
    """The deadline of the counted phase (closed loop by number or by duration, or open loop)."""
    if plan.duration_s is not None:
        longest = plan.duration_s + timeout_s
    else:
        requests = plan.requests or 0
        longest = math.ceil(requests / plan.concurrency) * timeout_s
        if plan.share_rate:
            longest = max(longest, requests / plan.share_rate + timeout_s)
    return 2 * longest + MARGIN_S


async def within(work: Awaitable[T], seconds: float, what: str) -> T:
    """``await work``, or raise ``ProbeStuck`` naming ``what`` once ``seconds`` have passed."""
    try:
        return await asyncio.wait_for(work, seconds)
    except asyncio.TimeoutError:
        raise ProbeStuck(f"{what} ran past its deadline of {seconds:.0f} s (twice the longest its plan "
                         f"allows, plus {MARGIN_S:g} s): the probe is stuck, not slow") from None
