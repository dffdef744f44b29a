"""Fixtures of the browser suite: a real Airflow API server that asks for a login, a seeded
``perf_metrics_db``, and headless Chromium.

What runs (all on 127.0.0.1, all torn down at the end, whatever happened):

* two throwaway PostgreSQL databases: Airflow's metadata DB and the ``perf_metrics_db``;
* ``airflow api-server`` alone (no scheduler: nothing here runs a DAG) with this repository's
  dags/ and plugins/, the simple auth manager with real users instead of ``ALL_ADMINS``
  (``viewer`` has the role viewer: may read DAGs, nothing else; ``admin`` only sets up a DAG run),
  and the DAGs written to the metadata DB by ``airflow dags reserialize`` (the auth manager reads
  the readable DAG ids from there);
* headless Chromium (Debian's ``/usr/bin/chromium``) driven by Playwright.

Screenshots go to ``test-artifacts/`` at the repository root (``PERF_PROFILER_TEST_ARTIFACTS``
overrides); a failing test leaves ``browser-failure-<test>.png`` and the API server's output in
``test-artifacts/browser-airflow-logs/``.
"""
from __future__ import annotations

import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.airflow_stack import REPO, AirflowStack
from tests.e2e.metrics_db import MetricsDB

from chromium import artifacts_folder, headless_chromium, page_kept_on_failure
from throwaway_pg import throwaway_databases

ARTIFACTS = Path(os.environ.get("PERF_PROFILER_TEST_ARTIFACTS", REPO / "test-artifacts"))
#: user -> simple auth manager role
ROLES = {"viewer": "viewer", "admin": "admin"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test here is also an ``e2e`` test (deselect both with ``-m 'not e2e'``)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: end-to-end test against a real Airflow")


@dataclass(frozen=True)
class Deployment:
    """The running API server, its users' passwords, the metrics DB and the seeded rows."""

    stack: AirflowStack
    passwords: dict[str, str]
    metrics: MetricsDB
    run_id: str  # a real DAG run of perf_profiler (its rows are the latest of every endpoint)
    rows: list[dict[str, Any]]

    @property
    def base_url(self) -> str:
        return self.stack.base_url


@pytest.fixture(scope="package")
def pg_databases() -> Iterator[dict[str, str]]:
    """Two fresh databases, ``metadata`` and ``metrics``: name -> libpq URI. Dropped at the end."""
    with throwaway_databases("perf_browser") as uris:
        yield uris


@pytest.fixture(scope="package")
def deployment(pg_databases: dict[str, str], artifacts: Path) -> Iterator[Deployment]:
    """The API server with users, a DAG run created through its REST API, and the seeded history."""
    from .seed import DAG_ID, seed

    home = Path(tempfile.mkdtemp(prefix="perf-browser-airflow-"))
    stack = AirflowStack(home, pg_databases["metadata"].replace("postgresql://", "postgresql+psycopg2://", 1),
                         components=("api-server",), users=ROLES,
                         extra_env={"AIRFLOW_CONN_PERF_METRICS_DB": pg_databases["metrics"]})
    previous_sigterm = signal.signal(signal.SIGTERM, _interrupt)  # CI's kill still runs the finally
    try:
        stack.start()
        stack.airflow("dags", "reserialize", timeout=300)  # DagModel rows: what a user may read
        run_id = f"manual__browser_{uuid.uuid4().hex[:8]}"  # queued for ever: no scheduler runs here
        stack.api("POST", f"/dags/{DAG_ID}/dagRuns", json={"dag_run_id": run_id, "logical_date": None, "conf": {}})
        metrics = MetricsDB(pg_databases["metrics"])
        passwords = {user: user for user in ROLES}  # the harness's convention (tests/e2e/airflow_stack.py)
        yield Deployment(stack, passwords, metrics, run_id, seed(metrics.hook, run_id))
    finally:
        stack.stop()
        signal.signal(signal.SIGTERM, previous_sigterm)
        target = artifacts / "browser-airflow-logs"
        shutil.rmtree(target, ignore_errors=True)
        if (home / "proc-logs").is_dir():
            shutil.copytree(home / "proc-logs", target, dirs_exist_ok=True)
        shutil.rmtree(home, ignore_errors=True)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# --------------------------------------------------------------------------- browser
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    with headless_chromium() as chromium:
        yield chromium


@pytest.fixture
def page(browser: Any, deployment: Deployment, artifacts: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh, logged-out browser page on the Airflow UI; a screenshot is kept when the test fails."""
    with page_kept_on_failure(browser, deployment.base_url, {"width": 1600, "height": 1100},
                              artifacts / f"browser-failure-{request.node.name}.png", request) as page:
        yield page


@pytest.fixture(scope="package")
def artifacts() -> Path:
    """The screenshots folder, without the failure screenshots of an earlier run."""
    return artifacts_folder(ARTIFACTS, "browser-failure-*.png")
