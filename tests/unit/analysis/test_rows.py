"""perf_profiler.analysis.rows: one perf_metrics row per endpoint summary, columns from the registry."""
from __future__ import annotations

import numpy as np
import pytest

from endpoint_summaries import IDENTITY, latency_samples_us, summary
from perf_profiler.analysis.rows import build_row, build_rows
from perf_profiler.model.columns import DERIVED_COLUMNS, ROW_COLUMNS
from perf_profiler.model.identity import make_row_id
from perf_profiler.model.targets import Budget


@pytest.mark.parametrize("model", ["closed", "open"])
def test_a_row_has_exactly_the_registry_columns_in_order(model: str) -> None:
    row = build_row(summary(model), Budget(), IDENTITY)
    assert tuple(row) == ROW_COLUMNS
    assert row["id"] == make_row_id("default", IDENTITY.dag_id, IDENTITY.run_id, "svc", "/x")
    assert (row["load_model"], row["service_hist"] is None) == (model, model == "closed")


def test_every_derived_column_is_its_histogram_statistic_rounded() -> None:
    s = summary("open")
    row = build_row(s, Budget(), IDENTITY)
    for column in DERIVED_COLUMNS:
        assert row[column.name] == round(s.derived[column.name], 3), column.name
        assert row[column.name] == round(getattr(s, column.name), 3)
    assert row["service_p50_ms"] < row["p50_ms"]  # the service time excludes the corrected wait


def test_the_verdict_judges_the_row_against_its_budget() -> None:
    s = summary()
    rows = build_rows([s], {("svc", "/x"): Budget(p95_ms=1.0)}, IDENTITY)
    assert rows[0]["verdict"] == "fail" and rows[0]["budget_p95_ms"] == 1.0
    assert build_rows([s], {}, IDENTITY)[0]["verdict"] == "pass"


def test_p75_ms_is_in_the_row_within_a_tenth_of_a_percent_of_numpy() -> None:
    row = build_row(summary(), Budget(), IDENTITY)
    want = np.percentile(latency_samples_us(), 75, method="inverted_cdf") / 1000.0
    assert abs(row["p75_ms"] - want) <= want * 0.001, (row["p75_ms"], want)
    assert tuple(row).index("p75_ms") == tuple(row).index("p50_ms") + 1
