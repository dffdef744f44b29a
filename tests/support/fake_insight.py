"""A real (fake) Insight Engine: an aiohttp server on 127.0.0.1, run in a background thread.

It implements ``POST /metrics/import`` the way the real engine is expected to behave and lets a
test switch its behaviour at runtime:

- ``ok``     200, stores the payload (a repeated Idempotency-Key is answered 200 but stored once)
- ``fail``   500
- ``hang``   never answers (until the mode changes or the server stops): the client must time out
- ``down``   the listening socket is closed: connections are refused
- ``reject`` 422

Per key or per request, whatever the mode: ``key_status[key] = 413`` answers that key with that
status; ``throttle(n, status, retry_after)`` answers the next ``n`` requests with ``status`` (429 or
503) and a ``Retry-After`` header (seconds or HTTP-date text).

Every request that reaches a handler is an *arrival* (``arrivals``); only successful, first-time
keys are *received* (``received``, in arrival order); ``deliveries[key]`` counts how many times a key
was answered 200 (so "each key delivered once" is ``deliveries[key] == 1``).

Used by the insight tests (tests/unit/insight), the DAG suites and the demo::

    with FakeInsight(token="s3cret") as fake:
        client = InsightClient(fake.url, token="s3cret")
        ...
        fake.set_mode("down")
"""
from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

MODES = ("ok", "fail", "hang", "down", "reject")
IMPORT_PATH = "/metrics/import"
RECEIVED_PATH = "/metrics/received"  # GET: what was stored, for out-of-process checks (demo, UI tests)


@dataclass(frozen=True)
class Received:
    """One stored payload: its key, parsed JSON body and request headers."""

    key: str
    json: dict[str, Any]
    headers: dict[str, str]


@dataclass(frozen=True)
class Arrival:
    """One request that reached the handler, whatever the answer was."""

    key: str | None
    mode: str
    status: int | None  # None when the request was left hanging
    headers: dict[str, str] = field(default_factory=dict)


