"""The Performance view as a user sees it: a real Airflow API server, real Chromium, a non-admin user.

One story, in the order a user clicks: log in through Airflow's login page as ``viewer`` (role
viewer: may read DAGs), open "Performance" from the UI's navigation, read the overview, open an
endpoint with 24 stored runs (one a recorded regression, one re-derived by a backfill), show one
run's latency distribution and overlay another, then open a DAG run's "Performance" tab. At each
step the numbers on the page are compared with the numbers in the database (and the distribution
with the stored HDR histogram), and a screenshot is saved to test-artifacts/.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from perf_profiler.analysis import trends
from perf_profiler.analysis.histogram import decode

from .conftest import Deployment
from .seed import DAG_ID, ENDPOINTS, HIDDEN_DAG_ID, REDERIVED_DAYS_AGO, REGRESSED

NUMBER_COLUMNS = ("p50_ms", "p95_ms", "p99_ms", "throughput")  # shown with two decimals


def login(page: Any, user: str, password: str) -> None:
    """Sign in through Airflow's own login page (the simple auth manager's form)."""
    page.goto("/")
    page.wait_for_url(re.compile(r"/auth/login"))
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)


def perf_frame(page: Any, path: str) -> Any:
    """The Performance app's iframe inside the Airflow UI, once it shows ``path``."""
    page.wait_for_function(
        """path => [...document.querySelectorAll('iframe')].some(f => {
               try {  // another origin's frame would throw: it is not ours anyway
                   return f.contentWindow.location.pathname === path && f.contentDocument.readyState === 'complete';
               } catch (error) { return false; }
           })""",
        arg=path,
    )
    return next(frame for frame in page.frames if urlparse(frame.url).path == path)


def table_rows(frame: Any, table_id: str) -> list[dict[str, Any]]:
    """Each body row of a table: its data-* attributes, and per cell data-col -> (data-value, text)."""
    return frame.evaluate(
        """id => [...document.querySelectorAll(`#${id} tbody tr`)].map(tr => ({
              attrs: Object.assign({}, tr.dataset), cls: tr.className,
              cells: Object.fromEntries([...tr.querySelectorAll('td[data-col]')].map(
                  td => [td.dataset.col, [td.dataset.value, td.textContent.trim()]]))}))""",
        table_id,
    )


def assert_numbers_match(cells: Mapping[str, tuple[str, str]], stored: Mapping[str, Any], where: str) -> None:
    """Exact values (data-value) and the shown texts equal the database's numbers."""
    for column in NUMBER_COLUMNS:
        value, text = cells[column]
        assert float(value) == float(stored[column]), f"{where} {column}: page {value} != db {stored[column]}"
        assert text == f"{float(stored[column]):,.2f}", f"{where} {column}: shown {text!r}"
    if "budget_p95_ms" in cells:
        assert float(cells["budget_p95_ms"][0]) == float(stored["budget_p95_ms"]), f"{where} budget"
    value, text = cells["error_rate"]
    assert float(value) == float(stored["error_rate"]), f"{where} error_rate"
    assert text == f"{float(stored['error_rate']) * 100:,.2f} %", f"{where} error_rate shown {text!r}"
    assert cells["verdict"][0] == stored["verdict"], f"{where} verdict"


