"""Task ``benchmark``: probe one service (secret headers read here, never passed on)."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from perf_profiler.model.result import BenchmarkResult
from perf_profiler.tasks import sharding

if TYPE_CHECKING:
    from perf_profiler.engine.plan import Share
    from perf_profiler.model.targets import Service
    from perf_profiler.tasks.shard_start import DbStartLine, ShardTask

log = logging.getLogger(__name__)


def benchmark(item: Mapping[str, Any], task: ShardTask | None = None) -> BenchmarkResult:
    """Probe one service (or one shard of it); failures of the target are counted in the result, never raised.

    ``item`` is one of ``load_targets``' mapped items (``tasks.sharding``). A shard with ``task``
    (its run, host and try) meets its siblings at the start line in the metrics database, and its
    result carries ``shard``: its number, host, try and what happened at each start line.
    """
    from perf_profiler.engine.fd_limits import FdLimitError
    from perf_profiler.engine.plan import Share
    from perf_profiler.engine.runner import run_probe
    from perf_profiler.model.secret_headers import with_secret_headers
    from perf_profiler.model.targets import Service, state_changing
    from perf_profiler.tasks.progress import log_progress
    from perf_profiler.tasks.target_auth import connection_headers

    service_dict, index = sharding.shard_of(item)
    service = Service.model_validate(service_dict)  # every rule again: an XCom is input too
    shard = None if index is None else Share(index, service.load.shards)
    writes = state_changing(service)
    if writes:  # policy P-3: allowed only by the service's opt-in, and said on every run
        log.warning("%s: probing with state-changing methods (allow_state_changing_methods is true): %s",
                    service.name, ", ".join(writes))
    if service.headers_conn_id:  # secrets are read here, at probe time, and never leave this task
        headers = connection_headers(service.headers_conn_id)
        service = with_secret_headers(service, headers, source=f"connection {service.headers_conn_id!r}")
    version = service_version(service)  # once per run (each shard reads it; store keeps the first non-null)
    line = None if shard is None or task is None else _start_line(service, shard, task)
    try:
        with log_progress(service.name):  # the live status line every 30 s during a long probe
            result = run_probe(service, shard=shard, start_line=line)
    except FdLimitError as error:  # the worker's file-descriptor limit: a retry on it cannot help
        from airflow.sdk.exceptions import AirflowFailException  # here: importing Airflow sets up its logging

        raise AirflowFailException(str(error)) from error
    if service.version is not None:
        result = {**result, "service_version": version}
    if shard is not None:
        result = sharding.with_shard(result, shard, task.host if task else "", task.try_number if task else 0,
                                     [] if line is None else line.outcomes)
    log_percentiles(result)
    for endpoint in result["endpoints"]:
        if endpoint.get("client_saturated"):
            log.warning(
                "%s %s: CLIENT SATURATED -- the load generator could not deliver the requested load; "
                "its latencies are distorted and the stored row says client_saturated=true "
                "(scheduling lag p99 %.2f ms, %s sends dropped): %s",
                service.name, endpoint["endpoint"], endpoint.get("lag_p99_ms", 0.0), endpoint.get("dropped", 0),
                "; ".join(endpoint.get("saturation_reasons", [])),
            )
    return result


def service_version(service: Service) -> str | None:
    """The service's release from its version source, read before the probe; a failure is a warning
    naming the service and why (the version is then NULL), never the benchmark's failure."""
    from perf_profiler.engine.version_read import read_version

    if service.version is None:
        return None
    read = read_version(service)
    if read.version is None:
        log.warning("%s: no service version this run (stored as NULL): %s", service.name, read.error)
    else:
        log.info("%s: service version %s", service.name, read.version)
    return read.version


def _start_line(service: Service, shard: Share, task: ShardTask) -> DbStartLine:
    """The shards' start line in the metrics database (migrated first: it holds the table)."""
    from perf_profiler.tasks.metrics_db import migrated_hook
    from perf_profiler.tasks.shard_start import DbStartLine

    return DbStartLine(migrated_hook(), service, shard, task)


def log_percentiles(result: BenchmarkResult) -> None:
    """One line per endpoint: its percentiles, counts and throughput, from the result's histograms.

    This replaces Airflow's dump of the returned value (``show_return_value_in_logs=False`` on the
    task): the encoded histograms mean nothing to a reader, their percentiles do.
    """
    from perf_profiler.analysis.reduce import summarize_results

    for summary in summarize_results([result]):
        log.info(
            "%s %s %s: p50 %.2f ms  p95 %.2f ms  p99 %.2f ms  |  %s requests, %s ok, %s errors (%.2f%%)  |  "
            "%.1f req/s  |  %s loop, %s dropped",
            summary.service, summary.method, summary.endpoint, summary.p50_ms, summary.p95_ms, summary.p99_ms,
            summary.requests, summary.ok_count, summary.error_count, 100 * summary.error_rate,
            summary.throughput, summary.model, summary.dropped,
        )
