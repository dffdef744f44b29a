"""perf_metrics rows with a chosen p95, built as the pipeline builds them (for the trends tests)."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from perf_profiler.analysis import histogram
from perf_profiler.analysis.reduce import summarize_endpoint
from perf_profiler.analysis.rows import build_row
from perf_profiler.model.identity import RunIdentity
from perf_profiler.model.targets import Budget


def row_with_p95(p95_ms: float, run_at: datetime, endpoint: str = "/healthz", *, scheduled: bool = False,
                 measured_after: timedelta = timedelta(0)) -> dict[str, Any]:
    """A ``registry`` row of the run at ``run_at`` whose p95 is ``p95_ms`` (90 % of it at half that).

    ``scheduled``: a scheduled run whose data interval is the day before ``run_at`` (else a manual
    run without interval); the measurement finishes ``measured_after`` the run's time.
    """
    h = histogram.new_histogram()
    for value_ms in [p95_ms * 0.5] * 90 + [p95_ms] * 10:
        histogram.record_us(h, int(value_ms * 1000))
    finished = (run_at + measured_after).timestamp()
    part = {"endpoint": endpoint, "method": "GET", "path": endpoint, "started_at": finished - 10,
            "finished_at": finished, "requests": 100, "ok": 100, "errors": {}, "status_codes": {"200": 100},
            "latency_hist": histogram.encode(h), "error_hist": histogram.encode(histogram.new_histogram())}
    if scheduled:
        identity = RunIdentity(dag_id="perf_profiler", run_id=f"scheduled__{run_at.isoformat()}",
                               run_type="scheduled", data_interval_start=(run_at - timedelta(days=1)).isoformat(),
                               data_interval_end=run_at.isoformat())
    else:
        identity = RunIdentity(dag_id="perf_profiler", run_id=f"manual__{run_at.isoformat()}", run_type="manual")
    return build_row(summarize_endpoint("registry", endpoint, [part]), Budget(), identity)
