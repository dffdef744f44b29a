"""Probe engine: HTTP load against one service, one endpoint after another.

For every endpoint of a :class:`~perf_profiler.model.targets.Service`, ``warmup`` uncounted requests
run first (closed loop), then the counted phase in one of two load models
(``LoadSettings.model``):

* **closed** -- a fixed pool of ``concurrency`` workers, each sending its next request as soon as
  its previous one returned, until ``requests`` were sent or ``duration_s`` has passed (what hey,
  ab and Locust do). Latency = service time, send -> full body read. A closed loop stops sending
  while the server stalls, so a stall hits only ``concurrency`` requests and vanishes from the
  percentiles (*coordinated omission*).
* **open** -- ``rate`` arrivals per second on a fixed timeline for ``duration_s`` (like wrk2 -R
  or k6's constant-arrival-rate): arrival *i* is due at ``t0 + i / rate`` whatever happened to
  the previous ones. Latency is measured from the *intended* send time (``latency_hist``,
  corrected for coordinated omission; it drives the percentiles) and from the actual send
  (``service_hist``). At most ``concurrency`` requests are in flight: an arrival due while the
  cap is reached is **dropped and counted**, never silently skipped; arrivals the generator has
  not sent :data:`LATE_GRACE_S` after the end of the schedule are dropped as behind schedule.
  Every scheduled arrival is either sent (``requests``) or dropped: ``scheduled = requests +
  dropped``.

**Client saturation.** The generator measures its own scheduling lag (``lag_hist``, µs): in the
open loop, actual minus intended send time of every request; in the closed loop, how late a
10 ms event-loop timer fires (the time a finished response may wait before the loop sees it).
A result is ``client_saturated`` when the lag p99 exceeds ``saturation_limit_ms`` -- the larger
of :data:`SATURATION_LAG_FLOOR_MS` (2 ms) and :data:`SATURATION_LAG_FRACTION` (10 %) of the
measured latency p99, i.e. when the generator's own delay is a material part of the tail it
reports -- or when any send was dropped; ``saturation_reasons`` says why in plain words. Such
numbers describe the load generator as much as the service, and every consumer (CLI summary,
stored row, DAG log) says so.

**Processes.** ``LoadSettings.processes = K > 1`` spreads one service's load over K worker
processes (``spawn``): requests, concurrency, warm-up and rate are split (the open-loop
timelines interleave: process k sends arrivals k, k+K, k+2K, ... of the global schedule), the
processes start each endpoint's counted phase together, and their parts merge exactly
(histograms add, counts add).

Every outcome is data (as in Vegeta's results.go): a 500, a timeout or a refused connection is
classified into :data:`ERROR_CLASSES`, counted and timed, never raised. Latencies
(``time.perf_counter_ns``) go into HDR histograms in microseconds -- buffered and recorded in
bulk, so the hot path stays a few list appends; the result dict (docs/CONTRACTS.md, "Benchmark
result") carries the encoded histograms, so its size does not grow with the number of requests.

Precedence when several things go wrong: an exception (timeout, reset, ...) decides the class;
otherwise an unexpected status is ``status`` (even when its body is also too large); otherwise a
body over ``max_body_bytes`` is ``body_too_large``. Any response that arrived counts in
``status_codes``. Bodies are read raw (``auto_decompress=False``): the cap is on wire bytes.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import math
import queue
import socket
import ssl
import time
from array import array
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import aiohttp
from yarl import URL

from perf_profiler.analysis import histogram
from perf_profiler.common.aio import run_sync
from perf_profiler.analysis.reduce import add_counts
from perf_profiler.model.targets import LOAD_MODELS, Endpoint, LoadSettings, Service

log = logging.getLogger(__name__)

ERROR_CLASSES: tuple[str, ...] = (
    "status",
    "timeout",
    "connect",
    "dns",
    "tls",
    "protocol",
    "body_too_large",
    "redirect",
    "client",
)
MAX_REDIRECTS = 10
#: A result is ``client_saturated`` when the generator's scheduling lag p99 exceeds
#: ``saturation_limit_ms(latency p99)`` = max(SATURATION_LAG_FLOOR_MS, SATURATION_LAG_FRACTION x
#: latency p99), or when any send was dropped. The lag adds to the latencies it delays, so past
#: this point the generator, not the service, shapes the tail.
#: The floor is twice the event loop's timer granularity (1 ms): below it, lag is timer noise.
SATURATION_LAG_FLOOR_MS = 2.0
SATURATION_LAG_FRACTION = 0.10
#: Open loop: arrivals not sent this long after the end of the schedule are dropped (behind schedule).
LATE_GRACE_S = 0.1
#: Closed loop: period of the event-loop lag probe.
LAG_PROBE_INTERVAL_S = 0.01
#: Samples buffered per histogram before one bulk record (bounded memory, cheap hot path).
_FLUSH_EVERY = 4096
#: Open loop: the dispatcher yields to the event loop after this many back-to-back sends.
_DISPATCH_BURST = 64
#: Worker processes: how long one may wait for the others at an endpoint's start line.
_SYNC_TIMEOUT_S = 3 * 3600.0
#: Worker processes: the counted phase starts this long after the last one is ready.
_SYNC_LEAD_S = 0.05

_DNS_ERROR = getattr(aiohttp, "ClientConnectorDNSError", None)  # aiohttp >= 3.10.7
_TLS_ERRORS = (aiohttp.ClientSSLError, aiohttp.ServerFingerprintMismatch, ssl.SSLError)
_PROTOCOL_ERRORS = (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError)
_CONNECT_ERRNOS = frozenset({errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE})


# --------------------------------------------------------------------------- classification
def classify_error(exc: BaseException) -> str:
    """The error class (one of :data:`ERROR_CLASSES`) of an exception raised by a request."""
    if isinstance(exc, asyncio.TimeoutError):  # also aiohttp.ServerTimeoutError and its subclasses
        return "timeout"
    if _is_dns_error(exc):
        return "dns"
    if isinstance(exc, _TLS_ERRORS):
        return "tls"
    if isinstance(exc, aiohttp.TooManyRedirects):
        return "redirect"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connect"
    if isinstance(exc, _PROTOCOL_ERRORS):
        return "protocol"
    if isinstance(exc, ConnectionError) or (isinstance(exc, OSError) and exc.errno in _CONNECT_ERRNOS):
        return "connect"
    return "client"


def _describe(exc: BaseException) -> str:
    """Short text for logs: type and message, never repr (which can carry request headers)."""
    return f"{type(exc).__name__}: {exc}"[:300]


def _is_dns_error(exc: BaseException) -> bool:
    if _DNS_ERROR is not None and isinstance(exc, _DNS_ERROR):
        return True
    return isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, socket.gaierror)


# --------------------------------------------------------------------------- per-endpoint state
@dataclass(frozen=True)
class _Target:
    """Everything the hot path needs about one endpoint, computed once."""

    method: str
    url: URL
    expected: frozenset[int]
    max_body: int
    kwargs: dict[str, Any]


def _target(base_url: str, endpoint: Endpoint, load: LoadSettings) -> _Target:
    kwargs: dict[str, Any] = {"allow_redirects": True, "max_redirects": MAX_REDIRECTS}
    if endpoint.headers:
        kwargs["headers"] = dict(endpoint.headers)
    if endpoint.body is not None:
        kwargs["data"] = endpoint.body.encode()
    return _Target(
        method=endpoint.method.upper(),
        url=URL(base_url.rstrip("/") + endpoint.path),
        expected=frozenset(endpoint.expected_status),
        max_body=load.max_body_bytes,
        kwargs=kwargs,
    )


@dataclass(frozen=True)
class _Share:
    """This process's part of a service's load: number ``index`` of ``count`` processes."""

    index: int = 0
    count: int = 1

    def part(self, total: int) -> int:
        """This process's share of an integer total (shares differ by at most 1 and add up)."""
        return total // self.count + (1 if self.index < total % self.count else 0)


