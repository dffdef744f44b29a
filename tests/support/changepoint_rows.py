"""Nightly perf_metrics rows with dense histograms (a narrow p95 interval), for the change-point tests."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np

from perf_profiler.analysis import histogram
from perf_profiler.analysis.reduce import summarize_endpoint
from perf_profiler.analysis.rows import build_row
from perf_profiler.model.identity import RunIdentity
from perf_profiler.model.targets import Budget

START = datetime(2026, 1, 1, 2, 0, tzinfo=timezone.utc)


def row_with_p95(p95_ms: float, run_at: datetime, endpoint: str = "/healthz", scheduled: bool = True,
                 errors: int = 0, service: str = "registry") -> dict:
    """A scheduled run of 2,000 successful requests whose p95 is ``p95_ms`` (its interval is about ±1 %),
    plus ``errors`` failed ones (status 500)."""
    h = histogram.new_histogram()
    values = np.concatenate([np.linspace(0.5, 1.0, 1900), np.linspace(1.0, 1.3, 100)]) * p95_ms * 1000
    histogram.record_many(h, values.astype(np.int64))
    finished = run_at.timestamp()
    part = {"endpoint": endpoint, "method": "GET", "path": endpoint, "started_at": finished - 10,
            "finished_at": finished, "requests": 2000 + errors, "ok": 2000,
            "errors": {"status": errors} if errors else {},
            "status_codes": {"200": 2000, **({"500": errors} if errors else {})},
            "latency_hist": histogram.encode(h), "error_hist": histogram.encode(histogram.new_histogram())}
    identity = RunIdentity(dag_id="perf_profiler", run_id=f"scheduled__{run_at.isoformat()}", run_type="scheduled",
                           data_interval_start=(run_at - timedelta(days=1)).isoformat(),
                           data_interval_end=run_at.isoformat())
    return build_row(summarize_endpoint(service, endpoint, [part]), Budget(), identity)


def nights(levels: list[float], seed: int = 7, endpoint: str = "/healthz", start: datetime = START,
           error_rates: list[float] | None = None, service: str = "registry") -> list[dict]:
    """One scheduled run a night from ``start`` with p95 = level × 1 % lognormal noise; with
    ``error_rates``, each night's errors are binomial at that rate (of 2,000 requests)."""
    rng = np.random.default_rng(seed)
    noise = np.exp(rng.normal(0.0, 0.01, len(levels)))
    errors = [0] * len(levels) if error_rates is None else [int(rng.binomial(2000, p)) for p in error_rates]
    return [row_with_p95(level * n, start + timedelta(days=i), endpoint, scheduled=True, errors=e, service=service)
            for i, (level, n, e) in enumerate(zip(levels, noise, errors, strict=True))]


