"""The numbers in the task logs of a real ``dag.test()`` run (issue 11, part 1).

``store`` logs one table per run with every endpoint's p95 exactly as stored in perf_metrics and
its change against the baseline of the endpoint's previous runs; ``benchmark`` logs each
endpoint's percentiles and no dump of its encoded result.
"""
from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timedelta, timezone

import pytest

from dag_runs import config, metrics_hook, perf_dag, run_dag, service, stored_rows, task_states
from fake_insight import FakeInsight
from servers import BenchServer
from trend_rows import row_with_p95

HEADING = "perf_profiler results of run "


def task_log_text(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> str:
    """Everything the tasks of ``dag.test()`` logged: the records that reached ``caplog``, then
    the console (Airflow's structlog writes some or all of them there, depending on its setup)."""
    out, err = capfd.readouterr()
    return "\n".join([*(record.getMessage() for record in caplog.records), out, err])


def run_table_of(logs: str) -> tuple[str, list[dict[str, str]]]:
    """The heading and the rows (title → cell) of the one run table logged by ``store``.

    The console renderer appends `` [logger] loc=...`` to the message's last line: cut off.
    """
    lines = logs.splitlines()
    start = next(i for i, line in enumerate(lines) if HEADING in line)
    count = re.search(r": (\d+) endpoints", lines[start])
    assert count is not None
    endpoints = int(count.group(1))
    block = [re.sub(r"\s+\[perf_profiler\.tasks\.persist\].*$", "", line)
             for line in lines[start:start + 3 + endpoints]]
    heading, header, rule, *body = block
    titles = re.split(r"\s{2,}", header.strip())
    assert set(rule.replace(" ", "")) == {"-"}
    return heading, [dict(zip(titles, re.split(r"\s{2,}", line.strip()), strict=True)) for line in body]


def seed_history(p95s: list[float]) -> None:
    """Earlier runs of service ``registry`` endpoint ``/ok`` (default tenant) with these p95s."""
    from perf_profiler.storage.metrics_repo import upsert_metrics
    from perf_profiler.storage.migrations import migrate

    hook = metrics_hook()
    migrate(hook)
    start = datetime(2026, 3, 1, 2, tzinfo=timezone.utc)
    upsert_metrics(hook, [row_with_p95(p95, start + timedelta(days=i), "/ok") for i, p95 in enumerate(p95s)])


def test_a_dag_run_logs_every_endpoints_stored_p95_and_benchmark_percentiles(
    metrics_db: str, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    dag = perf_dag()
    seed_history([40.0, 42.0, 44.0, 46.0, 48.0, 50.0])  # median 45: a baseline for registry /ok
    with BenchServer() as fast, BenchServer() as slow, FakeInsight() as insight:
        monkeypatch.setenv("AIRFLOW_CONN_INSIGHT_ENGINE", insight.url)
        monkeypatch.setenv("AIRFLOW_VAR_PERF_PROFILER_TARGETS", json.dumps(config([
            service("registry", fast.url, "/ok", "/flaky/5"),
            service("search", slow.url, "/delay/30", budget={"p95_ms": 10}),
        ], requests=20)))
        dag_run = run_dag(dag, datetime(2026, 9, 1, tzinfo=timezone.utc))
    assert dag_run.state == "success", task_states(dag_run)

    rows = {(r["service"], r["endpoint"]): r for r in stored_rows(run_id=dag_run.run_id)}
    logs = task_log_text(capfd, caplog)
    heading, table = run_table_of(logs)
    assert dag_run.run_id in heading and "3 endpoints, measured" in heading
    assert [(line["service"], line["endpoint"]) for line in table] == sorted(rows), "passing endpoints too"
    for line in table:
        row = rows[line["service"], line["endpoint"]]
        for title, name in (("p50 ms", "p50_ms"), ("p95 ms", "p95_ms"), ("p99 ms", "p99_ms")):
            assert line[title] == f"{row[name]:.2f}", (title, line)
        assert line["verdict"] == row["verdict"]
        assert line["errors"] == f"{row['error_rate']:.2%}"
        assert line["rps"] == f"{row['throughput']:.1f}"
        assert line["saturated"] == ("yes" if row["client_saturated"] else "no")
    by_key = {(line["service"], line["endpoint"]): line for line in table}
    assert by_key["search", "/delay/30"]["verdict"] == "fail"
    assert by_key["registry", "/flaky/5"]["baseline p95"] == "n/a (0 runs)"
    history = sorted(r["p95_ms"] for r in stored_rows() if r["endpoint"] == "/ok" and r["run_id"] != dag_run.run_id)
    median = (history[2] + history[3]) / 2
    assert by_key["registry", "/ok"]["baseline p95"] == f"{median:.2f} ms (6 runs)"
    p95 = rows["registry", "/ok"]["p95_ms"]
    assert by_key["registry", "/ok"]["p95 vs baseline"].startswith(f"{p95 - median:+.2f} ms (")

    messages = [re.sub(r"^\S+ \[\w+\s*\] ", "", line) for line in logs.splitlines()]  # timestamp, level
    for (name, endpoint), row in rows.items():
        logged = next(m for m in messages if m.startswith(f"{name} GET {endpoint}: p50 "))
        logged_p95 = re.search(r" p95 ([0-9.]+) ms ", logged)
        assert logged_p95 is not None and float(logged_p95.group(1)) == pytest.approx(row["p95_ms"], abs=0.011)
        assert f"{row['requests']} requests" in logged
        assert f"{row['error_count']} errors" in logged and "req/s" in logged
    returned = [m for m in messages if "Returned value was" in m]
    assert returned, "Airflow's return-value line of the other tasks was captured"
    assert not [m for m in returned if "latency_hist" in m or "source_run_ids" in m], \
        "benchmark and store do not dump their results"