@dataclass(frozen=True)
class _Plan:
    """The load one process puts on one endpoint: endpoint caps and the share applied."""

    model: str
    concurrency: int  # closed: workers; open: cap on requests in flight
    requests: int | None  # closed loop counted by number (None: by duration)
    duration_s: float | None
    rate: float | None  # the endpoint's whole rate (all processes); closed: a pace cap or None
    warmup: int
    share: _Share

    @property
    def share_rate(self) -> float | None:
        return None if self.rate is None else self.rate / self.share.count


def _plan(load: LoadSettings, endpoint: Endpoint, share: _Share) -> _Plan:
    """Effective per-endpoint load: min of the load's and the endpoint's caps, then this share."""
    concurrency = load.concurrency
    if endpoint.max_concurrency is not None:
        concurrency = min(concurrency, endpoint.max_concurrency)
    rate = load.rate if load.model == "open" else None
    if endpoint.max_rate is not None:
        rate = endpoint.max_rate if rate is None else min(rate, endpoint.max_rate)
    return _Plan(
        model=load.model,
        concurrency=max(1, share.part(concurrency)),
        requests=None if load.duration_s is not None or load.requests is None else share.part(load.requests),
        duration_s=load.duration_s,
        rate=rate,
        warmup=share.part(load.warmup),
        share=share,
    )


