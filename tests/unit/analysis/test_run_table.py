"""The tables the tasks log: store's run table and perf_trends' table (rendering only, no I/O)."""
from __future__ import annotations

import re

from perf_profiler.analysis.run_table import printable, run_heading, run_table, trend_table


def stored(service: str, endpoint: str, p95_ms: float, **more: object) -> dict:
    """A perf_metrics row as a run builds it (only the columns the table reads)."""
    return {"id": f"{service}{endpoint}", "run_id": "scheduled__2026-03-09T02:00:00+00:00", "service": service,
            "endpoint": endpoint, "p50_ms": p95_ms / 2, "p95_ms": p95_ms, "p99_ms": p95_ms * 1.5,
            "throughput": 123.456, "error_rate": 0.0125, "verdict": "pass", "client_saturated": False,
            "measured_at": "2026-03-09T02:05:00.000000+00:00", **more}


def cells(text: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in text.splitlines()]


def test_every_row_with_its_numbers_as_stored_and_its_p95_against_the_baseline():
    rows = [stored("search", "/q", 52.346, verdict="fail", client_saturated=True), stored("auth", "/login", 10.0)]
    text = run_table(rows, {"search/q": [40.0, 50.0, 45.0, 41.0, 60.0, 44.0]})
    header, rule, auth, search = cells(text)

    assert header == ["service", "endpoint", "p50 ms", "p95 ms", "p99 ms", "rps", "errors", "verdict",
                      "saturated", "baseline p95", "p95 vs baseline"]
    assert set("".join(rule)) == {"-"}
    assert auth == ["auth", "/login", "5.00", "10.00", "15.00", "123.5", "1.25%", "pass", "no", "n/a (0 runs)", "n/a"]
    # p95 rounded as DECIMAL(10,2) stores it; baseline = median of the 6 earlier p95s = 44.5
    assert search[:9] == ["search", "/q", "26.17", "52.35", "78.52", "123.5", "1.25%", "fail", "yes"]
    assert search[9:] == ["44.50 ms (6 runs)", "+7.85 ms (+17.6%)"]


def test_the_rows_of_several_runs_say_which_run_they_belong_to():
    rows = [stored("a", "/x", 5.0, id="1", run_id="scheduled__b", measured_at="2026-03-09T02:05:00+00:00"),
            stored("a", "/x", 6.0, id="2", run_id="scheduled__a", measured_at="2026-03-08T02:05:00+00:00")]
    header, _, first, second = cells(run_table(rows, {}, with_run=True))
    assert header[:4] == ["service", "endpoint", "run", "p50 ms"]
    assert [first[2:4], second[2:4]] == [["scheduled__a", "3.00"], ["scheduled__b", "2.50"]], "oldest first"


def test_a_short_history_says_how_many_runs_there_are():
    [_, _, line] = cells(run_table([stored("a", "/x", 5.0)], {"a/x": [4.0, 4.0, 4.0]}))
    assert line[-2:] == ["n/a (3 runs)", "n/a"]


def test_columns_are_aligned_and_numbers_right_justified():
    lines = run_table([stored("a", "/x", 5.0), stored("a-long-service", "/y", 12345.5)], {}).splitlines()
    p95_end = lines[0].index("p95 ms") + len("p95 ms")
    assert [line[:p95_end].rstrip()[-8:].strip() for line in lines[2:]] == ["5.00", "12345.50"]


def test_control_characters_in_names_never_break_a_line():
    text = run_table([stored("evil\nservice", "/x\x1b[31m", 5.0)], {})
    assert len(text.splitlines()) == 3
    assert "evil\\nservice" in text and "/x\\x1b[31m" in text and "\x1b" not in text
    assert printable("ünïcode /ok") == "ünïcode /ok"


def test_the_heading_says_measured_or_re_derived():
    identity = {"run_id": "backfill__2026-03-09", "tenant_id": "team-a"}
    assert run_heading(identity, "measure", 3, ["backfill__2026-03-09"]).endswith("3 endpoints, measured")
    rederived = run_heading(identity, "rederive", 2, ["scheduled__a", "scheduled__b"])
    assert "re-derived (backfill)" in rederived and "scheduled__a, scheduled__b" in rederived
    assert "(tenant team-a)" in rederived


def test_trend_table_shows_baseline_and_seven_days_earlier():
    history = [100.0, 101.0, 99.0, 100.0, 102.0]
    judged = [(stored("search", "/q", 180.0), history, (98.0, "2026-03-02T02:05:00.000000+00:00"), True),
              (stored("auth", "/login", 10.0), [], None, False)]
    header, _, search, auth = cells(trend_table(judged))
    assert header == ["service", "endpoint", "run", "p95 ms", "baseline p95", "p95 vs baseline",
                      "p95 7 d earlier", "p95 vs 7 d earlier", "regression"]
    assert search == ["search", "/q", "scheduled__2026-03-09T02:00:00+00:00", "180.00", "100.00 ms (5 runs)",
                      "+80.00 ms (+80.0%)", "98.00 ms (2026-03-02)", "+82.00 ms (+83.7%)", "REGRESSION"]
    assert auth[4:] == ["n/a (0 runs)", "n/a", "n/a (no run)", "n/a", "no"]
