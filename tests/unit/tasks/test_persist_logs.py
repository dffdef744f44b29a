"""The run table ``store`` logs, on real databases: a measured run, then the backfill that re-derives
it (marked as such), with the p95 of every row as stored; a failed history read costs only the
baseline column."""
from __future__ import annotations

import json
import logging
import re

import pytest

from perf_profiler.model.identity import RunIdentity
from perf_profiler.storage.dialect import get_hook
from perf_profiler.storage.metrics_repo import fetch_metrics
from perf_profiler.storage.migrations import migrate
from perf_profiler.tasks import measure, persist, plan
from servers import BenchServer

SCHEDULED = RunIdentity(dag_id="perf_profiler", run_id="scheduled__2026-03-02T02:00:00+00:00", run_type="scheduled",
                        data_interval_start="2026-03-01T02:00:00+00:00", data_interval_end="2026-03-02T02:00:00+00:00")
BACKFILL = RunIdentity(dag_id="perf_profiler", run_id="backfill__2026-03-02T02:00:00+00:00", run_type="backfill",
                       data_interval_start=SCHEDULED.data_interval_start, data_interval_end=SCHEDULED.data_interval_end)


@pytest.fixture
def hook(metrics_db):
    """Set up before the test body (Airflow configures logging on its first connection lookup)."""
    db = get_hook("perf_metrics_db")
    migrate(db)
    return db


def targets(url: str) -> str:
    return json.dumps({"services": [{"name": "svc", "base_url": url, "endpoints": [{"path": "/delay/3"},
                                                                                    {"path": "/ok"}],
                                     "load": {"requests": 10, "concurrency": 2, "warmup": 0}}]})


def logged_tables(caplog: pytest.LogCaptureFixture) -> list[tuple[str, dict[str, dict[str, str]]]]:
    """(heading, endpoint → title → cell) of every run table logged so far."""
    found = []
    for record in caplog.records:
        heading, *rest = record.getMessage().split("\n")
        if heading.startswith("perf_profiler results of run "):
            header, _, *body = rest
            titles = re.split(r"\s{2,}", header.strip())
            lines = [dict(zip(titles, re.split(r"\s{2,}", line.strip()), strict=True)) for line in body]
            found.append((heading, {line["endpoint"]: line for line in lines}))
    return found


def test_measured_then_re_derived_runs_each_log_their_table(hook, caplog):
    caplog.set_level(logging.INFO, logger=persist.__name__)
    with BenchServer() as server:
        measured = plan.load_targets(targets(server.url))
        persist.store_metrics([measure.benchmark(measured["to_probe"][0])], measured, SCHEDULED)
        backfill = plan.load_targets(targets(server.url), {}, {}, "backfill")
        persist.store_metrics([], backfill, BACKFILL)

    stored = {r["endpoint"]: r for r in fetch_metrics(hook)}
    [(first, measured_lines), (second, rederived_lines)] = logged_tables(caplog)
    assert first.endswith("(tenant default): 2 endpoints, measured")
    assert second.endswith(f"2 endpoints, re-derived (backfill) from the stored histograms of {SCHEDULED.run_id}")
    for lines in (measured_lines, rederived_lines):
        assert sorted(lines) == ["/delay/3", "/ok"]
        for endpoint, line in lines.items():
            assert line["p95 ms"] == f"{stored[endpoint]['p95_ms']:.2f}"
            assert line["verdict"] == stored[endpoint]["verdict"]
            assert line["baseline p95"] == "n/a (0 runs)"


def test_a_failed_history_read_leaves_the_baseline_out_and_warns(hook, monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("AIRFLOW_CONN_EMPTY_DB", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "e.db")}))
    caplog.set_level(logging.INFO, logger=persist.__name__)
    row = {"id": "x", "tenant_id": "default", "dag_id": "perf_profiler", "service": "svc", "endpoint": "/ok",
           "measured_at": "2026-03-02T02:00:00+00:00"}
    assert persist.p95_histories(get_hook("empty_db"), [row]) == {}, "no perf_metrics table there"
    assert "could not read the p95 history" in caplog.text
