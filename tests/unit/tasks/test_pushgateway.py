"""The Pushgateway push on its own: URL from the connection, the pushed text, auth, failures as warnings.

A real local HTTP server stands in for the gateway where the request itself is under test (path,
basic auth, error answers); tests/integration/test_pushgateway.py runs the real Pushgateway.
"""
from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from perf_profiler.tasks import pushgateway
from servers import refused_port

SECRET = "s3cr3t-pushgateway-password"
PUSH_LOGGER = "perf_profiler.tasks.pushgateway"
ROWS = [
    {"tenant_id": "default", "service": "registry", "endpoint": "/healthz", "dag_id": "perf_profiler",
     "p50_ms": 10.5, "p95_ms": 41.496, "p99_ms": 60.0, "throughput": 120.25, "error_count": 3, "error_rate": 0.02513},
    {"tenant_id": "default", "service": "registry", "endpoint": "/v2/", "dag_id": "perf_profiler",
     "p50_ms": 20.0, "p95_ms": 30.0, "p99_ms": 35.0, "throughput": 50.0, "error_count": 0, "error_rate": 0.0},
    {"tenant_id": "team-a", "service": "runtime", "endpoint": "/healthz", "dag_id": "perf_profiler",
     "p50_ms": 700.0, "p95_ms": 912.0, "p99_ms": 990.0, "throughput": 8.0, "error_count": 0, "error_rate": 0.0},
]


class RecordingGateway:
    """A local HTTP server answering every PUT with ``status`` and keeping (path, Authorization, body)."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.requests: list[tuple[str, str | None, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                outer.requests.append((self.path, self.headers.get("Authorization"), body))
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> RecordingGateway:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True, scope="module")
def _airflow_configured() -> None:
    """Airflow sets up its logging on first use: before a test's caplog handler, not in the middle of it."""
    import airflow.settings  # noqa: F401


