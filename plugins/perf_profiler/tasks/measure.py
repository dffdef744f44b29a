"""Task ``benchmark``: probe one service (secret headers read here, never passed on)."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from perf_profiler.model.result import BenchmarkResult

log = logging.getLogger(__name__)


def benchmark(service_dict: Mapping[str, Any]) -> BenchmarkResult:
    """Probe one service; failures of the target are counted in the result, never raised."""
    from perf_profiler.engine.fd_limits import FdLimitError
    from perf_profiler.engine.runner import run_probe
    from perf_profiler.model.secret_headers import with_secret_headers
    from perf_profiler.model.targets import Service, state_changing
    from perf_profiler.tasks.progress import log_progress
    from perf_profiler.tasks.target_auth import connection_headers

    service = Service.model_validate(service_dict)  # every rule again: an XCom is input too
    writes = state_changing(service)
    if writes:  # policy P-3: allowed only by the service's opt-in, and said on every run
        log.warning("%s: probing with state-changing methods (allow_state_changing_methods is true): %s",
                    service.name, ", ".join(writes))
    if service.headers_conn_id:  # secrets are read here, at probe time, and never leave this task
        headers = connection_headers(service.headers_conn_id)
        service = with_secret_headers(service, headers, source=f"connection {service.headers_conn_id!r}")
    try:
        with log_progress(service.name):  # the live status line every 30 s during a long probe
            result = run_probe(service)
    except FdLimitError as error:  # the worker's file-descriptor limit: a retry on it cannot help
        from airflow.sdk.exceptions import AirflowFailException  # here: importing Airflow sets up its logging

        raise AirflowFailException(str(error)) from error
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