class _Samples:
    """Latencies in µs, buffered in an array and recorded into an HDR histogram in bulk."""

    __slots__ = ("hist", "buf")

    def __init__(self) -> None:
        self.hist = histogram.new_histogram()
        self.buf = array("q")

    def add(self, value_us: int) -> None:
        buf = self.buf
        buf.append(value_us)
        if len(buf) >= _FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            histogram.record_many(self.hist, self.buf)
            self.buf = array("q")

    def finish(self) -> Any:
        self.flush()
        return self.hist


class _Tally:
    """Cheap per-sample accumulation for one phase of one endpoint."""

    __slots__ = ("ok", "errors", "status_codes", "latency", "failed", "service", "lag", "first_error",
                 "scheduled", "dropped_cap", "dropped_late")

    def __init__(self, open_loop: bool = False) -> None:
        self.ok = 0
        self.errors = dict.fromkeys(ERROR_CLASSES, 0)
        self.status_codes: dict[int, int] = {}
        self.latency = _Samples()  # successful responses (open loop: from the intended send)
        self.failed = _Samples()  # failed requests
        self.service = _Samples() if open_loop else None  # open loop: from the actual send
        self.lag = _Samples()  # scheduling lag of the generator
        self.first_error: dict[str, str] = {}
        self.scheduled = 0
        self.dropped_cap = 0
        self.dropped_late = 0

    @property
    def requests(self) -> int:
        return self.ok + sum(self.errors.values())


class _Quota:
    """A shared budget of ``n`` requests that workers draw from."""

    __slots__ = ("left",)

    def __init__(self, n: int) -> None:
        self.left = n

    def take(self) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        return True


class _Deadline:
    """Lets workers start requests until ``duration_s`` has passed (in-flight ones finish)."""

    __slots__ = ("until",)

    def __init__(self, duration_s: float) -> None:
        self.until = time.perf_counter() + duration_s

    def take(self) -> bool:
        return time.perf_counter() < self.until


class _Pacer:
    """Closed loop under an endpoint's ``max_rate``: hands out send slots on a fixed timeline."""

    __slots__ = ("t0", "interval", "next", "stride")

    def __init__(self, rate: float, share: _Share, t0_ns: int) -> None:
        self.t0 = t0_ns
        self.interval = 1e9 / rate
        self.next = share.index
        self.stride = share.count

    async def wait(self) -> None:
        due = self.t0 + int(self.next * self.interval)
        self.next += self.stride
        now = time.perf_counter_ns()
        while now < due:
            await asyncio.sleep((due - now) / 1e9)
            now = time.perf_counter_ns()


