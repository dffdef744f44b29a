"""P-4 for Prometheus: push a measuring run's numbers to a Pushgateway (Prometheus's way for batch jobs).

Only when an Airflow connection ``prometheus_pushgateway`` exists: its host/port (and scheme, see
:func:`gateway_from_connection`) give the gateway URL; an optional login/password becomes HTTP basic
auth. Each tenant × service is one group (``job="perf_profiler"``, grouping key ``tenant``,
``service``), pushed with ``PUT``: a run replaces that service's previous values (an endpoint it no
longer measures disappears) and a run of a subset of services leaves the other groups alone.

The database holds everything, so the push is best effort: a gateway that is down or answers an
error costs a warning naming the gateway URL (never the credentials), not the run.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

log = logging.getLogger(__name__)

PUSHGATEWAY_CONN_ID = "prometheus_pushgateway"
JOB = "perf_profiler"
DEFAULT_TIMEOUT_S = 5.0
#: labels of every pushed series; tenant and service are also the group's grouping key
LABELS = ("tenant", "service", "endpoint", "dag_id")

METRIC_P50 = "profiler_latency_p50"
METRIC_P95 = "profiler_latency_p95"
METRIC_P99 = "profiler_latency_p99"
METRIC_THROUGHPUT = "profiler_throughput"
METRIC_ERRORS = "profiler_errors"
METRIC_ERROR_RATE = "profiler_error_rate"

#: (metric, help text, perf_metrics column): the one list the registry is built from
GAUGES: tuple[tuple[str, str, str], ...] = (
    (METRIC_P50, "p50 latency of the endpoint in the latest measuring run, milliseconds", "p50_ms"),
    (METRIC_P95, "p95 latency of the endpoint in the latest measuring run, milliseconds (P-6 budget)", "p95_ms"),
    (METRIC_P99, "p99 latency of the endpoint in the latest measuring run, milliseconds", "p99_ms"),
    (METRIC_THROUGHPUT, "requests per second the endpoint served in the latest measuring run", "throughput"),
    (METRIC_ERRORS, "failed requests of the endpoint in the latest measuring run", "error_count"),
    (METRIC_ERROR_RATE, "failed / all requests of the endpoint in the latest measuring run (0..1)", "error_rate"),
)

Handler = Callable[..., Callable[[], None]]


@dataclass(frozen=True)
class Gateway:
    """Where to push: ``url`` carries no credentials (it is logged); they stay out of repr."""

    url: str
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout_s: float = DEFAULT_TIMEOUT_S

    def handler(self) -> Handler:
        """prometheus_client's request handler: basic auth when the connection has a login."""
        from prometheus_client.exposition import basic_auth_handler, default_handler

        if not self.login:
            return default_handler
        login, password = self.login, self.password or ""

        def with_basic_auth(url: str, method: str, timeout: float | None, headers: list[Any],
                            data: bytes) -> Callable[[], None]:
            return basic_auth_handler(url, method, timeout, headers, data, login, password)

        return with_basic_auth


def gateway_from_connection(conn_id: str = PUSHGATEWAY_CONN_ID) -> Gateway | None:
    """The connection's gateway, or None when no such connection exists.

    The scheme is ``schema`` when it is http/https, else the connection type when that is https,
    else http; a host that holds a whole URL is used as it is. Extra ``timeout_s`` (default 5).
    """
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None
    timeout_s = float(conn.extra_dejson.get("timeout_s", DEFAULT_TIMEOUT_S))
    return Gateway(gateway_url(conn.host, conn.port, conn.schema, conn.conn_type), conn.login or None,
                   conn.password or None, timeout_s)


def gateway_url(host: str | None, port: int | None, schema: str | None, conn_type: str | None) -> str:
    """The gateway's base URL from a connection's fields, without any user:password@ part."""
    host = (host or "").strip()
    if not host:
        raise ValueError("the connection has no host")
    if "://" not in host:
        scheme = (schema or "").lower()
        if scheme not in ("http", "https"):
            scheme = "https" if (conn_type or "").lower() == "https" else "http"
        host = f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"
    parts = urlsplit(host)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, "", "")).rstrip("/")


def groups(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], list[Mapping[str, Any]]]:
    """Rows by (tenant, service): one Pushgateway group each."""
    grouped: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[(str(row["tenant_id"]), str(row["service"]))].append(row)
    return dict(grouped)


def registry_for(rows: Sequence[Mapping[str, Any]]) -> CollectorRegistry:
    """A fresh registry holding every gauge of ``GAUGES`` for each row's endpoint."""
    from prometheus_client import CollectorRegistry, Gauge

    registry = CollectorRegistry()
    for name, help_text, column in GAUGES:
        gauge = Gauge(name, help_text, LABELS, registry=registry)
        for row in rows:
            labels = (row["tenant_id"], row["service"], row["endpoint"], row["dag_id"])
            gauge.labels(*(str(value) for value in labels)).set(stored_value(row, column))
    return registry


def stored_value(row: Mapping[str, Any], name: str) -> float:
    """The value as perf_metrics keeps it (a ``decimal`` column is DECIMAL(10,2)), so Prometheus
    and the database agree to the digit."""
    from perf_profiler.model.columns import column

    value = float(row[name])
    return round(value, 2) if column(name).kind == "decimal" else value


def push(rows: Iterable[Mapping[str, Any]], conn_id: str = PUSHGATEWAY_CONN_ID) -> int:
    """Push each tenant × service group; returns how many groups the gateway accepted."""
    try:
        gateway = gateway_from_connection(conn_id)
    except Exception as exc:  # e.g. no host, a bad timeout_s extra, a secrets backend failing
        log.warning("Airflow connection %r is not a usable Pushgateway (%s: %s): metrics not pushed",
                    conn_id, type(exc).__name__, exc)
        return 0
    if gateway is None:
        log.info("no Airflow connection %r: metrics not pushed to a Prometheus Pushgateway", conn_id)
        return 0
    by_group = groups(rows)
    pushed = 0
    for index, ((tenant, service), group) in enumerate(by_group.items()):
        try:
            _push_group(gateway, tenant, service, group)
        except Exception as exc:  # best effort by design: the database holds every number
            log.warning("Pushgateway %s: push of tenant %s service %s failed (%s: %s); the run goes on",
                        gateway.url, tenant, service, type(exc).__name__, exc)
            if unreachable(exc):
                log.warning("Pushgateway %s unreachable: %s remaining group(s) not pushed",
                            gateway.url, len(by_group) - index - 1)
                break
            continue
        pushed += 1
    log.info("pushed %s of %s tenant × service group(s) to the Pushgateway %s", pushed, len(by_group), gateway.url)
    return pushed


def _push_group(gateway: Gateway, tenant: str, service: str, rows: Sequence[Mapping[str, Any]]) -> None:
    from prometheus_client import push_to_gateway

    push_to_gateway(gateway.url, job=JOB, registry=registry_for(rows),
                    grouping_key={"tenant": tenant, "service": service},
                    timeout=gateway.timeout_s, handler=gateway.handler())


def unreachable(exc: BaseException) -> bool:
    """Whether the gateway itself could not be reached (no point trying the next group)."""
    from urllib.error import HTTPError, URLError

    if isinstance(exc, HTTPError):
        return False
    return isinstance(exc, (URLError, ConnectionError, TimeoutError))
