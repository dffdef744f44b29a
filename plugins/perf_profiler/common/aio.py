"""Run a coroutine from synchronous code (Airflow tasks, the CLI), even inside a running loop."""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T], runner: Callable[[Coroutine[Any, Any, T]], T] = asyncio.run) -> T:
    """``runner(coro)`` here, or in a worker thread when this thread already runs an event loop.

    A loop may already run here in a notebook, an async caller, or under Playwright's sync API in
    a test session; a second loop cannot run on the same thread.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return runner(coro)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="perf-profiler-aio") as pool:
        return pool.submit(runner, coro).result()
