"""A shard's worker processes at the shards' start line: the parent crosses it for them.

With ``load.processes = K > 1`` inside a shard, the K workers and the parent meet at a barrier
before each endpoint's counted phase; the parent then waits at the shards' start line (the
``StartLine`` the task passed in, e.g. the metrics database's), writes the agreed instant as
wall-clock time for the workers and releases them through a second barrier. Only the parent
talks to the outside (a worker process has no Airflow connection).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any

from perf_profiler.common.aio import run_sync
from perf_profiler.engine.probe import StartLine

log = logging.getLogger(__name__)

#: How long the parent waits for its workers at one endpoint (the workers' own limit in Sync).
_WAIT_S = 3 * 3600.0


class Barriers:
    """The start line's barriers, broken together (a failure anywhere frees every waiter)."""

    def __init__(self, *barriers: Any) -> None:
        self.barriers = [b for b in barriers if b is not None]

    def abort(self) -> None:
        for barrier in self.barriers:
            barrier.abort()


def cross_outer(outer: StartLine, arrive: Any, release: Any, start: Any, endpoints: int) -> threading.Thread:
    """Start the parent's thread that crosses ``outer`` once per endpoint between the two barriers."""
    thread = threading.Thread(target=_cross, args=(outer, arrive, release, start, endpoints),
                              name="perf-profiler-shard-line", daemon=True)
    thread.start()
    return thread


def _cross(outer: StartLine, arrive: Any, release: Any, start: Any, endpoints: int) -> None:
    try:
        for _ in range(endpoints):
            arrive.wait(timeout=_WAIT_S)
            t0_ns = run_sync(outer.start_line())
            start.value = time.time() + (t0_ns - time.perf_counter_ns()) / 1e9
            release.wait(timeout=_WAIT_S)
    except threading.BrokenBarrierError:  # multiprocessing's barriers raise threading's
        return  # a worker failed or the probe was cancelled: run_processes reports it
    except Exception:
        log.exception("the shards' start line failed; stopping this shard's worker processes")
        Barriers(arrive, release).abort()
