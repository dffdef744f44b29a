"""The Performance view's reads on real PostgreSQL and SQLite databases with seeded rows (with real
HDR histograms): overview numbers, worst-first order, 7 days earlier, baseline, open regression,
the window and DAG filters, a run's rows, one histogram, and "no data" before the migrations ran."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from metrics_rows import query
from perf_profiler.analysis import trends
from perf_profiler.model.identity import make_row_id
from perf_profiler.storage import dashboard_repo as repo
from perf_profiler.storage.metrics_repo import fetch_metrics, upsert_metrics
from perf_profiler.storage.trends_repo import open_trends
from trend_rows import row_with_p95

NOW = datetime.now(timezone.utc).replace(microsecond=0)
DAG = "perf_profiler"
READABLE = frozenset({DAG})


def seeded(p95_ms: float, days_ago: float, endpoint: str = "/healthz", **key: Any) -> dict[str, Any]:
    """A stored-shape row of a run ``days_ago`` before now whose p95 is about ``p95_ms``."""
    row = row_with_p95(p95_ms, NOW - timedelta(days=days_ago), endpoint)
    row.update(key)
    row["id"] = make_row_id(row["tenant_id"], row["dag_id"], row["run_id"], row["service"], row["endpoint"])
    return row


def history(endpoint: str, p95s: Sequence[float], **key: Any) -> list[dict[str, Any]]:
    """One run a day, the last of ``p95s`` measured now (oldest first)."""
    last = len(p95s) - 1
    return [seeded(p95, last - i, endpoint, **key) for i, p95 in enumerate(p95s)]


@pytest.fixture
def seeded_db(migrated: Any) -> dict[str, Any]:
    """Three endpoints of tenant ``default`` + one of tenant ``acme`` + one of an unreadable DAG."""
    healthz = history("/healthz", [100 + (i % 3) for i in range(24)] + [300])  # 25 runs, the last regressed
    search = history("/search", [650.0] * 10)  # passes with little headroom
    upload = history("/upload", [900.0] * 3)  # fails its budget (800 ms)
    acme = history("/healthz", [50.0] * 2, tenant_id="acme")
    secret = history("/healthz", [10.0] * 3, dag_id="secret_dag")
    upsert_metrics(migrated, healthz + search + upload + acme + secret)
    stored = {(r["tenant_id"], r["dag_id"], r["endpoint"], r["run_id"]): r for r in fetch_metrics(migrated)}
    with open_trends(migrated) as trends_repo:
        trends_repo.record_regression(healthz[-1], trends.Baseline(101, 1, 111, 20))
    return {"hook": migrated, "stored": stored, "healthz": healthz, "secret": secret}


def stored_of(db: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    return db["stored"][(row["tenant_id"], row["dag_id"], row["endpoint"], row["run_id"])]


def test_before_the_migrations_every_read_says_no_data(hook):
    assert repo.tenants(hook, READABLE) == []
    assert repo.overview(hook, "default", READABLE) == []
    series = repo.endpoint_series(hook, tenant="default", dag_id=DAG, service="registry", endpoint="/healthz",
                                  since=None, dag_ids=READABLE)
    assert series.points == [] and series.regressions == [] and series.budget_p95_ms is None
    assert repo.run_rows(hook, dag_id=DAG, run_id="manual__x", dag_ids=READABLE) == []
    assert repo.latency_histogram(hook, tenant="default", dag_id=DAG, service="registry", endpoint="/healthz",
                                  run_id="manual__x", dag_ids=READABLE) is None


def test_a_migrated_empty_database_has_no_data_either(migrated):
    assert repo.tenants(migrated, READABLE) == []
    assert repo.overview(migrated, "default", READABLE) == []


def test_the_overview_numbers_are_the_stored_ones_worst_first(seeded_db):
    rows = repo.overview(seeded_db["hook"], "default", READABLE)

    assert [r["endpoint"] for r in rows] == ["/upload", "/search", "/healthz"], "fail first, then least headroom"
    latest = {r["endpoint"]: r for r in rows}
    healthz = latest["/healthz"]
    stored = stored_of(seeded_db, seeded_db["healthz"][-1])
    for column in ("run_id", "measured_at", "p50_ms", "p95_ms", "p99_ms", "throughput", "error_rate", "verdict",
                   "budget_p95_ms", "method", "dag_id", "service"):
        assert healthz[column] == stored[column], column
    assert healthz["headroom_ms"] == pytest.approx(stored["budget_p95_ms"] - stored["p95_ms"])
    assert healthz["headroom_pct"] == pytest.approx(100 * healthz["headroom_ms"] / stored["budget_p95_ms"], abs=0.01)
    assert latest["/upload"]["verdict"] == "fail" and latest["/upload"]["headroom_ms"] < 0


def test_seven_days_earlier_is_the_latest_run_at_least_a_week_before(seeded_db):
    healthz = next(r for r in repo.overview(seeded_db["hook"], "default", READABLE) if r["endpoint"] == "/healthz")
    week_ago = stored_of(seeded_db, seeded_db["healthz"][-8])  # one run a day: 7 runs back
    assert healthz["p95_7d_ago_ms"] == week_ago["p95_ms"]
    expected = 100 * (healthz["p95_ms"] - week_ago["p95_ms"]) / week_ago["p95_ms"]
    assert healthz["p95_change_7d_pct"] == pytest.approx(expected, abs=0.01)
    upload = next(r for r in repo.overview(seeded_db["hook"], "default", READABLE) if r["endpoint"] == "/upload")
    assert upload["p95_7d_ago_ms"] is None and upload["p95_change_7d_pct"] is None  # 3 runs, 2 days of history


def test_the_baseline_is_the_trends_baseline_of_the_previous_runs(seeded_db):
    rows = {r["endpoint"]: r for r in repo.overview(seeded_db["hook"], "default", READABLE)}
    previous = [stored_of(seeded_db, row)["p95_ms"] for row in seeded_db["healthz"][:-1]][-trends.WINDOW:]
    base = trends.baseline(previous)
    assert base is not None and rows["/healthz"]["baseline_p95_ms"] == pytest.approx(base.median_ms)
    assert rows["/upload"]["baseline_p95_ms"] is None  # 2 previous runs: too short a history


def test_an_open_regression_and_the_trend_of_the_last_30_runs(seeded_db):
    rows = {r["endpoint"]: r for r in repo.overview(seeded_db["hook"], "default", READABLE)}
    assert rows["/healthz"]["open_regression"] is True and rows["/search"]["open_regression"] is False
    trend = rows["/healthz"]["trend"]
    expected = [stored_of(seeded_db, row) for row in seeded_db["healthz"]]
    assert [(p["measured_at"], p["p95_ms"]) for p in trend] == [(r["measured_at"], r["p95_ms"]) for r in expected]
    assert len(rows["/search"]["trend"]) == 10


def test_more_runs_than_the_trend_keeps_the_latest_30(migrated):
    upsert_metrics(migrated, history("/healthz", [100.0 + i for i in range(40)]))
    (row,) = repo.overview(migrated, "default", READABLE)
    assert len(row["trend"]) == repo.RECENT_RUNS == 30
    assert row["trend"][-1]["measured_at"] == row["measured_at"]
    assert row["trend"][0]["p95_ms"] < row["trend"][-1]["p95_ms"]


def test_the_tenant_filters_the_overview_and_tenants_are_those_with_readable_rows(seeded_db):
    hook = seeded_db["hook"]
    acme = repo.overview(hook, "acme", READABLE)
    assert [(r["endpoint"], len(r["trend"])) for r in acme] == [("/healthz", 2)]
    assert repo.tenants(hook, READABLE) == ["acme", "default"]
    assert repo.tenants(hook, frozenset({"secret_dag"})) == ["default"]
    assert repo.tenants(hook, frozenset()) == []


def test_rows_of_an_unreadable_dag_are_never_returned(seeded_db):
    hook, secret = seeded_db["hook"], seeded_db["secret"][-1]
    assert all(r["dag_id"] == DAG for r in repo.overview(hook, "default", READABLE))
    assert repo.run_rows(hook, dag_id="secret_dag", run_id=secret["run_id"], dag_ids=READABLE) == []
    assert repo.endpoint_series(hook, tenant="default", dag_id="secret_dag", service="registry",
                                endpoint="/healthz", since=None, dag_ids=READABLE).points == []
    assert repo.latency_histogram(hook, tenant="default", dag_id="secret_dag", service="registry",
                                  endpoint="/healthz", run_id=secret["run_id"], dag_ids=READABLE) is None
    everything = READABLE | {"secret_dag"}
    assert {r["dag_id"] for r in repo.overview(hook, "default", everything)} == {DAG, "secret_dag"}
    assert len(repo.run_rows(hook, dag_id="secret_dag", run_id=secret["run_id"], dag_ids=everything)) == 1


def test_an_endpoint_series_is_its_window_oldest_first_with_its_regressions(seeded_db):
    hook = seeded_db["hook"]

    def series(days: float | None) -> repo.EndpointSeries:
        since = None if days is None else NOW - timedelta(days=days)
        return repo.endpoint_series(hook, tenant="default", dag_id=DAG, service="registry", endpoint="/healthz",
                                    since=since, dag_ids=READABLE)

    week, everything = series(6.5), series(None)
    assert len(week.points) == 7 and len(everything.points) == 25
    assert [p["measured_at"] for p in everything.points] == sorted(p["measured_at"] for p in everything.points)
    last = stored_of(seeded_db, seeded_db["healthz"][-1])
    assert everything.points[-1] == {
        "run_id": last["run_id"], "measured_at": last["measured_at"], "p50_ms": last["p50_ms"],
        "p95_ms": last["p95_ms"], "p99_ms": last["p99_ms"], "throughput": last["throughput"],
        "error_rate": last["error_rate"], "verdict": last["verdict"], "origin": "measured", "rederived_at": None,
        "budget_p95_ms": last["budget_p95_ms"], "has_histogram": True, "regression": True,
    }
    assert everything.regressions == [{"run_id": last["run_id"], "measured_at": last["measured_at"],
                                       "p95_ms": last["p95_ms"], "baseline_p95_ms": 101.0, "threshold_ms": 111.0}]
    assert week.budget_p95_ms == last["budget_p95_ms"]
    assert sum(p["regression"] for p in everything.points) == 1


def test_a_rederived_point_is_marked(migrated):
    measured = history("/healthz", [100.0] * 3)
    measured[0].update(origin="rederived", rederived_at=NOW.isoformat())
    upsert_metrics(migrated, measured)
    points = repo.endpoint_series(migrated, tenant="default", dag_id=DAG, service="registry", endpoint="/healthz",
                                  since=None, dag_ids=READABLE).points
    assert [p["origin"] for p in points] == ["rederived", "measured", "measured"]
    assert points[0]["rederived_at"] is not None and points[1]["rederived_at"] is None


def test_a_runs_rows_and_one_stored_histogram(seeded_db):
    hook, row = seeded_db["hook"], seeded_db["healthz"][-1]
    rows = repo.run_rows(hook, dag_id=DAG, run_id=row["run_id"], dag_ids=READABLE)
    stored = stored_of(seeded_db, row)
    # every history's last run is the run measured now: every tenant's rows, not the other DAG's
    assert [(r["tenant_id"], r["endpoint"]) for r in rows] == [
        ("acme", "/healthz"), ("default", "/healthz"), ("default", "/search"), ("default", "/upload")]
    assert (rows[1]["p95_ms"], rows[1]["origin"], rows[1]["verdict"]) == (stored["p95_ms"], "measured", "pass")
    assert isinstance(rows[0]["client_saturated"], bool)

    def histogram() -> repo.StoredHistogram | None:
        return repo.latency_histogram(hook, tenant="default", dag_id=DAG, service="registry", endpoint="/healthz",
                                      run_id=row["run_id"], dag_ids=READABLE)

    found = histogram()
    assert found is not None and found.latency_hist == stored["latency_hist"]
    assert found.measured_at == stored["measured_at"]
    query_hook_update(hook, "UPDATE perf_metrics SET latency_hist = NULL WHERE id = {m}", (row["id"],))
    gone = histogram()
    assert gone is not None and gone.latency_hist is None  # retention pruned it: the row is still there


def test_the_reads_use_the_dashboard_index(seeded_db):
    """The 008 indexes exist on both dialects (their use at scale is measured in ``make bench``)."""
    hook = seeded_db["hook"]
    if hook.placeholder == "?":
        names = {r[0] for r in query(hook, "SELECT name FROM sqlite_master WHERE type = 'index'")}
    else:
        names = {r[0] for r in query(hook, "SELECT indexname FROM pg_indexes WHERE tablename = 'perf_metrics'")}
    assert {"ix_perf_metrics_dashboard", "ix_perf_metrics_run"} <= names


def query_hook_update(hook: Any, sql: str, params: tuple[Any, ...]) -> None:
    conn = hook.get_conn()
    try:
        conn.cursor().execute(sql.format(m=hook.placeholder), params)
        conn.commit()
    finally:
        conn.close()
