"""Fixtures of the end-to-end suite: one real Airflow for all e2e tests.

They are package-scoped (this directory is a package): everything below starts before the first
e2e test and is stopped right after the last one, not left idling through the rest of the run.

What runs (all on 127.0.0.1, all torn down at the end, whatever happened):

* four local test services (tests/servers.py ``BenchServer``, one per configured service name,
  each counting the requests it receives) and a FakeInsight engine, in this pytest process;
* two throwaway PostgreSQL databases: Airflow's metadata DB and the ``perf_metrics_db``;
* ``airflow scheduler``, ``airflow dag-processor`` and ``airflow api-server`` (LocalExecutor) with
  a temporary AIRFLOW_HOME, this repository's dags/ and plugins/, the targets in the Variable
  ``perf_profiler_targets`` and the connections in ``AIRFLOW_CONN_*`` environment variables;
* headless Chromium (Debian's ``/usr/bin/chromium``) driven by Playwright, for the UI tests.

Screenshots go to ``test-artifacts/`` at the repository root (``PERF_PROFILER_TEST_ARTIFACTS``
overrides); after every run the components' output and the task logs are copied to
``test-artifacts/e2e-airflow-logs/``, and a failing UI test leaves ``e2e-failure-<test>.png``.
Deselect the suite with ``-m "not e2e"`` for a quick local loop (``make test`` runs everything).
"""
from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chromium import artifacts_folder, headless_chromium, page_kept_on_failure
from fake_insight import FakeInsight
from servers import BenchServer
from throwaway_pg import throwaway_databases

from .airflow_stack import REPO, AirflowStack
from .e2e_env import DAG_ID, SERVICE_PATHS, TRENDS_DAG_ID, reset_hits, targets_json
from .metrics_db import MetricsDB

ARTIFACTS = Path(os.environ.get("PERF_PROFILER_TEST_ARTIFACTS", REPO / "test-artifacts"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test under tests/e2e is marked ``e2e`` (deselect with ``-m 'not e2e'``)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: end-to-end test against a real Airflow (tests/e2e)")


# --------------------------------------------------------------------------- databases
@pytest.fixture(scope="package")
def pg_databases() -> Iterator[dict[str, str]]:
    """Two fresh databases, ``metadata`` and ``metrics``: name → libpq URI. Dropped at the end."""
    with throwaway_databases("perf_e2e") as uris:
        yield uris


# --------------------------------------------------------------------------- test services
@pytest.fixture(scope="package")
def services() -> Iterator[dict[str, BenchServer]]:
    """One counting BenchServer per configured service name."""
    started: dict[str, BenchServer] = {}
    try:
        for name in SERVICE_PATHS:
            started[name] = BenchServer().start()
        yield started
    finally:
        for server in started.values():
            server.stop()


@pytest.fixture(scope="package")
def insight() -> Iterator[FakeInsight]:
    with FakeInsight() as fake:
        yield fake


# --------------------------------------------------------------------------- Airflow
@pytest.fixture(scope="package")
def perf_db(pg_databases: dict[str, str]) -> MetricsDB:
    return MetricsDB(pg_databases["metrics"])


@pytest.fixture(scope="package")
def airflow(pg_databases, services, insight) -> Iterator[AirflowStack]:
    """A running Airflow with perf_profiler (and perf_trends) unpaused.

    Unpausing perf_profiler makes the scheduler create its latest nightly run (catchup=False):
    the fixture waits for that run to finish so that the tests start from a quiet deployment.
    """
    home = Path(tempfile.mkdtemp(prefix="perf-e2e-airflow-"))
    metadata_uri = pg_databases["metadata"].replace("postgresql://", "postgresql+psycopg2://", 1)
    stack = AirflowStack(home, metadata_uri, extra_env={
        "AIRFLOW_VAR_PERF_PROFILER_TARGETS": targets_json(services),
        "AIRFLOW_CONN_PERF_METRICS_DB": pg_databases["metrics"],
        "AIRFLOW_CONN_INSIGHT_ENGINE": insight.url,
    })
    previous_sigterm = signal.signal(signal.SIGTERM, _interrupt)  # CI's kill still runs the finally
    try:
        stack.start()  # no pool, no hand step: the DAG's defaults must run as they are
        stack.wait_for_dag(DAG_ID)
        try:
            stack.wait_for_dag(TRENDS_DAG_ID, timeout=30)
            stack.unpause(TRENDS_DAG_ID)
        except Exception as error:
            stack.missing_trends = str(error)[:2000]
        stack.unpause(DAG_ID)
        stack.nightly_run = _wait_for_nightly_run(stack)
        reset_hits(services)
        yield stack
    finally:
        stack.stop()
        signal.signal(signal.SIGTERM, previous_sigterm)
        _keep_logs(home)
        shutil.rmtree(home, ignore_errors=True)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _wait_for_nightly_run(stack: AirflowStack, appear_s: float = 60) -> dict[str, Any] | None:
    """The scheduled run created on unpause, once finished (None if the scheduler made none)."""
    deadline = time.monotonic() + appear_s
    while time.monotonic() < deadline:
        runs = stack.dag_runs(DAG_ID, run_type="scheduled")
        if runs:
            return stack.wait_for_run(DAG_ID, runs[0]["dag_run_id"], timeout=240)
        time.sleep(1)
    return None


def _keep_logs(home: Path) -> None:
    """Copy the components' output and task logs next to the screenshots (for CI forensics)."""
    target = ARTIFACTS / "e2e-airflow-logs"
    shutil.rmtree(target, ignore_errors=True)
    for sub in ("proc-logs", "logs"):
        if (home / sub).is_dir():
            shutil.copytree(home / sub, target / sub, dirs_exist_ok=True)


@pytest.fixture
def quiet(airflow: AirflowStack, services: dict[str, BenchServer], insight: FakeInsight) -> None:
    """Each test starts with zeroed request counters and an empty FakeInsight log."""
    reset_hits(services)
    insight.reset()


# --------------------------------------------------------------------------- browser
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    with headless_chromium() as chromium:
        yield chromium


@pytest.fixture
def page(browser, airflow: AirflowStack, artifacts: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser page on the Airflow UI; a screenshot is kept when the test fails."""
    with page_kept_on_failure(browser, airflow.base_url, {"width": 1600, "height": 1000},
                              artifacts / f"e2e-failure-{request.node.name}.png", request) as page:
        yield page


@pytest.fixture(scope="package")
def artifacts() -> Path:
    """The screenshots folder, without the failure screenshots of an earlier run."""
    return artifacts_folder(ARTIFACTS, "e2e-failure-*.png")
