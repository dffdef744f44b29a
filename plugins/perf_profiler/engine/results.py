"""Building the benchmark result (docs/CONTRACTS.md; its types are in ``model.result``).

:func:`assemble_entry` is the one place that lists an endpoint entry's keys. It is fed either
from one process's recorder (:func:`recorded_entry`) or from the entries of the worker processes
that shared an endpoint (:func:`merge_entries`: exact, histograms add and counts add). Entries
carry encoded histograms, so the result's size does not grow with the number of requests.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from perf_profiler.analysis import histogram
from perf_profiler.engine.exchange import RequestSpec
from perf_profiler.engine.plan import EndpointPlan
from perf_profiler.engine.recorders import EndpointRecorder
from perf_profiler.engine.saturation import saturation_reasons
from perf_profiler.model.result import BenchmarkResult, EndpointResult, add_counts
from perf_profiler.model.targets import Endpoint, Service

if TYPE_CHECKING:
    from perf_profiler.analysis.histogram import HdrHistogram


def service_result(
    service: Service, started_at: float, finished_at: float, endpoints: list[EndpointResult], engine: str
) -> BenchmarkResult:
    """The benchmark result of ``service``: its endpoints' entries in the order they were probed,
    and the engine that sent the requests (``"fast"`` or ``"aiohttp"``)."""
    return {
        "service": service.name,
        "base_url": service.base_url,
        "load": service.load.model_dump(),
        "started_at": started_at,
        "finished_at": finished_at,
        "endpoints": endpoints,
        "engine": engine,
    }


def assemble_entry(
    *,
    endpoint: str, method: str, path: str, started_at: float, finished_at: float,
    model: str, rate: float | None, concurrency: int, duration_s: float | None,
    ok: int, errors: Mapping[str, int], status_codes: Mapping[Any, int], scheduled: int,
    dropped_cap: int, dropped_late: int, redirects: int,
    latency: HdrHistogram, failed: HdrHistogram, service: HdrHistogram | None, lag: HdrHistogram,
    reasons: list[str],
) -> EndpointResult:
    """The entry from its parts; ``requests``, ``dropped``, the lag percentiles and
    ``client_saturated`` are derived here, so they always agree with the parts.

    ``status_codes`` maps a code (int or its str) to a count; ``service`` is None in the closed loop.
    """
    lag_stats = histogram.summarize(lag)
    return {
        "endpoint": endpoint,
        "method": method,
        "path": path,
        "started_at": started_at,
        "finished_at": finished_at,
        "model": model,
        "rate": rate,
        "concurrency": concurrency,
        "duration_s": duration_s,
        "requests": ok + sum(errors.values()),
        "ok": ok,
        "errors": dict(errors),
        "status_codes": {str(code): n for code, n in sorted(status_codes.items(), key=lambda item: int(item[0]))},
        "scheduled": scheduled,
        "dropped": dropped_cap + dropped_late,
        "drops": {"in_flight_cap": dropped_cap, "behind_schedule": dropped_late},
        "latency_hist": histogram.encode(latency),
        "error_hist": histogram.encode(failed),
        "service_hist": None if service is None else histogram.encode(service),
        "lag_hist": histogram.encode(lag),
        "lag_p50_ms": lag_stats.p50_ms,
        "lag_p99_ms": lag_stats.p99_ms,
        "client_saturated": bool(reasons),
        "saturation_reasons": reasons,
        "redirects": redirects,
    }


def recorded_entry(
    endpoint: Endpoint, spec: RequestSpec, plan: EndpointPlan, recorder: EndpointRecorder,
    started_at: float, finished_at: float,
) -> EndpointResult:
    """The entry of one process's counted phase of ``endpoint``."""
    lag = recorder.lag.finish()
    latency, failed = recorder.latency.finish(), recorder.failed.finish()
    tail = histogram.summarize(latency if latency.total_count else failed).p99_ms
    reasons = saturation_reasons(plan, recorder, histogram.summarize(lag).p99_ms, tail)
    return assemble_entry(
        endpoint=endpoint.name, method=spec.method, path=endpoint.path,
        started_at=started_at, finished_at=finished_at,
        model=plan.model, rate=plan.share_rate, concurrency=plan.concurrency, duration_s=plan.duration_s,
        ok=recorder.ok, errors=recorder.errors, status_codes=recorder.status_codes,
        scheduled=recorder.scheduled, dropped_cap=recorder.dropped_cap, dropped_late=recorder.dropped_late,
        redirects=recorder.redirects,
        latency=latency, failed=failed, service=None if recorder.service is None else recorder.service.finish(),
        lag=lag, reasons=reasons,
    )


def merge_entries(parts: list[EndpointResult]) -> EndpointResult:
    """One endpoint entry from the worker processes' parts (exact: histograms and counts add).

    The load adds up (rate, concurrency); the result is client-saturated when any part was, and
    each part's reasons are prefixed with its process.
    """
    first = parts[0]
    return assemble_entry(
        endpoint=first["endpoint"], method=first["method"], path=first["path"],
        started_at=min(p["started_at"] for p in parts), finished_at=max(p["finished_at"] for p in parts),
        model=first["model"],
        rate=_total_rate(parts),
        concurrency=sum(p["concurrency"] for p in parts), duration_s=first["duration_s"],
        ok=sum(p["ok"] for p in parts), errors=add_counts(p["errors"] for p in parts),
        status_codes=add_counts(p["status_codes"] for p in parts), scheduled=sum(p["scheduled"] for p in parts),
        dropped_cap=sum(p["drops"]["in_flight_cap"] for p in parts),
        dropped_late=sum(p["drops"]["behind_schedule"] for p in parts),
        redirects=sum(p.get("redirects", 0) for p in parts),
        latency=histogram.merge(p["latency_hist"] for p in parts),
        failed=histogram.merge(p["error_hist"] for p in parts),
        service=_merge_optional([p["service_hist"] for p in parts]),
        lag=histogram.merge(p["lag_hist"] for p in parts),
        reasons=[f"process {i}: {r}" for i, p in enumerate(parts) for r in p["saturation_reasons"]],
    )


def _total_rate(parts: list[EndpointResult]) -> float | None:
    """The parts' rates added up; None when there is none (a closed loop without a pace cap)."""
    rates = [p["rate"] for p in parts]
    return None if rates[0] is None else sum(r for r in rates if r is not None)


def _merge_optional(encoded: list[str | None]) -> HdrHistogram | None:
    """The merge of histograms that are absent (None) in the closed loop."""
    present = [e for e in encoded if e is not None]
    return histogram.merge(present) if len(present) == len(encoded) else None
