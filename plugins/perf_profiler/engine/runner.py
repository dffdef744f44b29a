"""The probe engine's entry point: ``run_probe(service)`` -> the benchmark result (CONTRACTS.md).

Synchronous, for Airflow tasks, the CLI and the bench: it runs the probe on an event loop of its
own (uvloop when installed), in this process or spread over worker processes, and logs one line
per endpoint. The package docstring (``perf_profiler.engine``) describes the load models.
"""
from __future__ import annotations

import logging

from perf_profiler.engine.cancel import OnCancel, stop_on_signals
from perf_profiler.engine.fd_limits import ensure_fd_budget
from perf_profiler.engine.plan import Share
from perf_profiler.engine.probe import StartLine, probe_label, probe_service, run_on_loop
from perf_profiler.engine.processes import run_processes
from perf_profiler.model.result import BenchmarkResult, EndpointResult
from perf_profiler.model.targets import Service

log = logging.getLogger(__name__)


def run_probe(
    service: Service, use_uvloop: bool | None = None, on_cancel: OnCancel = "raise", shard: Share | None = None,
    start_line: StartLine | None = None,
) -> BenchmarkResult:
    """Sync entry point. ``use_uvloop``: None = when installed, True = required, False = asyncio.

    ``shard``: this task's part of a sharded service (``load.shards``), split again over
    ``load.processes``; ``start_line``: where the shards meet before each endpoint's counted
    phase (crossed once per endpoint by this task, whatever its number of processes).

    Raises ``fd_limits.FdLimitError`` before any request when the open-file limit is too low.
    SIGTERM/SIGINT (the one cancellation path of the task and the CLI, ``engine.cancel``) stop
    sending and let in-flight requests finish; then ``on_cancel="raise"`` (the task) raises
    ``cancel.ProbeCancelled`` and returns nothing partial, ``on_cancel="partial"`` (the CLI)
    returns what was measured, with ``result["interrupted"]`` naming the signal, and a second
    signal exits the process at once.
    """
    with stop_on_signals(on_cancel):
        shard = shard or Share()
        if service.load.processes > 1:  # refused here, before any worker starts; raised limits are inherited
            biggest = shard.split(0, service.load.processes)
            ensure_fd_budget(biggest.part(service.load.concurrency), probe_label(service, biggest))
            result = run_processes(service, use_uvloop, on_cancel, shard, start_line)
        else:
            result = run_on_loop(probe_service(service, shard, start_line), use_uvloop)
    for entry in result["endpoints"]:
        _log_endpoint(service.name, entry)
    return result


def _log_endpoint(service: str, entry: EndpointResult) -> None:
    wall_s = entry["finished_at"] - entry["started_at"]
    rate = entry["requests"] / wall_s if wall_s > 0 else 0.0
    model = entry.get("model", "closed")
    if model == "open":
        load = f"open loop {entry['rate']:g}/s, cap {entry['concurrency']} in flight"
    else:
        load = f"closed loop, {entry['concurrency']} in flight"
    log.info(
        "probed %s %s (%s): %s requests (%s ok, %s dropped) in %.2f s, %.0f req/s, lag p99 %.2f ms%s",
        service, entry["endpoint"], load, entry["requests"], entry["ok"], entry.get("dropped", 0),
        wall_s, rate, entry.get("lag_p99_ms", 0.0),
        " -- CLIENT SATURATED: " + "; ".join(entry["saturation_reasons"]) if entry.get("client_saturated") else "",
    )
