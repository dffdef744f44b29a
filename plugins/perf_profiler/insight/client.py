"""HTTP client for the Insight Engine's ``POST /metrics/import`` (bounded timeouts and retries)."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from perf_profiler.common.aio import run_sync
from perf_profiler.common.encoding import canonical_json
from perf_profiler.model.caps import MAX_DRAIN_BUDGET_S

if TYPE_CHECKING:  # aiohttp is imported lazily: DAG files import this module at parse time
    import aiohttp

log = logging.getLogger(__name__)

DEFAULT_CONN_ID = "insight_engine"
IMPORT_PATH = "/metrics/import"
MAX_ERROR_CHARS = 300

DELIVERED = "delivered"
REJECTED = "rejected"
HELD = "held"  # 413: the entry is too large for the engine now; held aside, never blocks the rest
FAILED = "failed"
#: Statuses whose ``Retry-After`` (seconds or HTTP-date) sets the wait before the next attempt.
RETRY_AFTER_STATUSES = frozenset({429, 503})
#: Longest ``Retry-After`` honoured when the caller gives no deadline (with one: the deadline).
MAX_RETRY_AFTER_S = 60.0

#: Per-run drain budget (``deliver``): stop posting after this many seconds or entries.
DEFAULT_DRAIN_BUDGET_S = 300.0
DEFAULT_DRAIN_MAX_ITEMS = 1000
#: Connection extras read by ``from_connection``.
EXTRA_SETTINGS = ("timeout_s", "retries", "backoff_s", "drain_budget_s", "drain_max_items")

#: Statuses that say "try again later" (retried in-run with back-off, then left pending).
TRANSIENT_STATUSES = frozenset({408, 429})
#: 4xx that blame the connection or endpoint, not the payload: left pending, drain stops.
HOLD_STATUSES = frozenset({401, 403, 404, 405})

class _Secret:
    """Holds the bearer token; its repr/str never show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__


@dataclass(frozen=True)
class PostResult:
    """Outcome of posting one payload (after retries). ``error`` is short and secret-free."""

    outcome: str  # DELIVERED | REJECTED | FAILED
    status: int | None = None
    error: str | None = None
    attempts: int = 1
    retryable: bool = False  # FAILED only: would another immediate try make sense
    retry_after_s: float | None = None  # the engine's Retry-After (429/503), in seconds


