"""``perf-profiler regressions list|ack`` on real PostgreSQL and SQLite (issue 15)."""
from __future__ import annotations

from changepoint_rows import nights
from perf_profiler.cli.main import main
from perf_profiler.storage.dialect import get_hook
from perf_profiler.storage.metrics_repo import upsert_metrics
from perf_profiler.storage.migrations import migrate
from perf_profiler.tasks import changepoints as task


def test_list_then_ack_a_confirmed_regression(metrics_db, capsys):
    hook = get_hook("perf_metrics_db")
    migrate(hook)
    history = nights([100.0] * 30 + [150.0] * 5, seed=11)
    upsert_metrics(hook, history)
    task.evaluate_changepoints(hook, history[-1:])
    first = history[30]["run_id"]

    assert main(["regressions", "list"]) == 0
    assert f"confirmed    regression  default registry /healthz p95_ms run {first}" in capsys.readouterr().out

    ack = ["regressions", "ack", "--service", "registry", "--endpoint", "/healthz", "--note", "expected", "--by", "bob"]
    assert main([*ack, "--run-id", "manual__nothing"]) == 1
    assert main([*ack, "--run-id", first]) == 0
    capsys.readouterr()
    assert main(["regressions", "list"]) == 0
    assert f"acknowledged regression  default registry /healthz p95_ms run {first}" in capsys.readouterr().out