class _InFlight:
    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0


# --------------------------------------------------------------------------- hot path
async def _read_capped(content: aiohttp.StreamReader, cap: int) -> bool:
    """Read the body to its end; False (and stop reading) as soon as it exceeds ``cap`` bytes."""
    size = 0
    while True:
        chunk = await content.readany()
        if not chunk:
            return True
        size += len(chunk)
        if size > cap:
            return False


async def _exchange(session: aiohttp.ClientSession, target: _Target, tally: _Tally) -> str | None:
    """One HTTP exchange (send -> full body read): None when it succeeded, else its error class."""
    try:
        async with session.request(target.method, target.url, **target.kwargs) as resp:
            status = resp.status
            codes = tally.status_codes
            codes[status] = codes.get(status, 0) + 1
            complete = await _read_capped(resp.content, target.max_body)
            if not complete:
                resp.close()  # drop the connection instead of draining an oversize body
            if status not in target.expected:
                return "status"
            if not complete:
                return "body_too_large"
            return None
    except Exception as exc:  # failures are data: classified and counted, never raised
        error = classify_error(exc)
        if error not in tally.first_error:
            tally.first_error[error] = _describe(exc)
        return error


async def _closed_worker(
    session: aiohttp.ClientSession, target: _Target, tally: _Tally, gate: _Quota | _Deadline,
    pacer: _Pacer | None,
) -> None:
    clock = time.perf_counter_ns
    latency, failed, errors = tally.latency, tally.failed, tally.errors
    while gate.take():
        if pacer is not None:
            await pacer.wait()
        sent = clock()
        error = await _exchange(session, target, tally)
        elapsed_us = (clock() - sent) // 1000
        if error is None:
            tally.ok += 1
            latency.add(elapsed_us)
        else:
            errors[error] += 1
            failed.add(elapsed_us)


