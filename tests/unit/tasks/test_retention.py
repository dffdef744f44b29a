"""Task ``apply_retention`` (perf_trends) on real PostgreSQL and SQLite: the [perf_profiler]
retention settings read when it runs, what it prunes and logs, idempotence, 0 = keep forever,
and a backfill over a pruned interval that skips with its log line instead of crashing."""
from __future__ import annotations

import importlib.util
import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from endpoint_summaries import encoded
from metrics_rows import make_row, query
from perf_profiler.model.identity import RunIdentity
from perf_profiler.storage import outbox_repo
from perf_profiler.storage.dialect import get_hook
from perf_profiler.storage.metrics_repo import fetch_metrics, upsert_metrics
from perf_profiler.tasks import persist, plan, retention, settings
from perf_profiler.tasks.metrics_db import migrated_hook

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
HIST_ENV = "AIRFLOW__PERF_PROFILER__HISTOGRAM_RETENTION_DAYS"
OUTBOX_ENV = "AIRFLOW__PERF_PROFILER__OUTBOX_RETENTION_DAYS"


@pytest.fixture
def hook(metrics_db):
    return migrated_hook("perf_metrics_db")


def _seed(hook) -> None:
    """Rows measured 100 and 10 days ago; outbox entries delivered 40 and 5 days ago, one pending
    and one rejected from 40 days ago."""
    upsert_metrics(hook, [make_row(run_id="old", measured_at=(NOW - timedelta(days=100)).isoformat()),
                          make_row(run_id="new", measured_at=(NOW - timedelta(days=10)).isoformat())])
    created = NOW - timedelta(days=41)
    outbox_repo.insert_entries(hook, [(k, "{}") for k in ("old-sent", "new-sent", "pending", "rejected")], created)
    with outbox_repo.open_drain(hook) as outbox:
        seq = {e.idempotency_key: e.seq for e in outbox.pending()}
        outbox.mark_delivered(seq["old-sent"], NOW - timedelta(days=40), 1, 202)
        outbox.mark_delivered(seq["new-sent"], NOW - timedelta(days=5), 1, 202)
        outbox.mark_rejected(seq["rejected"], NOW - timedelta(days=40), 1, 422, "HTTP 422")


def _state(hook) -> tuple[dict, set]:
    hists = {r["run_id"]: (r["latency_hist"], r["error_hist"], r["p95_ms"]) for r in fetch_metrics(hook)}
    return hists, {k for (k,) in query(hook, "SELECT idempotency_key FROM insight_outbox")}


def test_defaults_prune_old_histograms_and_delivered_entries_then_nothing(hook, caplog):
    _seed(hook)
    caplog.set_level(logging.INFO, logger=retention.__name__)

    first = retention.apply_retention(now=NOW)

    assert first == {"histogram_retention_days": 90, "outbox_retention_days": 30,
                     "histograms_pruned": 1, "outbox_deleted": 1}
    hists, keys = _state(hook)
    assert hists["old"] == (None, None, 45.2), "histograms dropped, p95 kept"
    assert hists["new"][0] is not None and hists["new"][1] is not None
    assert keys == {"new-sent", "pending", "rejected"}
    assert "dropped the histograms of 1 perf_metrics rows" in caplog.text
    assert "deleted 1 insight_outbox entries" in caplog.text

    second = retention.apply_retention(now=NOW)
    assert (second["histograms_pruned"], second["outbox_deleted"]) == (0, 0)
    assert _state(hook) == (hists, keys)


def test_settings_are_read_when_the_task_runs_and_zero_keeps_forever(hook, monkeypatch, caplog):
    _seed(hook)
    monkeypatch.setenv(HIST_ENV, "0")
    monkeypatch.setenv(OUTBOX_ENV, "0")
    caplog.set_level(logging.INFO, logger=retention.__name__)
    before = _state(hook)

    done = retention.apply_retention(now=NOW)

    assert (done["histograms_pruned"], done["outbox_deleted"]) == (0, 0)
    assert _state(hook) == before
    assert "histograms are kept forever" in caplog.text and "entries are kept forever" in caplog.text

    monkeypatch.setenv(HIST_ENV, "5")  # a shorter window reaches the newer row too
    monkeypatch.setenv(OUTBOX_ENV, "45")  # a longer one keeps the entry delivered 40 days ago
    done = retention.apply_retention(now=NOW)
    assert (done["histograms_pruned"], done["outbox_deleted"]) == (2, 0)


@pytest.mark.parametrize("raw", ["-1", "ninety", "1.5"])
def test_a_bad_retention_setting_fails_at_once_naming_option_and_value(monkeypatch, raw):
    from airflow.sdk.exceptions import AirflowFailException

    monkeypatch.setenv(OUTBOX_ENV, raw)
    with pytest.raises(ValueError, match=rf"outbox_retention_days must be .* got '{raw}'"):
        settings.outbox_retention_days()
    with pytest.raises(AirflowFailException, match="outbox_retention_days"):
        retention.apply_retention(now=NOW)


def _backfill(run_id: str = "backfill__x"):
    row = make_row()
    identity = RunIdentity(dag_id=row["dag_id"], run_id=run_id, run_type="backfill",
                           data_interval_start=row["data_interval_start"], data_interval_end=row["data_interval_end"])
    config = {"services": [{"name": row["service"], "base_url": "http://127.0.0.1:9",
                            "endpoints": [{"path": row["endpoint"], "budget": {"p95_ms": 1}}]}]}
    return plan.load_targets(json.dumps(config), {}, {}, "backfill"), identity


def test_backfill_over_a_pruned_interval_skips_with_a_log_line(hook, caplog):
    from airflow.sdk.exceptions import AirflowSkipException

    upsert_metrics(hook, [make_row()])  # measured 2024-12-28, far older than 90 days
    assert retention.apply_retention()["histograms_pruned"] == 1
    before = fetch_metrics(hook)
    run_plan, identity = _backfill()
    caplog.set_level(logging.WARNING, logger=persist.__name__)

    with pytest.raises(AirflowSkipException, match="dropped by retention"):
        persist.store_metrics([], run_plan, identity)

    assert "have no latency histogram" in caplog.text and "histogram_retention_days" in caplog.text
    assert fetch_metrics(get_hook("perf_metrics_db")) == before, "nothing re-judged"


def test_backfill_re_derives_the_rows_that_kept_their_histograms_only(hook, caplog):
    real = encoded([40_000] * 50)  # 40 ms: p95 above the new 1 ms budget
    upsert_metrics(hook, [make_row(latency_hist=real, error_hist=real, service_hist=None),
                          make_row(endpoint="/pruned", latency_hist=None, error_hist=None)])
    run_plan, identity = _backfill()
    caplog.set_level(logging.WARNING, logger=persist.__name__)

    stored = persist.store_metrics([], run_plan, identity)

    assert stored["rows"] == 1
    assert "1 of 2 stored rows" in caplog.text
    verdicts = {r["endpoint"]: (r["verdict"], r["budget_p95_ms"]) for r in fetch_metrics(hook)}
    assert verdicts == {"/healthz": ("fail", 1.0), "/pruned": ("pass", 800.0)}


def test_perf_trends_runs_apply_retention_after_analyse():
    path = Path(__file__).resolve().parents[3] / "dags" / "perf_trends_dag.py"
    spec = importlib.util.spec_from_file_location("perf_trends_dag_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.perf_trends()
    assert set(dag.task_ids) == {"analyse", "apply_retention", "notify_regressions"}
    assert dag.get_task("apply_retention").upstream_task_ids == {"analyse"}
    assert not dag.get_task("apply_retention").multiple_outputs