class InsightClient:
    """HTTP client for ``POST {base_url}/metrics/import`` with bounded timeouts and retries.

    Use ``from_connection(conn_id)`` inside Airflow; the plain constructor is for tests and the CLI.
    ``retries`` extra attempts follow a 5xx/408/429/timeout/connection error, waiting
    ``backoff_s * 2**n`` in between, so one post takes at most
    ``(retries + 1) * timeout_s + backoff_s * (2**retries - 1)`` seconds.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        timeout_s: float = 5.0,
        retries: int = 2,
        backoff_s: float = 0.5,
        drain_budget_s: float = DEFAULT_DRAIN_BUDGET_S,
        drain_max_items: int = DEFAULT_DRAIN_MAX_ITEMS,
    ) -> None:
        if timeout_s <= 0 or retries < 0 or backoff_s < 0:
            raise ValueError("timeout_s must be > 0; retries and backoff_s must be >= 0")
        if not 0 < float(drain_budget_s) <= MAX_DRAIN_BUDGET_S:
            raise ValueError(f"drain_budget_s must be in (0, {MAX_DRAIN_BUDGET_S:g}] seconds, got {drain_budget_s!r}")
        if int(drain_max_items) != drain_max_items or not 0 < int(drain_max_items) <= 1_000_000:
            raise ValueError(f"drain_max_items must be an integer in [1, 1000000], got {drain_max_items!r}")
        self.drain_budget_s = float(drain_budget_s)
        self.drain_max_items = int(drain_max_items)
        self.base_url = _strip_userinfo(base_url).rstrip("/")
        self._token = _Secret(token) if token else None
        self.timeout_s = float(timeout_s)
        self.retries = int(retries)
        self.backoff_s = float(backoff_s)

    @classmethod
    def from_connection(cls, conn_id: str = DEFAULT_CONN_ID, **overrides: Any) -> InsightClient:
        """Build from an Airflow HTTP connection: scheme/host/port, bearer token in the password.

        The scheme is ``conn.schema`` when it is http/https, else the connection type (http/https).
        ``timeout_s``, ``retries``, ``backoff_s`` and the per-run drain budget ``drain_budget_s``
        / ``drain_max_items`` may come from the connection extras or ``overrides`` (overrides win).
        """
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(conn_id)
        settings = {k: v for k, v in conn.extra_dejson.items() if k in EXTRA_SETTINGS}
        settings.update(overrides)
        return cls(_base_url_of(conn), token=conn.password or None, **settings)

    def __repr__(self) -> str:
        token = "'***'" if self._token else "None"
        return (
            f"InsightClient(base_url={self.base_url!r}, token={token}, timeout_s={self.timeout_s:g}, "
            f"retries={self.retries}, backoff_s={self.backoff_s:g})"
        )

    @property
    def import_url(self) -> str:
        return f"{self.base_url}{IMPORT_PATH}"

    def session(self) -> aiohttp.ClientSession:
        """A new ClientSession with this client's bounded timeout (use one per drain)."""
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=self.timeout_s, connect=min(self.timeout_s, 5.0))
        return aiohttp.ClientSession(timeout=timeout, headers={"User-Agent": "perf-profiler"})

    async def post(
        self, session: aiohttp.ClientSession, key: str, body: str, deadline: float | None = None
    ) -> PostResult:
        """Post one canonical JSON body with its Idempotency-Key, retrying transient failures.

        A 429/503 ``Retry-After`` sets the wait before the next attempt (at least the back-off);
        ``deadline`` (the running loop's ``time()``): no wait ends past it — the post gives up
        instead, still FAILED and retryable (without one, waits are capped at MAX_RETRY_AFTER_S).
        """
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            attempt += 1
            result = await self._post_once(session, key, body)
            if not result.retryable or attempt > self.retries:
                return PostResult(result.outcome, result.status, result.error, attempt, result.retryable,
                                  result.retry_after_s)
            delay = max(self.backoff_s * 2 ** (attempt - 1), result.retry_after_s or 0.0)
            if deadline is None:
                delay = min(delay, max(MAX_RETRY_AFTER_S, self.backoff_s * 2 ** (attempt - 1)))
            elif loop.time() + delay >= deadline:
                error = self.scrub(f"{result.error} (next attempt in {delay:.1f} s would pass the run's budget)")
                return PostResult(FAILED, result.status, error, attempt, True, result.retry_after_s)
            log.info("insight: attempt %s for %s failed (%s); retrying in %.2f s", attempt, key, result.error, delay)
            await asyncio.sleep(delay)

    def send(self, key: str, payload: Mapping[str, Any]) -> PostResult:
        """Sync one-off post (CLI, smoke tests); the DAG goes through ``deliver``."""

        async def once() -> PostResult:
            async with self.session() as session:
                return await self.post(session, key, canonical_json(payload))

        return run_sync(once())

    async def _post_once(self, session: aiohttp.ClientSession, key: str, body: str) -> PostResult:
        import aiohttp

        try:
            async with session.post(
                self.import_url, data=body.encode("utf-8"), headers=self._headers(key), allow_redirects=False
            ) as response:
                snippet = (await response.content.read(200)).decode("utf-8", "replace")
                result = self._classify(response.status, snippet)
                if response.status in RETRY_AFTER_STATUSES:
                    wait = retry_after_seconds(response.headers.get("Retry-After"))
                    result = PostResult(result.outcome, result.status, result.error, retryable=True, retry_after_s=wait)
                return result
        except asyncio.TimeoutError:
            return PostResult(FAILED, error=f"timeout after {self.timeout_s:g} s", retryable=True)
        except (aiohttp.ClientError, OSError) as exc:
            return PostResult(FAILED, error=self.scrub(f"{type(exc).__name__}: {exc}"), retryable=True)

    def _headers(self, key: str) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Idempotency-Key": key}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token.reveal()}"
        return headers

    def _classify(self, status: int, snippet: str) -> PostResult:
        if 200 <= status < 300:
            return PostResult(DELIVERED, status)
        error = self.scrub(f"HTTP {status}: {' '.join(snippet.split())}")
        if status >= 500 or status in TRANSIENT_STATUSES:
            return PostResult(FAILED, status, error, retryable=True)
        if status == 413:
            return PostResult(HELD, status, error)
        if 400 <= status < 500 and status not in HOLD_STATUSES:
            return PostResult(REJECTED, status, error)
        return PostResult(FAILED, status, error, retryable=False)

    def scrub(self, text: str) -> str:
        """``text`` without the token, cut to MAX_ERROR_CHARS (for logs and last_error)."""
        if self._token is not None:
            text = text.replace(self._token.reveal(), "***")
        return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A ``Retry-After`` header in seconds (delta-seconds or an HTTP-date); None if absent or
    unreadable; never negative."""
    if not value or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max((when - (now or datetime.now(timezone.utc))).total_seconds(), 0.0)


def _base_url_of(conn: Any) -> str:
    host = (conn.host or "").strip()
    if "://" in host:  # the host already carries a scheme (HttpHook convention)
        return host
    if not host:
        raise ValueError(f"connection {conn.conn_id!r} has no host")
    schema = (conn.schema or "").lower()
    conn_type = (conn.conn_type or "").lower()
    scheme = schema if schema in ("http", "https") else ("https" if conn_type == "https" else "http")
    return f"{scheme}://{host}:{conn.port}" if conn.port else f"{scheme}://{host}"


def _strip_userinfo(url: str) -> str:
    """Drop ``user:password@`` from a URL so it is safe to log and repr."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("base_url must be an http(s) URL with a host")
    netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
