"""One service's probe in this process: its endpoints one after another, on one client session.

For every endpoint, ``warmup`` uncounted requests run first (closed loop), then the counted
phase in the endpoint's load model (``closed_loop`` or ``open_loop``). A worker process of a
multi-process run (``processes``) probes its :class:`~perf_profiler.engine.plan.Share` of the
load and waits at a start line shared with the others before each counted phase.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Coroutine
from typing import Any, Protocol, TypeVar

import aiohttp

from perf_profiler.common.aio import run_sync
from perf_profiler.engine.cancel import STOP
from perf_profiler.engine.closed_loop import run_closed
from perf_profiler.engine.deadline import counted_deadline_s, warmup_deadline_s, within
from perf_profiler.engine.engine_choice import EngineName, choose_engine
from perf_profiler.engine.exchange import RequestSpec, make_session, request_spec
from perf_profiler.engine.fast_closed import run_closed_fast
from perf_profiler.engine.fast_exchange import FastTarget
from perf_profiler.engine.fast_open import run_open_fast
from perf_profiler.engine.fd_limits import ensure_fd_budget
from perf_profiler.engine.open_loop import run_open
from perf_profiler.engine.plan import EndpointPlan, Pacer, Quota, Share, counted_gate, plan_endpoint
from perf_profiler.engine.progress import PROGRESS
from perf_profiler.engine.recorders import EndpointRecorder
from perf_profiler.engine.redirects import redirect_policy
from perf_profiler.engine.results import recorded_entry, service_result
from perf_profiler.model.result import BenchmarkResult, EndpointResult
from perf_profiler.model.targets import Endpoint, Service

log = logging.getLogger(__name__)

T = TypeVar("T")


class StartLine(Protocol):
    """Where the worker processes of one service meet before each endpoint's counted phase."""

    async def start_line(self) -> int:
        """Wait for the others; the common start (``time.perf_counter_ns`` clock) of the phase."""
        ...


async def probe_service(
    service: Service, share: Share | None = None, sync: StartLine | None = None
) -> BenchmarkResult:
    """Benchmark every endpoint of ``service`` in turn; the benchmark result dict (CONTRACTS.md).

    ``share``/``sync`` are for the worker processes of ``run_probe`` (this process's part of the
    load and the start line shared with the others).
    """
    share = share or Share()
    ensure_fd_budget(max(1, share.part(service.load.concurrency)), probe_label(service, share))
    engine = choose_engine(service)
    started_at = time.time()
    endpoints: list[EndpointResult] = []
    try:
        async with make_session(service, share) as session:  # the fast engine hands redirects to it
            for position, ep in enumerate(service.endpoints, 1):
                entry = await _probe_endpoint(session, service, ep, share, sync, engine, position)
                if entry is not None:
                    endpoints.append(entry)
                if STOP.signal is not None:  # on_cancel="partial": what was measured so far
                    break
    finally:
        PROGRESS.clear()
    result = service_result(service, started_at, time.time(), endpoints, engine)
    if STOP.signal is not None:
        result["interrupted"] = STOP.signal
    return result


def probe_label(service: Service, share: Share) -> str:
    """``service 'api'``, or ``service 'api', process 2 of 4`` in a worker process (for messages)."""
    where = f", process {share.index + 1} of {share.count}" if share.count > 1 else ""
    return f"service {service.name!r}{where}"


async def _probe_endpoint(
    session: aiohttp.ClientSession, service: Service, endpoint: Endpoint, share: Share, sync: StartLine | None,
    engine: EngineName, position: int = 1,
) -> EndpointResult | None:
    """The endpoint's entry; None when a stop (``on_cancel="partial"``) came before its counted phase."""
    load = service.load
    plan = plan_endpoint(load, endpoint, share)
    spec = request_spec(service.base_url, endpoint, load, redirect_policy(service))
    fast = FastTarget(spec, session, load.timeout_s, load.connect_timeout_s) if engine == "fast" else None
    try:
        phases = await _phases(session, spec, fast, plan, service, endpoint, sync, position)
    finally:
        if fast is not None:
            fast.close()
    if phases is None:
        return None
    recorder, started_at, finished_at = phases
    STOP.stopped(probe_label(service, share))  # on_cancel="raise": partial results are not kept
    for error_class, example in recorder.first_error.items():
        log.info("%s %s: %s %s errors, first: %s",
                 service.name, endpoint.name, recorder.errors[error_class], error_class, example)
    return recorded_entry(endpoint, spec, plan, recorder, started_at, finished_at)


async def _phases(
    session: aiohttp.ClientSession, spec: RequestSpec, fast: FastTarget | None, plan: EndpointPlan,
    service: Service, endpoint: Endpoint, sync: StartLine | None, position: int,
) -> tuple[EndpointRecorder, float, float] | None:
    """The warm-up and the counted phase of one endpoint, on the engine chosen (``fast`` or aiohttp).

    None when a stop (``on_cancel="partial"``) came before the counted phase.
    """
    load, share = service.load, plan.share
    what = f"{probe_label(service, share)}, endpoint {endpoint.name!r}"
    where = (position, len(service.endpoints))
    if plan.warmup > 0:
        quota, workers, warm = Quota(plan.warmup), min(plan.concurrency, plan.warmup), EndpointRecorder()
        PROGRESS.begin(service.name, endpoint.name, "warm-up", where, warm, plan)
        warmup = (run_closed_fast(fast, quota, workers, None, warm) if fast
                  else run_closed(session, spec, quota, workers, None, warm))
        await within(warmup, warmup_deadline_s(plan, load.timeout_s), f"{what}: the warm-up")
    if STOP.stopped(probe_label(service, share)):  # raises unless on_cancel="partial"
        return None
    t0_ns = await sync.start_line() if sync is not None else time.perf_counter_ns()
    started_at = time.time()
    recorder = EndpointRecorder(open_loop=plan.model == "open")
    PROGRESS.begin(service.name, endpoint.name, "counted", where, recorder, plan)
    if plan.model == "open":
        counted = (run_open_fast(fast, plan, t0_ns, recorder) if fast
                   else run_open(session, spec, plan, t0_ns, recorder))
    else:
        gate, workers = counted_gate(plan)
        pacer = Pacer(plan.rate, share, t0_ns) if plan.rate is not None else None
        counted = (run_closed_fast(fast, gate, workers, pacer, recorder) if fast
                   else run_closed(session, spec, gate, workers, pacer, recorder))
    await within(counted, counted_deadline_s(plan, load.timeout_s), f"{what}: the counted phase")
    return recorder, started_at, time.time()


def run_on_loop(coro: Coroutine[Any, Any, T], use_uvloop: bool | None) -> T:
    """Run ``coro`` on a fresh event loop (uvloop when asked/installed) and return its result.

    The garbage collector's pauses land in the measured tail, so the probe runs with everything
    that existed before it (modules, Airflow's and the config models' objects) collected once and
    frozen out of later collections: those then walk only the probe's own objects. Unfrozen at
    the end, so nothing outlives the probe because of it. (``make bench`` row c's p99.)
    """
    gc.collect()
    gc.freeze()
    try:
        return run_sync(coro, runner=lambda c: _run_here(c, use_uvloop))
    finally:
        gc.unfreeze()


def _run_here(coro: Coroutine[Any, Any, T], use_uvloop: bool | None) -> T:
    if use_uvloop is not False:
        try:
            import uvloop
        except ImportError:
            if use_uvloop:
                coro.close()
                raise
            log.debug("uvloop not installed; using the asyncio event loop")
        else:
            return uvloop.run(coro)
    return asyncio.run(coro)
