"""Hostile or broken input, secrets and SQL, and the load-safety caps.

* A table of bad targets configs and trigger params, fed to the ``load_targets`` task body the
  way Airflow does: each is refused with a message naming the field (never echoing a secret).
* The safety caps on rate, concurrency, duration, body size... cannot be exceeded from the
  config, the params, or a tampered service dict (the XCom that reaches ``benchmark``).
* Secrets canary: canary passwords in the metrics DB and Insight connections and canary headers
  in a target's header connection; after a real ``dag.test()`` run the canaries are nowhere in
  the task logs, the XComs (and the rest of Airflow's metadata DB), the stored rows or the
  Insight payloads, while the target did receive the canary headers. The same run uses names
  with quotes, semicolons and unicode, which are stored verbatim and harm nothing.
"""
from __future__ import annotations

import copy
import json
import logging
import os
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from dag_runs import config, perf_dag, run_dag, service, stored_rows, task_states
from fake_insight import FakeInsight
from perf_profiler.model import caps, targets
from perf_profiler.model.errors import TargetsError
from perf_profiler.model.fields import NumberSpec, number_fields
from perf_profiler.model.secret_headers import with_secret_headers
from perf_profiler.tasks import measure, plan, target_auth
from servers import BenchServer

pytestmark = pytest.mark.timeout(240)


def _base() -> dict[str, Any]:
    return {"version": 1, "services": [{"name": "api", "base_url": "http://127.0.0.1:9",
                                        "endpoints": [{"path": "/ok"}]}]}


def _with(path: tuple[Any, ...], value: Any) -> str:
    """The base config as JSON text with ``value`` at ``path`` (created when missing)."""
    cfg = _base()
    node: Any = cfg
    for key in path[:-1]:
        node = node.setdefault(key, {}) if isinstance(key, str) else node[key]
    node[path[-1]] = value
    return json.dumps(cfg)


SVC = ("services", 0)
LOAD = (*SVC, "load")
SECRET = "hunter2-canary-in-config"