async def _watch_loop_lag(lag: _Samples) -> None:
    """Closed loop: how late a periodic timer fires = how long a ready response may wait."""
    clock = time.perf_counter_ns
    period_ns = int(LAG_PROBE_INTERVAL_S * 1e9)
    while True:
        due = clock() + period_ns
        await asyncio.sleep(LAG_PROBE_INTERVAL_S)
        lag.add(max(0, clock() - due) // 1000)


async def _closed(
    session: aiohttp.ClientSession, target: _Target, gate: _Quota | _Deadline, workers: int,
    pacer: _Pacer | None = None,
) -> _Tally:
    """Run ``workers`` closed-loop workers until ``gate`` says stop."""
    tally = _Tally()
    watcher = asyncio.ensure_future(_watch_loop_lag(tally.lag))
    try:
        await asyncio.gather(*(_closed_worker(session, target, tally, gate, pacer) for _ in range(workers)))
    finally:
        watcher.cancel()
    tally.scheduled = tally.requests
    return tally


async def _open_send(
    session: aiohttp.ClientSession, target: _Target, tally: _Tally, intended: int, flight: _InFlight
) -> None:
    """One arrival of the open loop, timed from its intended send time and from the actual one."""
    clock = time.perf_counter_ns
    sent = clock()
    try:
        error = await _exchange(session, target, tally)
    finally:
        flight.n -= 1
    done = clock()
    tally.lag.add((sent - intended) // 1000)
    if error is None:
        tally.ok += 1
        tally.latency.add((done - intended) // 1000)
        tally.service.add((done - sent) // 1000)  # type: ignore[union-attr]
    else:
        tally.errors[error] += 1
        tally.failed.add((done - intended) // 1000)


def scheduled_arrivals(rate: float, duration_s: float) -> int:
    """How many arrivals a schedule of ``rate``/s holds: times ``i / rate`` in ``[0, duration_s)``."""
    return max(0, math.ceil(rate * duration_s - 1e-9))


async def _open(session: aiohttp.ClientSession, target: _Target, plan: _Plan, t0_ns: int) -> _Tally:
    """The open loop: dispatch arrivals ``share.index, share.index + K, ...`` of the global schedule."""
    assert plan.rate is not None and plan.duration_s is not None
    tally = _Tally(open_loop=True)
    clock = time.perf_counter_ns
    interval_ns = 1e9 / plan.rate
    arrivals = range(plan.share.index, scheduled_arrivals(plan.rate, plan.duration_s), plan.share.count)
    tally.scheduled = len(arrivals)
    cap = plan.concurrency
    deadline = t0_ns + int((plan.duration_s + LATE_GRACE_S) * 1e9)
    flight = _InFlight()
    tasks: set[asyncio.Task[None]] = set()
    create_task = asyncio.get_running_loop().create_task
    sleep = asyncio.sleep
    handled = burst = 0
    for i in arrivals:
        intended = t0_ns + int(i * interval_ns)
        now = clock()
        if now < intended:
            burst = 0
            while now < intended:
                # event-loop timers tick in whole ms and round: sleep the whole ms that surely
                # fit, then yield to the loop (responses keep flowing) until the intended time.
                # CPU for precision: a rounded-up timer would send up to 0.5 ms late.
                await sleep((intended - now) // 1_000_000 / 1000)
                now = clock()
        elif burst >= _DISPATCH_BURST:  # behind schedule: still let responses in
            burst = 0
            await sleep(0)
            now = clock()
        if now > deadline:
            break
        handled += 1
        burst += 1
        if flight.n >= cap:
            tally.dropped_cap += 1
            continue
        flight.n += 1
        task = create_task(_open_send(session, target, tally, intended, flight))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    tally.dropped_late = tally.scheduled - handled
    if tasks:
        await asyncio.gather(*tasks)
    return tally


# --------------------------------------------------------------------------- per endpoint / service
def _counted_gate(plan: _Plan) -> tuple[_Quota | _Deadline, int]:
    """The gate of the closed loop's counted phase and how many workers it needs."""
    if plan.duration_s is not None:
        return _Deadline(plan.duration_s), plan.concurrency
    assert plan.requests is not None  # _check_load
    return _Quota(plan.requests), min(plan.concurrency, plan.requests)


def _check_load(load: LoadSettings) -> None:
    """Refuse settings the engine cannot run (``targets`` validation should have caught them)."""
    if load.model not in LOAD_MODELS:
        raise ValueError(f"unsupported load model {load.model!r}; the probe runs {', '.join(LOAD_MODELS)}")
    if load.concurrency < 1:  # aiohttp would read limit=0 as "no limit"
        raise ValueError(f"concurrency must be >= 1, not {load.concurrency}")
    if load.requests is None and load.duration_s is None:
        raise ValueError("load needs requests or duration_s")
    if load.model == "open" and (load.rate is None or load.rate <= 0 or load.duration_s is None):
        raise ValueError("the open model needs rate > 0 and duration_s")
    if not 1 <= load.processes <= load.concurrency:
        raise ValueError(f"processes must be between 1 and concurrency, not {load.processes}")


class _Sync:
    """Lines the worker processes of one service up before each endpoint's counted phase."""

    def __init__(self, barrier: Any, start: Any) -> None:
        self.barrier = barrier
        self.start = start

    async def start_line(self) -> int:
        """Wait for every process (blocking: nothing else runs between phases); the common t0."""
        self.barrier.wait(timeout=_SYNC_TIMEOUT_S)
        t0_ns = time.perf_counter_ns() + int((self.start.value - time.time()) * 1e9)
        delay = (t0_ns - time.perf_counter_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        return t0_ns


def _pick_start(start: Any) -> None:
    """Barrier action (runs in one process): the wall-clock start of the next counted phase."""
    start.value = time.time() + _SYNC_LEAD_S


async def _probe_endpoint(
    session: aiohttp.ClientSession, service: Service, endpoint: Endpoint, share: _Share, sync: _Sync | None
) -> dict[str, Any]:
    load = service.load
    plan = _plan(load, endpoint, share)
    target = _target(service.base_url, endpoint, load)
    if plan.warmup > 0:
        await _closed(session, target, _Quota(plan.warmup), min(plan.concurrency, plan.warmup))
    t0_ns = await sync.start_line() if sync is not None else time.perf_counter_ns()
    started_at = time.time()
    if plan.model == "open":
        tally = await _open(session, target, plan, t0_ns)
    else:
        gate, workers = _counted_gate(plan)
        pacer = _Pacer(plan.rate, share, t0_ns) if plan.rate is not None else None
        tally = await _closed(session, target, gate, workers, pacer)
    finished_at = time.time()
    for error_class, example in tally.first_error.items():
        log.info("%s %s: %s %s errors, first: %s",
                 service.name, endpoint.name, tally.errors[error_class], error_class, example)
    return _entry(endpoint, target, plan, tally, started_at, finished_at)


def _entry(
    endpoint: Endpoint, target: _Target, plan: _Plan, tally: _Tally, started_at: float, finished_at: float
) -> dict[str, Any]:
    """The endpoint entry of the benchmark result (docs/CONTRACTS.md)."""
    lag_hist = tally.lag.finish()
    lag = histogram.summarize(lag_hist)
    latency_hist, failed_hist = tally.latency.finish(), tally.failed.finish()
    tail = histogram.summarize(latency_hist if latency_hist.total_count else failed_hist).p99_ms
    reasons = _saturation_reasons(plan, tally, lag.p99_ms, tail)
    return {
        "endpoint": endpoint.name,
        "method": target.method,
        "path": endpoint.path,
        "started_at": started_at,
        "finished_at": finished_at,
        "model": plan.model,
        "rate": plan.share_rate,
        "concurrency": plan.concurrency,
        "duration_s": plan.duration_s,
        "requests": tally.requests,
        "ok": tally.ok,
        "errors": dict(tally.errors),
        "status_codes": {str(code): n for code, n in sorted(tally.status_codes.items())},
        "scheduled": tally.scheduled,
        "dropped": tally.dropped_cap + tally.dropped_late,
        "drops": {"in_flight_cap": tally.dropped_cap, "behind_schedule": tally.dropped_late},
        "latency_hist": histogram.encode(latency_hist),
        "error_hist": histogram.encode(failed_hist),
        "service_hist": None if tally.service is None else histogram.encode(tally.service.finish()),
        "lag_hist": histogram.encode(lag_hist),
        "lag_p50_ms": lag.p50_ms,
        "lag_p99_ms": lag.p99_ms,
        "client_saturated": bool(reasons),
        "saturation_reasons": reasons,
    }


def saturation_limit_ms(latency_p99_ms: float) -> float:
    """The lag p99 above which a result is client-saturated, for a measured latency p99."""
    return max(SATURATION_LAG_FLOOR_MS, SATURATION_LAG_FRACTION * latency_p99_ms)


def _saturation_reasons(plan: _Plan, tally: _Tally, lag_p99_ms: float, latency_p99_ms: float) -> list[str]:
    """Why the generator did not deliver the load it was asked for (empty: it did)."""
    reasons = []
    limit = saturation_limit_ms(latency_p99_ms)
    if lag_p99_ms > limit:
        what = "send lag (actual - intended send time)" if plan.model == "open" else "event-loop lag"
        reasons.append(
            f"{what} p99 {lag_p99_ms:.2f} ms > {limit:.2f} ms (the larger of "
            f"{SATURATION_LAG_FLOOR_MS:g} ms and {SATURATION_LAG_FRACTION:.0%} of the latency p99 "
            f"{latency_p99_ms:.2f} ms)"
        )
    if tally.dropped_cap:
        reasons.append(f"{tally.dropped_cap} of {tally.scheduled} sends dropped: "
                       f"{plan.concurrency} requests already in flight (the cap)")
    if tally.dropped_late:
        reasons.append(f"{tally.dropped_late} of {tally.scheduled} sends dropped: "
                       "the generator fell behind its schedule")
    return reasons


def _session(service: Service, share: _Share) -> aiohttp.ClientSession:
    """One session per run: keep-alive pool sized to the concurrency, no cookies, raw bodies."""
    load = service.load
    connector = aiohttp.TCPConnector(
        limit=max(1, share.part(load.concurrency)),
        limit_per_host=0,
        ssl=service.verify_tls,
        ttl_dns_cache=300,
        enable_cleanup_closed=False,
    )
    timeout = aiohttp.ClientTimeout(total=load.timeout_s, connect=load.connect_timeout_s)
    # auto_decompress=False is safe: bodies are only counted, never interpreted, so the size
    # cap applies to the bytes on the wire and no CPU goes into inflating them.
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,
        raise_for_status=False,
    )


async def probe_service(
    service: Service, share: _Share | None = None, sync: _Sync | None = None
) -> dict[str, Any]:
    """Benchmark every endpoint of ``service`` in turn; the benchmark result dict (CONTRACTS.md).

    ``share``/``sync`` are for the worker processes of ``run_probe`` (this process's part of the
    load and the start line shared with the others).
    """
    _check_load(service.load)
    share = share or _Share()
    started_at = time.time()
    async with _session(service, share) as session:
        endpoints = [await _probe_endpoint(session, service, ep, share, sync) for ep in service.endpoints]
    return {
        "service": service.name,
        "base_url": service.base_url,
        "load": asdict(service.load),
        "started_at": started_at,
        "finished_at": time.time(),
        "endpoints": endpoints,
    }


def _run(coro: Any, use_uvloop: bool | None) -> Any:
    """Run ``coro`` on a fresh event loop (uvloop when asked/installed) and return its result."""
    return run_sync(coro, runner=lambda c: _run_here(c, use_uvloop))


def _run_here(coro: Any, use_uvloop: bool | None) -> Any:
    if use_uvloop is not False:
        try:
            import uvloop
        except ImportError:
            if use_uvloop:
                coro.close()
                raise
            log.debug("uvloop not installed; using the asyncio event loop")
        else:
            return uvloop.run(coro)
    return asyncio.run(coro)


def run_probe(service: Service, use_uvloop: bool | None = None) -> dict[str, Any]:
    """Sync entry point. ``use_uvloop``: None = when installed, True = required, False = asyncio."""
    _check_load(service.load)
    if service.load.processes > 1:
        result = _run_processes(service, use_uvloop)
    else:
        result = _run(probe_service(service), use_uvloop)
    for entry in result["endpoints"]:
        _log_endpoint(service.name, entry)
    return result


def _log_endpoint(service: str, entry: dict[str, Any]) -> None:
    wall_s = entry["finished_at"] - entry["started_at"]
    rate = entry["requests"] / wall_s if wall_s > 0 else 0.0
    model = entry.get("model", "closed")
    if model == "open":
        load = f"open loop {entry['rate']:g}/s, cap {entry['concurrency']} in flight"
    else:
        load = f"closed loop, {entry['concurrency']} in flight"
    log.info(
        "probed %s %s (%s): %s requests (%s ok, %s dropped) in %.2f s, %.0f req/s, lag p99 %.2f ms%s",
        service, entry["endpoint"], load, entry["requests"], entry["ok"], entry.get("dropped", 0),
        wall_s, rate, entry.get("lag_p99_ms", 0.0),
        " -- CLIENT SATURATED: " + "; ".join(entry["saturation_reasons"]) if entry.get("client_saturated") else "",
    )


# --------------------------------------------------------------------------- worker processes
def _process_main(
    service: Service, index: int, count: int, barrier: Any, start: Any, results: Any, use_uvloop: bool | None
) -> None:
    """Body of worker process ``index``: probe its share, report the result or the failure."""
    try:
        result = _run(probe_service(service, _Share(index, count), _Sync(barrier, start)), use_uvloop)
    except BaseException as exc:  # reported to the parent, which raises it
        barrier.abort()
        results.put(("error", index, f"{type(exc).__name__}: {exc}"[:500]))
    else:
        results.put(("ok", index, result))


def _run_processes(service: Service, use_uvloop: bool | None) -> dict[str, Any]:
    """Spread the service's load over ``load.processes`` spawned processes and merge their parts."""
    import multiprocessing

    count = service.load.processes
    ctx = multiprocessing.get_context("spawn")  # fork is unsafe in a threaded task runner
    start = ctx.Value("d", 0.0, lock=False)
    barrier = ctx.Barrier(count, action=partial(_pick_start, start))
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_process_main, name=f"perf-profiler-{index}", daemon=True,
                    args=(service, index, count, barrier, start, results, use_uvloop))
        for index in range(count)
    ]
    started: list[Any] = []
    try:
        for proc in procs:
            proc.start()
            started.append(proc)
        parts = _collect(started, results, barrier, count)
    finally:
        for proc in started:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
    endpoints = [_merge_entries([part["endpoints"][i] for part in parts]) for i in range(len(service.endpoints))]
    return {
        "service": service.name,
        "base_url": service.base_url,
        "load": asdict(service.load),
        "started_at": min(part["started_at"] for part in parts),
        "finished_at": max(part["finished_at"] for part in parts),
        "endpoints": endpoints,
    }


def _collect(procs: list[Any], results: Any, barrier: Any, count: int) -> list[dict[str, Any]]:
    """Every worker's result in index order; raises RuntimeError naming the first failure."""
    parts: dict[int, dict[str, Any]] = {}
    while len(parts) < count:
        try:
            kind, index, payload = results.get(timeout=1.0)
        except queue.Empty:
            dead = [p for p in procs if p.exitcode not in (None, 0)]
            if dead:
                barrier.abort()
                raise RuntimeError(f"worker process {dead[0].name} exited with code {dead[0].exitcode}") from None
            continue
        if kind != "ok":
            barrier.abort()
            raise RuntimeError(f"worker process {index} of {count} failed: {payload}")
        parts[index] = payload
    return [parts[i] for i in range(count)]


def _merge_hists(encoded: list[str | None]) -> str | None:
    if any(e is None for e in encoded):
        return None
    return histogram.encode(histogram.merge(encoded))  # type: ignore[arg-type]


def _merge_entries(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One endpoint entry from the worker processes' parts (exact: histograms and counts add)."""
    first = parts[0]
    lag_hist = _merge_hists([p["lag_hist"] for p in parts])
    lag = histogram.summarize(histogram.decode(lag_hist))  # type: ignore[arg-type]
    reasons = [f"process {i}: {r}" for i, p in enumerate(parts) for r in p["saturation_reasons"]]
    return {
        "endpoint": first["endpoint"],
        "method": first["method"],
        "path": first["path"],
        "started_at": min(p["started_at"] for p in parts),
        "finished_at": max(p["finished_at"] for p in parts),
        "model": first["model"],
        "rate": None if first["rate"] is None else sum(p["rate"] for p in parts),
        "concurrency": sum(p["concurrency"] for p in parts),
        "duration_s": first["duration_s"],
        "requests": sum(p["requests"] for p in parts),
        "ok": sum(p["ok"] for p in parts),
        "errors": add_counts([p["errors"] for p in parts]),
        "status_codes": dict(sorted(add_counts([p["status_codes"] for p in parts]).items(),
                                    key=lambda item: int(item[0]))),
        "scheduled": sum(p["scheduled"] for p in parts),
        "dropped": sum(p["dropped"] for p in parts),
        "drops": add_counts([p["drops"] for p in parts]),
        "latency_hist": _merge_hists([p["latency_hist"] for p in parts]),
        "error_hist": _merge_hists([p["error_hist"] for p in parts]),
        "service_hist": _merge_hists([p["service_hist"] for p in parts]),
        "lag_hist": lag_hist,
        "lag_p50_ms": lag.p50_ms,
        "lag_p99_ms": lag.p99_ms,
        "client_saturated": any(p["client_saturated"] for p in parts),
        "saturation_reasons": reasons,
    }
