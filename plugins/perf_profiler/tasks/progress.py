"""The ``benchmark`` task's progress line: the CLI's live status, logged every 30 s during a probe.

A long probe (a 10-minute open loop, several endpoints) is otherwise silent in the task log
until it ends. :func:`log_progress` wraps the probe::

    with log_progress(service.name):
        result = run_probe(service)

and a daemon thread logs the engine's status line (``engine.progress``: elapsed / planned,
requests, req/s, errors, p50/p99 of the last seconds, dropped, client saturation) every
``[perf_profiler] progress_log_every_s`` seconds (default 30; ``AIRFLOW__PERF_PROFILER__PROGRESS_LOG_EVERY_S``;
0 turns it off). The thread only reads snapshots: the probe never waits for it.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from perf_profiler.tasks.settings import SECTION

log = logging.getLogger(__name__)

DEFAULT_EVERY_S = 30.0


def progress_log_every_s() -> float:
    """``[perf_profiler] progress_log_every_s`` (default 30; 0 = no progress lines)."""
    from airflow.sdk import conf

    raw = str(conf.get(SECTION, "progress_log_every_s", fallback="") or "").strip()
    if not raw:
        return DEFAULT_EVERY_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ValueError(f"[{SECTION}] progress_log_every_s must be a number of seconds >= 0, got {raw!r}")
    return value


@contextmanager
def log_progress(service: str, every_s: float | None = None) -> Iterator[None]:
    """Log the probe's status line every ``every_s`` seconds (default: the config) while the block runs."""
    period = progress_log_every_s() if every_s is None else every_s
    if period <= 0:
        yield
        return
    done = threading.Event()
    thread = threading.Thread(target=_loop, args=(service, period, done), name="perf-profiler-progress-log",
                              daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=2)


def _loop(service: str, every_s: float, done: threading.Event) -> None:
    from perf_profiler.engine.progress import PROGRESS, ProgressLine

    line = ProgressLine()
    while not done.wait(every_s):
        snap = PROGRESS.snapshot()
        if snap is not None:
            log.info("progress of %s: %s", service, line.render(snap))