#: (id, targets JSON text, conf, fragments the message must contain, fragments it must not contain)
HOSTILE_INPUT: list[tuple[str, str, dict[str, Any], list[str], list[str]]] = [
    # ---------------------------------------------------------------- targets config
    ("malformed-json", '{"version": 1, "services": [', {}, ["invalid JSON", "line 1, column"], []),
    ("top-level-list", "[]", {}, ["expected an object", "got []"], []),
    ("duplicate-json-key", '{"version": 1, "version": 1, "services": []}', {}, ["duplicate key 'version'"], []),
    ("nan-timeout", _with((*LOAD, "timeout_s"), float("nan")), {}, ["load.timeout_s", "got NaN"], []),
    ("infinite-duration", _with((*LOAD, "duration_s"), float("inf")), {}, ["load.duration_s", "Infinity"], []),
    ("overflowing-float", _with((*SVC, "budget"), {"p95_ms": 1}).replace('"p95_ms": 1', '"p95_ms": 1e999'), {},
     ["budget.p95_ms", "Infinity"], []),
    ("huge-requests", _with((*LOAD, "requests"), 10**30), {}, ["load.requests", "safety cap", "MAX_REQUESTS"], []),
    ("negative-concurrency", _with((*LOAD, "concurrency"), -3), {}, ["load.concurrency", "got -3"], []),
    ("zero-requests", _with((*LOAD, "requests"), 0), {}, ["load.requests", "got 0", "positive integer"], []),
    ("string-number", _with((*LOAD, "warmup"), "5"), {}, ["load.warmup", 'got "5"'], []),
    ("bool-as-number", _with((*LOAD, "concurrency"), True), {}, ["load.concurrency", "got true"], []),
    ("name-wrong-type", _with((*SVC, "name"), 42), {}, ["services[0]: name", "got 42"], []),
    ("unknown-service-key", _with((*SVC, "url"), "http://x"), {}, ['unknown key "url"', "allowed keys"], []),
    ("unknown-endpoint-key", _with((*SVC, "endpoints"), [{"path": "/ok", "timeout": 3}]), {},
     ["endpoints[0]", 'unknown key "timeout"'], []),
    ("duplicate-service-names", json.dumps({"services": [_base()["services"][0]] * 2}), {},
     ["services[1] 'api': name", "duplicate service name 'api'"], []),
    ("ftp-scheme", _with((*SVC, "base_url"), "ftp://127.0.0.1:21"), {}, ["base_url", "http:// or https://"], []),
    ("file-scheme", _with((*SVC, "base_url"), "file:///etc/passwd"), {}, ["base_url", "http:// or https://"], []),
    ("url-credentials", _with((*SVC, "base_url"), f"http://admin:{SECRET}@127.0.0.1:9"), {},
     ["base_url", "embeds credentials", "Airflow connection"], [SECRET, "admin"]),
    ("secret-header-in-file", _with((*SVC, "endpoints"), [{"path": "/ok", "headers": {"Authorization": SECRET}}]),
     {}, ["headers['Authorization']", "looks like a secret", "Airflow connection"], [SECRET]),
    ("header-injection", _with((*SVC, "endpoints"), [{"path": "/ok", "headers": {"X-Trace": "a\r\nHost: evil"}}]),
     {}, ["headers['X-Trace']", "control characters"], []),
    ("headers-conn-id-wrong-type", _with((*SVC, "headers_conn_id"), 5), {}, ["headers_conn_id", "got 5"], []),
    ("headers-conn-id-injection", _with((*SVC, "headers_conn_id"), "x'); DROP TABLE perf_metrics;--"), {},
     ["headers_conn_id", "Airflow connection id"], []),
    ("verify-tls-string", _with((*SVC, "verify_tls"), "false"), {}, ["verify_tls", "true or false"], []),
    # ---------------------------------------------------------------- trigger params (conf)
    ("param-unknown", json.dumps(_base()), {"colour": "red"}, ["param 'colour'", "unknown"], []),
    ("param-negative-requests", json.dumps(_base()), {"requests": -1}, ["param 'requests'"], []),
    ("param-zero-concurrency", json.dumps(_base()), {"concurrency": 0}, ["param 'concurrency'"], []),
    ("param-huge-concurrency", json.dumps(_base()), {"concurrency": 10**6}, ["param 'concurrency'"], []),
    ("param-huge-rate", json.dumps(_base()), {"rate": 1e12}, ["param 'rate'"], []),
    ("param-string-duration", json.dumps(_base()), {"duration_s": "10"}, ["param 'duration_s'"], []),
    ("param-bool-warmup", json.dumps(_base()), {"warmup": True}, ["param 'warmup'"], []),
    ("param-zero-budget", json.dumps(_base()), {"budget_p95_ms": 0}, ["param 'budget_p95_ms'"], []),
    ("param-bad-load-model", json.dumps(_base()), {"load_model": "chaos"}, ["param 'load_model'"], []),
    ("param-sql-in-tenant", json.dumps(_base()), {"tenant": "x'); DROP TABLE perf_metrics;--"},
     ["param 'tenant'"], []),
    ("param-unknown-service", json.dumps(_base()), {"services": ["nope"]}, ["param 'services'", "'nope'"], []),
    ("param-services-not-list", json.dumps(_base()), {"services": "api"}, ["param 'services'"], []),
    ("param-fail-on-violation-string", json.dumps(_base()), {"fail_on_violation": "yes"},
     ["param 'fail_on_violation'"], []),
]


@pytest.mark.parametrize(("text", "conf", "expected", "forbidden"), [c[1:] for c in HOSTILE_INPUT],
                         ids=[c[0] for c in HOSTILE_INPUT])
def test_hostile_input_is_refused_naming_the_field(
    text: str, conf: dict[str, Any], expected: list[str], forbidden: list[str]
) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException) as info:
        plan.load_targets(text, dict(conf), dict(conf))  # context params = defaults updated by conf
    message = str(info.value)
    for fragment in expected:
        assert fragment in message, (fragment, message)
    for fragment in forbidden:
        assert fragment not in message, (fragment, message)