@pytest.fixture
def gateway_conn(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Sets the ``prometheus_pushgateway`` connection: ``gateway_conn(port, login=..., password=...)``."""
    def set_conn(port: int, **fields: Any) -> None:
        conn = {"conn_type": "http", "host": "127.0.0.1", "port": port, **fields}
        monkeypatch.setenv("AIRFLOW_CONN_PROMETHEUS_PUSHGATEWAY", json.dumps(conn))

    return set_conn


@pytest.mark.parametrize(("fields", "url"), [
    (("127.0.0.1", 9091, None, "http"), "http://127.0.0.1:9091"),
    (("gw.example", None, "https", "http"), "https://gw.example"),
    (("gw.example", 443, "", "https"), "https://gw.example:443"),
    (("https://user:pw@gw.example:9443/prefix/", None, None, "http"), "https://gw.example:9443/prefix"),
])
def test_gateway_url_from_connection_fields_never_carries_credentials(fields, url):
    assert pushgateway.gateway_url(*fields) == url


def test_gateway_url_needs_a_host():
    with pytest.raises(ValueError, match="no host"):
        pushgateway.gateway_url("", 9091, None, "http")


def test_registry_holds_every_gauge_with_tenant_service_endpoint_and_dag_labels():
    from prometheus_client import generate_latest

    text = generate_latest(pushgateway.registry_for(ROWS[:2])).decode()
    labels = 'dag_id="perf_profiler",endpoint="/healthz",service="registry",tenant="default"'  # sorted
    for line in (f"profiler_latency_p50{{{labels}}} 10.5", f"profiler_latency_p95{{{labels}}} 41.5",
                 f"profiler_latency_p99{{{labels}}} 60.0", f"profiler_throughput{{{labels}}} 120.25",
                 f"profiler_errors{{{labels}}} 3.0", f"profiler_error_rate{{{labels}}} 0.02513"):
        assert line in text.splitlines()
    assert 'endpoint="/v2/"' in text
    # p95 41.496 ms is pushed as perf_metrics keeps it (DECIMAL(10,2)); the error rate keeps every digit
    assert "# TYPE profiler_errors gauge" in text, "errors of the run: a gauge the next push replaces"


def test_push_puts_one_group_per_tenant_and_service_with_basic_auth(gateway_conn, caplog):
    caplog.set_level(logging.DEBUG, logger="perf_profiler")
    with RecordingGateway() as gateway:
        gateway_conn(gateway.port, login="pusher", password=SECRET)
        assert pushgateway.push(ROWS) == 2

    paths = sorted(path for path, _, _ in gateway.requests)
    assert paths == ["/metrics/job/perf_profiler/service/registry/tenant/default",
                     "/metrics/job/perf_profiler/service/runtime/tenant/team-a"]
    expected_auth = "Basic " + base64.b64encode(f"pusher:{SECRET}".encode()).decode()
    assert {auth for _, auth, _ in gateway.requests} == {expected_auth}
    registry_body = next(body for path, _, body in gateway.requests if "registry" in path)
    assert registry_body.count("profiler_latency_p95{") == 2 and "runtime" not in registry_body
    assert f"pushed 2 of 2 tenant × service group(s) to the Pushgateway http://127.0.0.1:{gateway.port}" in caplog.text
    assert SECRET not in caplog.text


def test_push_without_login_sends_no_authorization(gateway_conn):
    with RecordingGateway() as gateway:
        gateway_conn(gateway.port)
        pushgateway.push(ROWS[:1])
    assert [auth for _, auth, _ in gateway.requests] == [None]


def test_no_connection_no_push_one_info_line(monkeypatch, caplog):
    monkeypatch.delenv("AIRFLOW_CONN_PROMETHEUS_PUSHGATEWAY", raising=False)
    caplog.set_level(logging.INFO, logger="perf_profiler")
    assert pushgateway.push(ROWS) == 0
    lines = [r for r in caplog.records if r.name == PUSH_LOGGER]
    message = "no Airflow connection 'prometheus_pushgateway': metrics not pushed to a Prometheus Pushgateway"
    assert [(r.levelno, r.getMessage()) for r in lines] == [(logging.INFO, message)]


def test_gateway_answering_an_error_warns_per_group_and_goes_on(gateway_conn, caplog):
    caplog.set_level(logging.INFO, logger="perf_profiler")
    with RecordingGateway(status=500) as gateway:
        gateway_conn(gateway.port, login="pusher", password=SECRET)
        assert pushgateway.push(ROWS) == 0
    assert len(gateway.requests) == 2, "an error answer is not a dead gateway: the next group is tried"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name == PUSH_LOGGER]
    assert len(warnings) == 2
    assert all(f"Pushgateway http://127.0.0.1:{gateway.port}: push of tenant" in w and "500" in w for w in warnings)
    assert SECRET not in caplog.text and "pusher:" not in caplog.text


def test_gateway_down_warns_with_its_url_and_stops_trying(gateway_conn, caplog):
    caplog.set_level(logging.INFO, logger="perf_profiler")
    port = refused_port()
    gateway_conn(port, login="pusher", password=SECRET)
    assert pushgateway.push(ROWS) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name == PUSH_LOGGER]
    assert len(warnings) == 2, warnings
    assert f"Pushgateway http://127.0.0.1:{port}: push of tenant default service registry failed" in warnings[0]
    assert warnings[1] == f"Pushgateway http://127.0.0.1:{port} unreachable: 1 remaining group(s) not pushed"
    assert SECRET not in caplog.text


@pytest.mark.parametrize("conn", [{"conn_type": "http"}, {"conn_type": "http", "host": "127.0.0.1",
                                                          "extra": {"timeout_s": "soon"}}])
def test_unusable_connection_warns_and_pushes_nothing(monkeypatch, caplog, conn):
    monkeypatch.setenv("AIRFLOW_CONN_PROMETHEUS_PUSHGATEWAY", json.dumps(conn))
    caplog.set_level(logging.INFO, logger="perf_profiler")
    assert pushgateway.push(ROWS) == 0
    [warning] = [r.getMessage() for r in caplog.records if r.name == PUSH_LOGGER]
    assert warning.startswith("Airflow connection 'prometheus_pushgateway' is not a usable Pushgateway (ValueError")
