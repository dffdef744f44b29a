"""perf_profiler.analysis.report: the table's columns come from the registry; its text is pinned."""
from __future__ import annotations

from perf_profiler.analysis.report import REPORT_COLUMNS, table
from perf_profiler.model.columns import COLUMNS

ROWS = [
    {"service": "registry", "endpoint": "/healthz", "p50_ms": 12.5, "p95_ms": 45.25, "p99_ms": 90.0,
     "throughput": 156.7, "error_rate": 0.01, "requests": 200, "verdict": "pass"},
    {"service": "predictive-engine", "endpoint": "/v1/predict", "p50_ms": 350.0, "p95_ms": 912.34, "p99_ms": None,
     "throughput": 12.0, "error_rate": 0.2, "requests": 1000, "verdict": "fail"},
]


def test_the_table_columns_are_the_registry_columns_with_a_report_title() -> None:
    assert tuple((c.report.title, c.name, c.report.fmt) for c in COLUMNS if c.report) == REPORT_COLUMNS
    assert [key for _, key, _ in REPORT_COLUMNS][:2] == ["service", "endpoint"]


def test_table_text_is_what_the_demo_has_always_printed() -> None:
    """Pinned as the report printed it before the column registry (missing values print as -)."""
    shown = [(title, key, fmt) for title, key, fmt in REPORT_COLUMNS if key in ROWS[0]]
    assert table(ROWS, shown) == (
        "service            endpoint     p50 ms  p95 ms  p99 ms    rps  errors  requests  verdict\n"
        "-----------------  -----------  ------  ------  ------  -----  ------  --------  -------\n"
        "registry           /healthz       12.5    45.2    90.0  156.7   1.00%       200  pass\n"
        "predictive-engine  /v1/predict   350.0   912.3       -   12.0  20.00%      1000  fail"
    )


def test_p75_is_a_table_column_between_p50_and_p95() -> None:
    header = table([{**ROWS[0], "p75_ms": 20.25}]).splitlines()[0]
    assert "p50 ms  p75 ms  p95 ms" in header
    assert table([{**ROWS[0], "p75_ms": 20.25}]).splitlines()[2].split()[2:5] == ["12.5", "20.2", "45.2"]
    assert table(ROWS).splitlines()[3].split()[3] == "-"  # a row stored before p75 existed
