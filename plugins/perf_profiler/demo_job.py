"""``make demo``: start the simulated services, probe them, print what was measured, stop."""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from perf_profiler import demo


@contextmanager
def running_demo_services(port_offset: int = 0, seed: int = 6) -> Iterator[None]:
    """Serve the simulated services from a background thread for the duration of the block."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="demo-services", daemon=True)
    thread.start()
    runners = asyncio.run_coroutine_threadsafe(demo.start(port_offset=port_offset, seed=seed), loop).result(30)
    try:
        yield
    finally:
        for runner in runners:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def run() -> int:
    from perf_profiler.cli import main as cli_main

    urls = [f"http://127.0.0.1:{s.port}/healthz" for s in demo.SERVICES]
    with running_demo_services():
        cli_main(["probe", *urls, "-n", "200", "-c", "10", "--warmup", "10"])
    return 0
