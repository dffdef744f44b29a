"""perf_profiler.analysis.rederive: a backfill recomputes every histogram-derived column it can."""
from __future__ import annotations

import numpy as np
import pytest

from endpoint_summaries import IDENTITY, latency_samples_us, summary
from perf_profiler.analysis.rederive import rederive_row, rederive_rows
from perf_profiler.analysis.rows import build_row
from perf_profiler.model.columns import DERIVED_COLUMNS, HISTOGRAM_COLUMN
from perf_profiler.model.targets import Budget


@pytest.mark.parametrize("model", ["closed", "open"])
def test_columns_of_stored_histograms_are_recomputed_the_rest_kept(model: str) -> None:
    measured = build_row(summary(model), Budget(), IDENTITY)
    stale = {**measured, **{c.name: 0.0 for c in DERIVED_COLUMNS}}
    derived = rederive_row(stale, Budget())
    for column in DERIVED_COLUMNS:
        assert column.derived is not None, column.name
        stored = HISTOGRAM_COLUMN[column.derived.histogram]
        if stored is not None and measured[stored] is not None:
            assert derived[column.name] == measured[column.name], column.name  # recomputed
        else:
            assert derived[column.name] == 0.0, column.name  # nothing to recompute from: kept
    recomputed = {c.name for c in DERIVED_COLUMNS if derived[c.name] != 0.0}
    assert {"p50_ms", "p95_ms", "p999_ms", "min_ms", "max_ms", "mean_ms"} <= recomputed
    assert ({"service_p50_ms", "service_p99_ms"} <= recomputed) == (model == "open")
    assert not {"lag_p50_ms", "lag_p99_ms"} & recomputed  # the lag histogram is not stored
    marks = {"origin", "rederived_at"}
    assert {k: v for k, v in derived.items() if k not in recomputed | marks} == {
        k: v for k, v in stale.items() if k not in recomputed | marks}
    assert (stale["origin"], stale["rederived_at"]) == ("measured", None)
    assert derived["origin"] == "rederived" and derived["rederived_at"] >= stale["measured_at"]


def test_a_new_budget_rejudges_and_a_removed_endpoint_keeps_its_own() -> None:
    row = build_row(summary(), Budget(), IDENTITY)
    (strict,) = rederive_rows([row], {("svc", "/x"): Budget(p95_ms=1.0)})
    assert (strict["verdict"], strict["budget_p95_ms"]) == ("fail", 1.0)
    (kept,) = rederive_rows([{**row, "budget_p95_ms": 2.0}], {})
    assert (kept["verdict"], kept["budget_p95_ms"]) == ("fail", 2.0)


def test_a_backfill_fills_p75_of_rows_stored_before_it_existed(metrics_db: str) -> None:
    """Through the database: a row written without p75_ms (as before 005_p75.sql) reads back NULL;
    the backfill's fetch -> rederive -> upsert stores it from the row's latency histogram."""
    from perf_profiler.storage.dialect import get_hook
    from perf_profiler.storage.metrics_repo import fetch_metrics, upsert_metrics
    from perf_profiler.storage.migrations import migrate

    hook = get_hook("perf_metrics_db")
    migrate(hook)
    old = build_row(summary(), Budget(), IDENTITY)
    del old["p75_ms"]
    upsert_metrics(hook, [old])
    (stored,) = fetch_metrics(hook)
    assert stored["p75_ms"] is None

    upsert_metrics(hook, rederive_rows([stored], {}))
    (backfilled,) = fetch_metrics(hook)
    want = np.percentile(latency_samples_us(), 75, method="inverted_cdf") / 1000.0
    assert abs(backfilled["p75_ms"] - want) <= want * 0.001 + 0.005, (backfilled["p75_ms"], want)  # DECIMAL(10,2)
    assert backfilled["id"] == stored["id"] and backfilled["p95_ms"] == stored["p95_ms"]
    assert (stored["origin"], stored["rederived_at"]) == ("measured", None)
    assert backfilled["origin"] == "rederived" and backfilled["rederived_at"] is not None

    upsert_metrics(hook, [build_row(summary(), Budget(), IDENTITY)])  # measured again (a re-run)
    (remeasured,) = fetch_metrics(hook)
    assert (remeasured["origin"], remeasured["rederived_at"]) == ("measured", None)