class FakeInsight:
    """Start with ``start()`` (or use as a context manager); ``url`` is the base URL."""

    def __init__(
        self, *, mode: str = "ok", token: str | None = None, echo_headers: bool = False, host: str = "127.0.0.1"
    ) -> None:
        """``token``: require ``Authorization: Bearer <token>`` (else 401). ``echo_headers``: error
        bodies repeat the request headers (Authorization first), like a leaky server, to test that
        clients scrub what they log."""
        self._check_mode(mode)
        self.echo_headers = echo_headers
        self.delay_s = 0.0  # 'ok' mode: wait this long before answering (a slow engine)
        self.host = host
        self.port: int = 0
        self.token = token
        self.received: list[Received] = []
        self.arrivals: list[Arrival] = []
        self.deliveries: Counter[str] = Counter()
        self.reject_keys: set[str] = set()
        self.key_status: dict[str, int] = {}
        self._throttle: list[tuple[int, str | None]] = []
        self._mode = mode
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._release: asyncio.Event | None = None

    # ----------------------------------------------------------------- lifecycle
    def __enter__(self) -> FakeInsight:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> FakeInsight:
        """Start the loop thread and the server; returns self."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-insight", daemon=True)
        self._thread.start()
        self._call(self._setup())
        return self

    def stop(self) -> None:
        """Stop the server and its loop thread (idempotent)."""
        if self._loop is None:
            return
        self._call(self._teardown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        assert self._thread is not None
        self._thread.join(timeout=10)
        self._loop.close()
        self._loop = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ----------------------------------------------------------------- mode
    @property
    def mode(self) -> str:
        return self._mode

    def set_mode(self, mode: str) -> None:
        """Switch behaviour; 'down' closes the listener, leaving 'down' re-opens it on the same port."""
        self._check_mode(mode)
        previous, self._mode = self._mode, mode
        if previous == "down" and mode != "down":
            self._call(self._listen())
        elif mode == "down" and previous != "down":
            self._call(self._unlisten())
        self._call(self._wake_hanging())

    # ----------------------------------------------------------------- queries
    def keys_in_arrival_order(self) -> list[str]:
        """Keys of stored payloads, in the order they first arrived."""
        with self._lock:
            return [r.key for r in self.received]

    def throttle(self, count: int, status: int = 429, retry_after: str | None = "1") -> None:
        """Answer the next ``count`` requests ``status`` with ``Retry-After: retry_after`` (None: no header)."""
        with self._lock:
            self._throttle.extend([(status, retry_after)] * count)

    def reset(self) -> None:
        """Forget everything received (mode and token are kept)."""
        with self._lock:
            self.received.clear()
            self.arrivals.clear()
            self.deliveries.clear()

    # ----------------------------------------------------------------- internals
    @staticmethod
    def _check_mode(mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")

    def _call(self, coro: Any) -> Any:
        assert self._loop is not None, "FakeInsight is not started"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    async def _setup(self) -> None:
        self._release = asyncio.Event()
        app = web.Application()
        app.router.add_post(IMPORT_PATH, self._handle)
        app.router.add_get(RECEIVED_PATH, self._list_received)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        if self._mode != "down":
            await self._listen()
        else:  # bind once to learn a free port, then close it
            await self._listen()
            await self._unlisten()

    async def _teardown(self) -> None:
        await self._wake_hanging()
        await self._unlisten()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _listen(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await self._site.start()
        if not self.port:
            self.port = self._runner.addresses[0][1]

    async def _unlisten(self) -> None:
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def _wake_hanging(self) -> None:
        """Release requests left hanging; they then answer 503."""
        if self._release is not None:
            self._release.set()
            self._release = asyncio.Event()

    def _record_arrival(self, key: str | None, mode: str, status: int | None, headers: dict[str, str]) -> None:
        with self._lock:
            self.arrivals.append(Arrival(key, mode, status, headers))

    async def _handle(self, request: web.Request) -> web.Response:
        headers = dict(request.headers)
        key = request.headers.get("Idempotency-Key")
        mode = self._mode
        if mode == "hang":
            self._record_arrival(key, mode, None, headers)
            assert self._release is not None
            await self._release.wait()
            return web.json_response({"error": "was hanging"}, status=503)
        with self._lock:
            throttled = self._throttle.pop(0) if self._throttle else None
        if throttled is not None:
            status, retry_after = throttled
            self._record_arrival(key, mode, status, headers)
            extra = {} if retry_after is None else {"Retry-After": retry_after}
            return web.json_response({"error": "slow down"}, status=status, headers=extra)
        status, body = await self._answer(request, key, mode, headers)
        self._record_arrival(key, mode, status, headers)
        if status >= 400 and self.echo_headers:
            body = {"echo_authorization": request.headers.get("Authorization"), **body, "request_headers": headers}
        return web.json_response(body, status=status)

    async def _list_received(self, request: web.Request) -> web.Response:
        """``[{"idempotency_key", "payload", "deliveries"}]`` in arrival order (no headers: no tokens)."""
        with self._lock:
            body = [{"idempotency_key": r.key, "payload": r.json, "deliveries": self.deliveries[r.key]}
                    for r in self.received]
        return web.json_response(body)

    async def _answer(
        self, request: web.Request, key: str | None, mode: str, headers: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        if mode == "fail":
            return 500, {"error": "internal error"}
        if self.token is not None and request.headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {"error": "unauthorized"}
        if not key:
            return 400, {"error": "missing Idempotency-Key"}
        try:
            payload = json.loads(await request.text())
        except ValueError:
            return 400, {"error": "body is not JSON"}
        if not isinstance(payload, dict) or not isinstance(payload.get("metrics"), dict) or "source" not in payload:
            return 400, {"error": "expected {source, metrics}"}
        if key in self.key_status:
            return self.key_status[key], {"error": f"answered {self.key_status[key]} for this key"}
        if mode == "reject" or key in self.reject_keys:
            return 422, {"error": "unprocessable metrics"}
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return 200, self._store(key, payload, headers)

    def _store(self, key: str, payload: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            self.deliveries[key] += 1
            duplicate = self.deliveries[key] > 1
            if not duplicate:
                self.received.append(Received(key, payload, headers))
        return {"status": "duplicate" if duplicate else "imported", "idempotency_key": key}
