"""One service's load spread over ``LoadSettings.processes = K > 1`` spawned worker processes.

Requests, concurrency, warm-up and rate are split (each process probes its
:class:`~perf_profiler.engine.plan.Share`; the open-loop timelines interleave: process k sends
arrivals k, k+K, k+2K, ... of the global schedule), the processes start each endpoint's counted
phase together (:class:`Sync`), and their parts merge exactly (histograms add, counts add).
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import sys
import threading
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

from perf_profiler.engine.cancel import STOP, OnCancel, die_with_parent, stop_on_signals
from perf_profiler.engine.engine_choice import choose_engine
from perf_profiler.engine.plan import WHOLE, Share
from perf_profiler.engine.probe import StartLine, probe_service, run_on_loop
from perf_profiler.engine.progress import PROGRESS, publish_loop
from perf_profiler.engine.results import merge_entries, service_result
from perf_profiler.engine.shard_line import Barriers, cross_outer
from perf_profiler.model.result import BenchmarkResult
from perf_profiler.model.targets import Service

#: Worker processes: how long one may wait for the others at an endpoint's start line.
_SYNC_TIMEOUT_S = 3 * 3600.0
#: Worker processes: the counted phase starts this long after the last one is ready.
_SYNC_LEAD_S = 0.05


class Sync:
    """Lines the worker processes of one service up before each endpoint's counted phase."""

    def __init__(self, barrier: Any, start: Any, release: Any = None) -> None:
        self.barrier = barrier
        self.start = start
        self.release = release  # shards: the parent crosses the shards' start line in between

    async def start_line(self) -> int:
        """Wait for every process (blocking: nothing else runs between phases); the common t0."""
        self.barrier.wait(timeout=_SYNC_TIMEOUT_S)
        if self.release is not None:
            self.release.wait(timeout=_SYNC_TIMEOUT_S)
        t0_ns = time.perf_counter_ns() + int((self.start.value - time.time()) * 1e9)
        delay = (t0_ns - time.perf_counter_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        return t0_ns


def _pick_start(start: Any) -> None:
    """Barrier action (runs in one process): the wall-clock start of the next counted phase."""
    start.value = time.time() + _SYNC_LEAD_S


def _process_main(
    service: Service, index: int, count: int, barrier: Any, start: Any, results: Any, use_uvloop: bool | None,
    parent_pid: int, on_cancel: OnCancel = "raise", progress: Any = None, shard: Share = WHOLE,
    release: Any = None,
) -> None:
    """Body of worker process ``index``: probe its share, report the result or the failure.

    It dies with its parent (``cancel.die_with_parent``) and stops on SIGTERM/SIGINT like a probe
    in the parent (the parent sends SIGTERM to its workers when it is cancelled); with
    ``on_cancel="partial"`` it reports what it measured. Its live progress goes to ``progress``.
    """
    die_with_parent(parent_pid)
    done = threading.Event()
    if progress is not None:
        progress.cancel_join_thread()  # exit without waiting for unread snapshots: they are stale anyway
        threading.Thread(target=publish_loop, args=(index, progress, done), name="perf-profiler-progress",
                         daemon=True).start()
    try:
        with stop_on_signals(on_cancel, second_exits=False):
            result = run_on_loop(probe_service(service, shard.split(index, count), Sync(barrier, start, release)),
                                 use_uvloop)
    except BaseException as exc:  # reported to the parent, which raises it
        barrier.abort()
        if release is not None:
            release.abort()
        results.put(("error", index, f"{type(exc).__name__}: {exc}"[:500]))
    else:
        results.put(("ok", index, result))
    finally:
        done.set()


def run_processes(
    service: Service, use_uvloop: bool | None, on_cancel: OnCancel = "raise", shard: Share = WHOLE,
    outer: StartLine | None = None,
) -> BenchmarkResult:
    """Spread the service's load (this ``shard`` of it) over ``load.processes`` spawned processes
    and merge their parts.

    With ``on_cancel="partial"``, a stop merges what the workers measured until then. ``outer``:
    the shards' start line, crossed by this process once all of its workers are at an endpoint's
    start line (``shard_line.cross_outer``).
    """
    import multiprocessing

    count = service.load.processes
    ctx = multiprocessing.get_context("spawn")  # fork is unsafe in a threaded task runner
    start = ctx.Value("d", 0.0, lock=False)
    if outer is None:
        barrier, release, crossing = ctx.Barrier(count, action=partial(_pick_start, start)), None, None
    else:  # the parent is one more party: it crosses the shards' line, then releases its workers
        barrier, release = ctx.Barrier(count + 1), ctx.Barrier(count + 1)
        crossing = cross_outer(outer, barrier, release, start, len(service.endpoints))
    results, progress = ctx.Queue(), ctx.Queue()
    procs = [
        ctx.Process(target=_process_main, name=f"perf-profiler-{index}", daemon=True,
                    args=(service, index, count, barrier, start, results, use_uvloop, os.getpid(), on_cancel,
                          progress, shard, release))
        for index in range(count)
    ]
    started: list[Any] = []
    try:
        with _parent_main_hidden():
            for proc in procs:
                proc.start()
                started.append(proc)
        parts = _collect(started, results, Barriers(barrier, release), count, progress, service.load.timeout_s)
    finally:
        PROGRESS.clear()
        if crossing is not None:
            Barriers(barrier, release).abort()  # ends the crossing thread if it still waits
            crossing.join(timeout=5)
        for proc in started:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
            if proc.is_alive():  # stuck (e.g. at a start line): no worker outlives run_processes
                proc.kill()
                proc.join(timeout=5)
    if not parts:  # stopped before any worker measured anything (on_cancel="partial")
        now = time.time()
        empty = service_result(service, now, now, [], choose_engine(service))
        return {**empty, "interrupted": STOP.signal or "SIGTERM"}
    measured = max(len(part["endpoints"]) for part in parts)
    endpoints = [merge_entries([part["endpoints"][i] for part in parts if len(part["endpoints"]) > i])
                 for i in range(measured)]
    result = service_result(service, min(part["started_at"] for part in parts),
                            max(part["finished_at"] for part in parts), endpoints,
                            parts[0].get("engine", "aiohttp"))
    stopped = [part["interrupted"] for part in parts if "interrupted" in part]
    if stopped or STOP.signal is not None:
        result["interrupted"] = STOP.signal or stopped[0]
    return result


@contextlib.contextmanager
def _parent_main_hidden() -> Iterator[None]:
    """While workers are spawned: they must not re-run the parent's ``__main__``.

    ``spawn`` re-imports the parent's main script in every worker (as ``__mp_main__``), by path
    or by module name. Inside an Airflow task that script is the ``airflow`` command, whose import
    initialises Airflow's settings and ORM and fails in a task process; a worker needs nothing
    from it (its function and arguments come from perf_profiler). Without a main file or spec to
    name, the workers import only what they unpickle.
    """
    main = sys.modules["__main__"]
    saved: dict[str, Any] = {name: main.__dict__.pop(name) for name in ("__file__", "__spec__")
                             if name in main.__dict__}
    main.__spec__ = None  # spawn reads it with getattr
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


def _collect(
    procs: list[Any], results: Any, barrier: Any, count: int, progress: Any, timeout_s: float
) -> list[BenchmarkResult]:
    """Every worker's result in index order; raises RuntimeError naming the first failure.

    Cancelled (``cancel.STOP`` set by SIGTERM/SIGINT): the workers get SIGTERM (they stop sending
    and finish their in-flight requests) and the start line is broken; then ``ProbeCancelled`` is
    raised, or with ``on_cancel="partial"`` the parts the workers report within the request
    timeout are returned (a worker broken at the start line reports none). Meanwhile the workers'
    progress snapshots go to ``progress.PROGRESS``.
    """
    parts: dict[int, BenchmarkResult] = {}
    reported: set[int] = set()
    grace_until: float | None = None
    while len(reported) < count:
        if STOP.signal is not None and grace_until is None:
            barrier.abort()
            for proc in procs:
                if proc.is_alive():
                    proc.terminate()
            STOP.stopped(f"probe of {count} worker processes")  # raises unless on_cancel="partial"
            grace_until = time.monotonic() + timeout_s + _SYNC_LEAD_S + 2.0
        if grace_until is not None and time.monotonic() > grace_until:
            break
        _drain_progress(progress)
        try:
            kind, index, payload = results.get(timeout=0.2)
        except queue.Empty:
            dead = [p for p in procs if p.exitcode not in (None, 0)]
            if dead and grace_until is None:
                barrier.abort()
                raise RuntimeError(f"worker process {dead[0].name} exited with code {dead[0].exitcode}") from None
            if grace_until is not None and all(p.exitcode is not None for p in procs):
                break
            continue
        reported.add(index)
        if kind == "ok":
            parts[index] = payload
            continue
        barrier.abort()
        if not STOP.stopped(f"probe of {count} worker processes"):  # a worker stopped by the same Ctrl-C
            raise RuntimeError(f"worker process {index} of {count} failed: {payload}")
    return [parts[i] for i in sorted(parts)]


def _drain_progress(progress: Any) -> None:
    """Hand the workers' latest progress snapshots to this process's board."""
    while True:
        try:
            index, wire = progress.get_nowait()
        except queue.Empty:
            return
        PROGRESS.receive(index, wire)
