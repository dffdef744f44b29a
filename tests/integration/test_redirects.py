"""Redirects stay on the service's origin; secret headers never leave it (issue 10, class 1).

Two real aiohttp servers on 127.0.0.1 (different ports, so different origins). Each records every
request it receives (method, path, headers, body). ``/to?url=<url>&code=<3xx>`` redirects there,
``/hop/<n>?code=<3xx>&ms=<delay>`` redirects to ``/hop/<n-1>`` until ``/hop/0`` (200),
``/loop`` redirects to itself, ``/echo`` answers 200.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web

from perf_profiler.engine.classify import ERROR_CLASSES
from perf_profiler.engine.exchange import exchange, make_session, request_spec
from perf_profiler.engine.plan import Share
from perf_profiler.engine.recorders import EndpointRecorder
from perf_profiler.engine.redirects import redirect_policy
from perf_profiler.engine.runner import run_probe
from perf_profiler.model.errors import TargetsError
from perf_profiler.model.result import EndpointResult
from perf_profiler.model.secret_headers import with_secret_headers
from perf_profiler.model.targets import Endpoint, Service
from servers import HOST, LoopThread

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("either_engine")]  # every test, both engines

SECRET = "canary-signature-value-1234"
N = 6  # counted requests per endpoint


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class RecordingServer:
    """An aiohttp server on 127.0.0.1:<free port> recording every request it receives."""

    seen: list[Seen] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(Seen(request.method, request.path, dict(request.headers), await request.read()))
        code = int(request.query.get("code", "302"))
        if request.path == "/to":
            return web.Response(status=code, headers={"Location": request.query["url"]})
        if request.path == "/loop":
            return web.Response(status=302, headers={"Location": "/loop"})
        if request.path.startswith("/hop/"):
            await asyncio.sleep(int(request.query.get("ms", "0")) / 1000)
            n = int(request.path.rsplit("/", 1)[1])
            if n > 0:
                return web.Response(status=code, headers={"Location": f"/hop/{n - 1}?{request.query_string}"})
        return web.Response(text="ok")

    async def _setup(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]


@pytest.fixture
def servers() -> Iterator[tuple[RecordingServer, RecordingServer]]:
    loop = LoopThread("redirect-servers")
    pair = (RecordingServer(), RecordingServer())
    try:
        for srv in pair:
            loop.call(srv._setup())
        yield pair
    finally:
        for srv in pair:
            loop.call(srv._runner.cleanup())
        loop.close()


def _service(url: str, *endpoints: dict[str, Any], **extra: Any) -> Service:
    return Service.model_validate({"name": "svc", "base_url": url, "endpoints": list(endpoints),
                                   "load": {"requests": N, "concurrency": 2, "warmup": 0}, **extra})


def _only(service: Service) -> EndpointResult:
    (ep,) = run_probe(service)["endpoints"]
    return ep


def _errors(**counts: int) -> dict[str, int]:
    return {**dict.fromkeys(ERROR_CLASSES, 0), **counts}


def test_cross_origin_redirect_is_refused_by_default(servers, caplog: pytest.LogCaptureFixture) -> None:
    a, b = servers
    target = f"{b.url}/echo?sig={SECRET}"
    svc = with_secret_headers(_service(a.url, {"path": f"/to?url={quote(target)}", "name": "away",
                                               "headers": {"X-Plain": "p"}}), {"X-Signature": SECRET})
    with caplog.at_level(logging.INFO, logger="perf_profiler"):
        ep = _only(svc)
    assert b.seen == [], "the other origin received a request"
    assert ep["ok"] == 0 and ep["errors"] == _errors(redirect=N)
    assert ep["status_codes"] == {"302": N} and ep["redirects"] == 0
    assert len(a.seen) == N and all(s.headers["X-Signature"] == SECRET for s in a.seen)
    reason = next(r.getMessage() for r in caplog.records if "redirect errors, first:" in r.getMessage())
    assert f"cross-origin redirect to {b.url} refused" in reason and "redirect_origins" in reason
    assert SECRET not in caplog.text and "/echo" not in reason


def test_same_origin_redirects_are_followed_and_counted(servers) -> None:
    a, b = servers
    svc = _service(a.url, {"path": "/hop/3", "name": "chain"},
                   {"path": f"/to?url={quote(a.url + '/echo')}", "name": "absolute"},
                   {"path": "/to?url=/echo&code=308", "name": "relative"})
    chain, absolute, relative = run_probe(svc)["endpoints"]
    assert chain["ok"] == N and chain["redirects"] == 3 * N and chain["status_codes"] == {"200": N}
    assert absolute["ok"] == N and absolute["redirects"] == N
    assert relative["ok"] == N and relative["redirects"] == N
    assert sum(s.path == "/echo" for s in a.seen) == 2 * N and b.seen == []


@pytest.mark.parametrize("processes", [1, 2])
def test_an_allowed_origin_is_followed_without_the_secret_headers(servers, processes: int) -> None:
    a, b = servers
    svc = _service(a.url, {"path": f"/to?url={quote(b.url + '/echo')}", "headers": {"X-Plain": "p"}},
                   redirect_origins=[b.url + "/"], load={"requests": N, "concurrency": 2, "warmup": 0,
                                                         "processes": processes})
    svc = with_secret_headers(svc, {"X-Signature": SECRET, "X-Custom": "custom-secret"})
    ep = _only(svc)
    assert ep["ok"] == N and ep["redirects"] == N and ep["errors"] == _errors()
    assert len(b.seen) == N
    for seen in b.seen:
        assert seen.headers.get("X-Plain") == "p", "a plain header follows the redirect"
        assert "X-Signature" not in seen.headers and "X-Custom" not in seen.headers
        assert SECRET not in str(seen.headers)
    assert all(s.headers.get("X-Signature") == SECRET for s in a.seen), "the service's own origin gets them"


def test_an_allowed_origin_does_not_allow_others(servers) -> None:
    a, b = servers
    svc = _service(a.url, {"path": f"/to?url={quote(b.url + '/echo')}"},
                   redirect_origins=[f"http://{HOST}:{b.port + 1 if b.port < 65535 else 1}"])
    ep = _only(svc)
    assert ep["errors"] == _errors(redirect=N) and b.seen == []


def test_a_redirect_loop_is_a_redirect_error_after_ten_hops(servers) -> None:
    a, _ = servers
    ep = _only(_service(a.url, {"path": "/loop"}))
    assert ep["errors"] == _errors(redirect=N) and ep["redirects"] == 10 * N
    assert len(a.seen) == 11 * N  # the request and its 10 redirects, then the 11th is refused


def test_redirects_share_the_request_timeout(servers) -> None:
    a, _ = servers
    svc = _service(a.url, {"path": "/hop/4?ms=150"}, load={"requests": 2, "concurrency": 1, "warmup": 0,
                                                             "timeout_s": 0.4})
    ep = _only(svc)
    assert ep["errors"] == _errors(timeout=2), "5 responses of 150 ms each do not fit in one 0.4 s timeout"


@pytest.mark.parametrize(("code", "method", "sent_method", "body_kept"), [
    (303, "POST", "GET", False), (303, "PUT", "GET", False), (303, "HEAD", "HEAD", False),
    (302, "POST", "GET", False), (301, "POST", "GET", False), (302, "PUT", "PUT", True),
    (307, "POST", "POST", True), (308, "PUT", "PUT", True),
])
def test_the_method_after_a_redirect(servers, code: int, method: str, sent_method: str, body_kept: bool) -> None:
    a, _ = servers
    endpoint = Endpoint.model_validate({"path": f"/to?url=/echo&code={code}", "method": method,
                                        "headers": {"Content-Type": "application/json", "X-Plain": "p"},
                                        "body": None if method == "HEAD" else '{"k": 1}'})
    service = _service(a.url, {"path": "/echo"})
    recorder = EndpointRecorder()

    async def one() -> str | None:
        async with make_session(service, Share()) as session:
            return await exchange(session, request_spec(a.url, endpoint, service.load, redirect_policy(service)),
                                  recorder)

    assert asyncio.run(one()) is None
    assert recorder.redirects == 1 and recorder.status_codes == {200: 1}
    first, second = a.seen
    assert (first.method, second.method, second.path) == (method, sent_method, "/echo")
    assert second.headers["X-Plain"] == "p"
    assert second.body == (b'{"k": 1}' if body_kept else b"")
    # a body dropped takes its Content-Type along; an unchanged method keeps every header
    assert ("Content-Type" in second.headers) == (sent_method == method)


def test_redirect_origins_are_validated_as_origins() -> None:
    svc = _service("http://127.0.0.1:1", {"path": "/"},
                   redirect_origins=["HTTPS://CDN.Example.com:443", "http://127.0.0.1:8002/", "https://cdn.example.com"])
    assert svc.redirect_origins == ("https://cdn.example.com", "http://127.0.0.1:8002")
    assert _service("http://x", {"path": "/"}).redirect_origins == ()
    for bad, words in [("ftp://cdn", "redirect_origins[0]"), ("https://cdn/path", '"https://cdn/path"'),
                       ("https://cdn?x=1", "redirect_origins[0]"), ("cdn.example.com", "an origin"),
                       ("https://user:pw@cdn", "credentials")]:
        with pytest.raises(TargetsError) as info:
            _service("http://x", {"path": "/"}, redirect_origins=[bad])
        assert words in str(info.value), str(info.value)
        assert "pw@" not in str(info.value)
    with pytest.raises(TargetsError, match="redirect_origins: expected a list of origins"):
        _service("http://x", {"path": "/"}, redirect_origins="https://cdn")
