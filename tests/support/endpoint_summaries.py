"""Real endpoint summaries of known samples, and a run identity, for the analysis tests."""
from __future__ import annotations

from typing import Any

import numpy as np

from perf_profiler.analysis import histogram as H
from perf_profiler.analysis.reduce import EndpointSummary, summarize_endpoint
from perf_profiler.model.identity import RunIdentity

IDENTITY = RunIdentity(dag_id="perf_profiler", run_id="scheduled__2026-11-26T02:00:00+00:00", run_type="scheduled",
                       logical_date="2026-11-26T02:00:00+00:00", data_interval_start="2026-11-25T02:00:00+00:00",
                       data_interval_end="2026-11-26T02:00:00+00:00")


def encoded(samples_us: Any) -> str:
    h = H.new_histogram()
    H.record_many(h, samples_us)
    return H.encode(h)


def latency_samples_us(seed: int = 1) -> np.ndarray:
    """The successful-response latencies (integer µs) behind ``summary(..., seed)``."""
    return np.rint(np.random.default_rng(seed).lognormal(np.log(20_000), 0.8, 2_000))


def summary(model: str = "closed", seed: int = 1) -> EndpointSummary:
    """A real summary of known samples: 2,000 successes, 20 failures, lag recorded."""
    rng = np.random.default_rng(seed)
    latency = rng.lognormal(np.log(20_000), 0.8, 2_000)
    part = {
        "endpoint": "/x", "method": "GET", "started_at": 1_764_130_000.0, "finished_at": 1_764_130_010.0,
        "requests": 2_020, "ok": 2_000, "errors": {"status": 20}, "status_codes": {"200": 2_000, "500": 20},
        "latency_hist": encoded(latency), "error_hist": encoded(rng.lognormal(np.log(5_000), 0.5, 20)),
        "model": model, "rate": 200.0 if model == "open" else None, "dropped": 0,
        "service_hist": encoded(latency * 0.8) if model == "open" else None,
        "lag_hist": encoded(rng.lognormal(np.log(300), 0.5, 100)),
    }  # fmt: skip
    return summarize_endpoint("svc", "/x", [part])