def test_the_table_is_big_enough_and_its_base_is_valid() -> None:
    assert len([c for c in HOSTILE_INPUT if not c[2]]) >= 15
    assert len([c for c in HOSTILE_INPUT if c[2]]) >= 10
    run_plan = plan.load_targets(json.dumps(_base()), {}, {})
    assert [s["name"] for s in run_plan["to_probe"]] == ["api"]


# =========================================================================== load safety
def _capped_load_fields() -> dict[str, NumberSpec]:
    """Every numeric load/endpoint field and its limits, read from the model's field types."""
    fields = {f"load.{k}": v for k, v in number_fields(targets.LoadSettings).items()}
    fields.update({f"endpoints[0].{k}": v for k, v in number_fields(targets.Endpoint).items()})
    return fields


def test_every_numeric_load_field_has_a_safety_cap() -> None:
    fields = _capped_load_fields()
    assert {"load.requests", "load.duration_s", "load.concurrency", "load.warmup", "load.timeout_s",
            "load.max_body_bytes", "load.rate"} <= set(fields)
    uncapped = [name for name, spec in fields.items() if spec.cap is None or not spec.cap.name]
    assert uncapped == []


@pytest.mark.parametrize("field", sorted(_capped_load_fields()))
def test_caps_hold_at_the_boundary_and_refuse_beyond_it(field: str) -> None:
    spec = _capped_load_fields()[field]
    assert spec.cap is not None
    section, key = field.split(".")
    at_cap = int(spec.cap.value) if spec.integer else spec.cap.value
    beyond = at_cap + 1 if spec.integer else spec.cap.value * 1.001

    def cfg(value: Any) -> dict[str, Any]:
        c = _base()
        svc = c["services"][0]
        if section == "load":
            svc["load"] = {"model": "open", "duration_s": 1} if key == "rate" else {}
            svc["load"][key] = value
        else:
            svc["endpoints"][0][key] = value
        return c

    try:
        targets.parse_targets(cfg(at_cap))
        objection = ""
    except TargetsError as error:  # only a cross-field rule may object, never the cap itself
        objection = str(error)
    assert "safety cap" not in objection, objection
    with pytest.raises(TargetsError, match=rf"{key}.*exceeds the safety cap.*{spec.cap.name}"):
        targets.parse_targets(cfg(beyond))


@pytest.mark.parametrize(("param", "cap"), [
    ("requests", caps.MAX_REQUESTS), ("concurrency", caps.MAX_CONCURRENCY),
    ("duration_s", caps.MAX_DURATION_S), ("warmup", caps.MAX_WARMUP), ("rate", caps.MAX_RATE),
])
def test_params_cannot_exceed_the_caps(param: str, cap: float) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from perf_profiler.model import params

    assert params.param_schemas(["api"])[param]["maximum"] == cap, "the form offers no more than the cap"
    conf = {param: cap + 1}
    with pytest.raises(AirflowFailException, match=f"param '{param}'"):
        plan.load_targets(json.dumps(_base()), conf, conf)


def test_a_tampered_service_dict_cannot_exceed_the_caps_in_benchmark() -> None:
    """The XCom that reaches ``benchmark`` is validated again: no request is sent over a cap."""
    with BenchServer() as server:
        run_plan = plan.load_targets(json.dumps(config([service("svc", server.url)])), {}, {})
        good = run_plan["to_probe"][0]
        for key, value in (("concurrency", caps.MAX_CONCURRENCY * 5), ("requests", caps.MAX_REQUESTS + 1),
                           ("max_body_bytes", caps.MAX_BODY_BYTES * 2), ("duration_s", 10 * 3600)):
            tampered = copy.deepcopy(good)
            tampered["load"][key] = value
            with pytest.raises(TargetsError, match=f"load.{key}"):
                measure.benchmark(tampered)
        assert server.stats.total_hits == 0


# =========================================================================== secret headers
@pytest.fixture
def header_conn(monkeypatch: pytest.MonkeyPatch):
    def set_conn(**conn: Any) -> str:
        monkeypatch.setenv("AIRFLOW_CONN_TARGET_AUTH", json.dumps({"conn_type": "http", **conn}))
        return "target_auth"

    return set_conn