def test_a_viewer_reads_the_performance_view(page: Any, deployment: Deployment, artifacts: Path) -> None:
    db = deployment.metrics
    stored = db.rows("dag_id = %s", (DAG_ID,))
    latest = {(r["service"], r["endpoint"]): r for r in stored if r["run_id"] == deployment.run_id}
    regression_ids = {r["metric_id"] for r in db.query("SELECT metric_id::text FROM perf_regressions")}

    login(page, "viewer", deployment.passwords["viewer"])

    # ------------------------------------------------------------------ overview, from the navigation
    page.get_by_role("link", name="Performance").first.click()
    page.wait_for_url(re.compile(r"/plugin/performance$"))
    frame = perf_frame(page, "/perf-profiler/")
    frame.wait_for_selector("#overview-table")
    rows = table_rows(frame, "overview-table")
    keys = [(r["attrs"]["service"], r["attrs"]["endpoint"]) for r in rows]
    assert sorted(keys) == sorted((e.service, e.endpoint) for e in ENDPOINTS)  # not the hidden DAG's row
    assert HIDDEN_DAG_ID not in frame.content()
    for row in rows:
        key = (row["attrs"]["service"], row["attrs"]["endpoint"])
        assert row["attrs"]["runId"] == deployment.run_id
        assert_numbers_match(row["cells"], latest[key], f"overview {key}")
        is_open = str(latest[key]["id"]) in regression_ids
        assert row["cells"]["open_regression"][0] == ("true" if is_open else "false")
        assert ("regression" in row["cls"].split()) is is_open
        assert float(row["cells"]["headroom_ms"][0]) == pytest.approx(
            float(latest[key]["budget_p95_ms"]) - float(latest[key]["p95_ms"]), abs=1e-9)
        runs = sorted((r for r in stored if (r["service"], r["endpoint"]) == key), key=lambda r: r["measured_at"])
        base = trends.baseline([float(r["p95_ms"]) for r in runs[:-1]][-trends.WINDOW:])
        assert base is not None and float(row["cells"]["baseline_p95_ms"][0]) == pytest.approx(base.median_ms)
    assert [k for k, r in zip(keys, rows, strict=True) if "regression" in r["cls"]] == [REGRESSED]
    # worst first: failing rows before passing ones, then the least headroom
    order = sorted(latest, key=lambda k: (latest[k]["verdict"] != "fail",
                                          float(latest[k]["budget_p95_ms"]) - float(latest[k]["p95_ms"])))
    assert keys == order
    frame.wait_for_selector("body[data-sparklines='drawn']")
    assert frame.eval_on_selector_all(".spark", "els => els.map(e => e.dataset.drawn)") == ["24"] * len(rows)
    page.screenshot(path=str(artifacts / "performance-overview.png"))

    # ------------------------------------------------------------------ one endpoint's 24 runs
    endpoint = REGRESSED[1]
    frame.locator(f"#overview-table tr[data-endpoint='{endpoint}'] a.endpoint-link").click()
    frame = perf_frame(page, "/perf-profiler/endpoint")
    frame.wait_for_selector("body[data-series='24']")
    history = {r["run_id"]: r for r in stored if (r["service"], r["endpoint"]) == REGRESSED}
    points = table_rows(frame, "points-table")
    assert len(points) == len(history) == 24
    for point in points:
        run_id = point["attrs"]["runId"]
        assert_numbers_match(point["cells"], history[run_id], f"endpoint run {run_id}")
        assert point["attrs"]["origin"] == history[run_id]["origin"]
        assert point["attrs"]["regression"] == ("true" if str(history[run_id]["id"]) in regression_ids else "false")
    rederived = [run_id for run_id, r in history.items() if r["origin"] == "rederived"]
    assert len(rederived) == 1 and rederived[0].startswith("scheduled__")
    chart = frame.evaluate("""() => Object.fromEntries(document.getElementById('latency-chart').data.map(
                                 t => [t.name, {y: t.y, runs: t.customdata}]))""")
    in_order = sorted(history.values(), key=lambda r: r["measured_at"])
    assert chart["p95"]["y"] == [float(r["p95_ms"]) for r in in_order]
    assert chart["regression"]["runs"] == [deployment.run_id]
    assert chart["re-derived (backfill)"]["runs"] == rederived
    assert chart["budget (p95)"]["y"] == [800.0, 800.0]
    frame.wait_for_selector("#distribution-table tbody tr[data-role='primary']")  # the latest run's, on load
    page.mouse.move(0, 0)  # no hover toolbar in the picture
    page.screenshot(path=str(artifacts / "performance-endpoint.png"))

    # ------------------------------------------------------------------ a run's distribution, and an overlay
    compared = in_order[-8]["run_id"]  # the run measured a week before
    assert in_order[-8]["origin"] == "measured" and REDERIVED_DAYS_AGO != 7
    frame.locator(f"#points-table button[data-action='show'][data-run-id='{deployment.run_id}']").click()
    frame.wait_for_selector("#distribution-table tbody tr[data-role='primary']")
    frame.locator(f"#points-table button[data-action='compare'][data-run-id='{compared}']").click()
    frame.wait_for_selector("#distribution-table tbody tr[data-role='compare']")
    traces = frame.evaluate("""() => document.getElementById('distribution-chart').data.map(
                                  t => ({name: t.name, x: t.x, y: t.y, q: t.customdata}))""")
    assert [t["name"] for t in traces] == [deployment.run_id, compared]
    summary = {r["attrs"]["runId"]: r["cells"] for r in table_rows(frame, "distribution-table")}
    for trace in traces:
        h = decode(history[trace["name"]]["latency_hist"])
        # hdrh's own percentile iteration (HdrHistogram's plotter input), read straight from the stored histogram
        expected = [(step.value_iterated_to / 1000.0, step.percentile_level_iterated_to)
                    for step in h.get_percentile_iterator(5)]
        assert trace["y"] == [value for value, _ in expected]
        assert trace["q"] == [level for _, level in expected]
        assert trace["x"][:-1] == pytest.approx([1 / (1 - q / 100) for q in trace["q"][:-1]])
        assert float(summary[trace["name"]]["max_ms"][0]) == expected[-1][0]  # the 100 % point: the maximum
        stored_count = history[trace["name"]]["ok_count"]
        assert int(summary[trace["name"]]["total_count"][0]) == h.get_total_count() == stored_count
    ticks = frame.evaluate("() => document.getElementById('distribution-chart').layout.xaxis.ticktext")
    assert ticks[:4] == ["0%", "90%", "99%", "99.9%"]
    frame.evaluate("() => document.getElementById('distribution-section').scrollIntoView()")
    page.mouse.move(0, 0)
    page.screenshot(path=str(artifacts / "performance-distribution.png"))

    # ------------------------------------------------------------------ the DAG run's Performance tab
    page.goto(f"/dags/{DAG_ID}/runs/{deployment.run_id}")
    page.locator("a[href$='/plugin/performance-run']").first.click()  # the run's "Performance" tab
    page.wait_for_url(re.compile(r"/runs/.+/plugin/performance-run$"))
    frame = perf_frame(page, "/perf-profiler/run")
    frame.wait_for_selector("#run-table")
    run_rows = table_rows(frame, "run-table")
    assert sorted((r["attrs"]["service"], r["attrs"]["endpoint"]) for r in run_rows) == sorted(latest)
    for row in run_rows:
        key = (row["attrs"]["service"], row["attrs"]["endpoint"])
        assert_numbers_match(row["cells"], latest[key], f"run {key}")
    assert HIDDEN_DAG_ID not in frame.content() and "/internal" not in frame.content()
    page.screenshot(path=str(artifacts / "performance-run.png"))


def test_pages_need_a_login_and_say_no_data_yet_where_there_is_none(page: Any, deployment: Deployment) -> None:
    """Anonymous: refused, never a page. Signed in: a tenant or endpoint without runs says so (HTTP 200)."""
    for path in ("/perf-profiler/", "/perf-profiler/static/endpoint.js", "/perf-profiler/static/vendor/plotly.min.js"):
        assert page.request.get(path).status in (401, 403), path
    login(page, "viewer", deployment.passwords["viewer"])
    for path in ("/perf-profiler/?tenant=nobody",
                 f"/perf-profiler/endpoint?dag_id={DAG_ID}&service=registry&endpoint=/nothing&window=7d",
                 f"/perf-profiler/run?dag_id={HIDDEN_DAG_ID}&run_id={deployment.run_id}"):
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        assert page.locator("#no-data").inner_text().startswith("No data yet"), path
