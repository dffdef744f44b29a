"""The Insight Engine HTTP client against a real fake engine (tests/support/fake_insight.py):
built from Airflow connections, the token kept out of its repr, one post per ``send``.

How the client's answers drive the outbox is tested in test_delivery.py.
"""
from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from fake_insight import FakeInsight
from perf_profiler.insight import client as insight_client
from perf_profiler.insight import payload as insight_payload
from perf_profiler.insight.client import InsightClient

TOKEN = "tok-9f3a7c1e5b2d4a68"
ROW = {"tenant_id": "default", "dag_id": "perf_profiler", "run_id": "manual__2025-01-02", "service": "registry",
       "endpoint": "/healthz", "p95_ms": 125.4, "throughput": 89.2, "requests": 200, "error_count": 2,
       "verdict": "pass", "measured_at": "2025-01-02T00:00:05+00:00"}


def fast_client(url: str, **kwargs: Any) -> InsightClient:
    settings = {"timeout_s": 0.5, "retries": 1, "backoff_s": 0.01, **kwargs}
    return InsightClient(url, **settings)


@pytest.fixture
def fake():
    with FakeInsight() as server:
        yield server


# ----------------------------------------------------------------------------- token hygiene
def test_token_in_the_url_is_dropped_from_the_base_url():
    client = InsightClient(f"https://user:{TOKEN}@insight.example:8443/", token=TOKEN)
    assert client.base_url == "https://insight.example:8443"
    assert TOKEN not in repr(client)


# ----------------------------------------------------------------------------- connection
@pytest.mark.parametrize(
    ("conn", "base_url"),
    [
        ({"conn_type": "http", "host": "127.0.0.1", "port": 8003}, "http://127.0.0.1:8003"),
        ({"conn_type": "http", "host": "insight.internal", "schema": "https"}, "https://insight.internal"),
        ({"conn_type": "https", "host": "insight.internal", "port": 443}, "https://insight.internal:443"),
        ({"conn_type": "http", "host": "https://insight.internal/api"}, "https://insight.internal/api"),
    ],
)
def test_client_from_airflow_connection(monkeypatch, conn, base_url):
    monkeypatch.setenv("AIRFLOW_CONN_INSIGHT_ENGINE", json.dumps({**conn, "password": TOKEN}))
    client = InsightClient.from_connection()
    assert client.base_url == base_url
    assert client.import_url == f"{base_url}/metrics/import"
    assert TOKEN not in repr(client)


def test_client_from_connection_posts_with_the_token_and_extras(monkeypatch):
    with FakeInsight(token=TOKEN) as fake:
        conn = {"conn_type": "http", "host": "127.0.0.1", "port": fake.port, "password": TOKEN,
                "extra": {"timeout_s": 2, "retries": 0}}
        monkeypatch.setenv("AIRFLOW_CONN_INSIGHT_TEST", json.dumps(conn))
        client = InsightClient.from_connection("insight_test")
        payload = insight_payload.build_payload(ROW)
        result = client.send(insight_payload.payload_key(payload), payload)

    assert (client.timeout_s, client.retries) == (2.0, 0)
    assert result.outcome == insight_client.DELIVERED and result.status == 200
    assert fake.received[0].json == payload


def test_fake_answers_a_repeated_key_without_storing_it_twice(fake):
    client = fast_client(fake.url)
    payload = insight_payload.build_payload(ROW)
    key = insight_payload.payload_key(payload)

    results = [client.send(key, payload) for _ in range(2)]

    assert [r.outcome for r in results] == [insight_client.DELIVERED] * 2
    assert len(fake.received) == 1 and fake.deliveries[key] == 2
    with urllib.request.urlopen(f"{fake.url}/metrics/received", timeout=5) as response:
        assert json.load(response) == [{"idempotency_key": key, "payload": payload, "deliveries": 2}]