def test_connection_headers_from_password_and_extra(header_conn) -> None:
    conn_id = header_conn(password="tok-1", extra={"headers": {"X-Api-Key": "key-1"}})
    assert target_auth.connection_headers(conn_id) == {"X-Api-Key": "key-1", "Authorization": "Bearer tok-1"}
    conn_id = header_conn(password="tok-1", extra={"headers": {"authorization": "Basic abc"}})
    assert target_auth.connection_headers(conn_id) == {"authorization": "Basic abc"}, "the extra's own wins"


@pytest.mark.parametrize(("headers", "message"), [
    ({"X Bad": "v-canary-1"}, "header name"),
    ({"X-Ok": "v-canary-1\r\nHost: evil"}, "'X-Ok' must be a string without control characters"),
    ({"X-Ok": 5}, "'X-Ok' must be a string"),
])
def test_bad_headers_in_the_connection_fail_the_benchmark_without_echoing_values(
    header_conn, headers: dict[str, Any], message: str
) -> None:
    header_conn(extra={"headers": headers})
    svc = plan.load_targets(json.dumps(config([service("svc", "http://127.0.0.1:9", headers_conn_id="target_auth")])),
                                {}, {})["to_probe"][0]
    with pytest.raises(TargetsError) as info:
        measure.benchmark(svc)
    assert message in str(info.value) and "connection 'target_auth'" in str(info.value)
    assert "canary" not in str(info.value)


def test_secret_headers_replace_same_named_endpoint_headers_and_never_enter_the_dict() -> None:
    [svc] = targets.parse_targets(json.loads(_with((*SVC, "endpoints"), [{"path": "/ok", "headers": {"X-Env": "a"}}])))
    armed = with_secret_headers(svc, {"x-env": "b", "Authorization": "Bearer t"})
    assert armed.endpoints[0].headers == (("x-env", "b"), ("Authorization", "Bearer t"))
    assert "Bearer t" not in json.dumps(svc.model_dump(mode="json")), "the original (XCom) service is untouched"


# =========================================================================== canary + hostile names, end to end
HOSTILE_SERVICE = "x'); DROP TABLE perf_metrics;--"
HOSTILE_ENDPOINT = "Robert'); DROP TABLE insight_outbox;-- \"ünï😀\""
UNICODE_SERVICE = "сервис ✓ 'quoted' ; semi"
UNICODE_ENDPOINT = "naïve \\ back`tick` ; -- 数据"


def _metadata_db_files() -> list[Path]:
    from airflow.configuration import conf

    path = Path(conf.get("database", "sql_alchemy_conn").split("sqlite:///", 1)[1].split("?", 1)[0])
    return [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-journal")) if p.exists()]


def _all_metrics_db_text(hook: Any) -> str:
    tables = [t for (t,) in hook.get_records(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")]
    assert {"perf_metrics", "insight_outbox"} <= set(tables)
    from psycopg import sql

    chunks: list[str] = []
    with hook.get_conn() as conn, conn.cursor() as cur:
        for table in tables:
            cur.execute(sql.SQL("SELECT t::text FROM {} t").format(sql.Identifier(table)))
            chunks.extend(r[0] for r in cur.fetchall())
    return "\n".join(chunks)


@pytest.mark.usefixtures("either_engine")  # the secret headers go out through both engines
def test_canaries_never_leak_and_hostile_names_are_stored_verbatim(
    pg_database: str, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from airflow import settings
    from sqlalchemy import text

    caplog.set_level(logging.DEBUG)
    dag = perf_dag()
    tag = uuid.uuid4().hex[:12]
    canaries = {
        "db password": f"canary-db-{tag}",
        "insight token": f"canary-insight-{tag}",
        "target bearer": f"canary-bearer-{tag}",
        "target api key": f"canary-apikey-{tag}",
    }
    database = pg_database.rsplit("/", 1)[1]
    monkeypatch.setenv("AIRFLOW_CONN_PERF_METRICS_DB",
                       f"postgresql://postgres:{canaries['db password']}@127.0.0.1:5432/{database}")
    monkeypatch.setenv("AIRFLOW_CONN_TARGET_AUTH", json.dumps({
        "conn_type": "http", "password": canaries["target bearer"],
        "extra": {"headers": {"X-Api-Key": canaries["target api key"]}}}))
    with BenchServer() as target, BenchServer() as other, FakeInsight(token=canaries["insight token"]) as insight:
        monkeypatch.setenv("AIRFLOW_CONN_INSIGHT_ENGINE", json.dumps({
            "conn_type": "http", "host": "127.0.0.1", "port": insight.port, "schema": "http",
            "password": canaries["insight token"]}))
        monkeypatch.setenv("AIRFLOW_VAR_PERF_PROFILER_TARGETS", json.dumps(config([
            {"name": HOSTILE_SERVICE, "base_url": target.url, "headers_conn_id": "target_auth",
             "endpoints": [{"path": "/echo", "name": HOSTILE_ENDPOINT}, {"path": "/ok"}]},
            {"name": UNICODE_SERVICE, "base_url": other.url, "endpoints": [{"path": "/ok", "name": UNICODE_ENDPOINT}]},
        ], requests=5)))
        dag_run = run_dag(dag, datetime(2026, 8, 1, tzinfo=timezone.utc))
        received_headers = target.stats.last_request.headers
        other_headers = other.stats.last_request.headers
        payloads = [r.json for r in insight.received]
        insight_auth = {a.headers.get("Authorization") for a in insight.arrivals}
    out, err = capfd.readouterr()

    # the run worked, and the secrets were really used where they belong
    assert dag_run.state == "success", task_states(dag_run)
    assert received_headers.get("Authorization") == f"Bearer {canaries['target bearer']}"
    assert received_headers.get("X-Api-Key") == canaries["target api key"]
    assert "X-Api-Key" not in other_headers, "a service without headers_conn_id gets no secret headers"
    assert insight_auth == {f"Bearer {canaries['insight token']}"}

    # hostile names: stored and posted verbatim, and both tables are still there
    rows = stored_rows(run_id=dag_run.run_id)
    assert sorted((r["service"], r["endpoint"]) for r in rows) == sorted([
        (HOSTILE_SERVICE, HOSTILE_ENDPOINT), (HOSTILE_SERVICE, "/ok"), (UNICODE_SERVICE, UNICODE_ENDPOINT)])
    assert sorted((p["metrics"]["service"], p["metrics"]["endpoint"]) for p in payloads) == sorted(
        (r["service"], r["endpoint"]) for r in rows)
    from perf_profiler.storage.dialect import get_hook

    hook = get_hook("perf_metrics_db")
    stored_text = _all_metrics_db_text(hook)

    # XComs of the run (the service dicts travel there: they name the connection, nothing more)
    assert settings.Session is not None, "dag.test() configured Airflow's ORM"
    with settings.Session() as session:
        xcoms = [str(v) for (v,) in session.execute(
            text("SELECT value FROM xcom WHERE dag_id = :d AND run_id = :r"),
            {"d": dag_run.dag_id, "r": dag_run.run_id})]
    assert any("target_auth" in x for x in xcoms), "the XComs were read (they hold headers_conn_id)"
    metadata_bytes = b"".join(p.read_bytes() for p in _metadata_db_files())
    log_files = "\n".join(p.read_text(errors="replace") for p in Path(os.environ["AIRFLOW_HOME"]).rglob("*.log"))
    task_logs = "\n".join((out, err, caplog.text, log_files))
    assert "probed" in task_logs and "upserted" in task_logs, "the task logs were captured"

    places = {
        "task logs": task_logs,
        "XComs": "\n".join(xcoms),
        "stored rows (all tables of the metrics DB)": stored_text,
        "Insight payloads": json.dumps(payloads, ensure_ascii=False),
    }
    for what, secret in canaries.items():
        for where, content in places.items():
            assert secret not in content, f"the {what} canary leaked into the {where}"
        assert secret.encode() not in metadata_bytes, f"the {what} canary leaked into Airflow's metadata DB"
