"""Simulated services for the demo: the original report's four services on their ports.

Each answers ``GET /healthz`` after a delay drawn from a seeded log-normal distribution:
registry and insight-engine are fast, runtime answers some 5xx, predictive-engine is slow
enough to break P-6 (p95 well above 800 ms). The insight-engine also plays the Insight Engine:
it keeps every ``POST /metrics/import`` it receives and lists them at ``GET /metrics/received``.
"""
from __future__ import annotations

import asyncio
import logging
import math
import random
import signal
from dataclasses import dataclass

from aiohttp import web

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimulatedService:
    name: str
    port: int
    median_ms: float
    sigma: float
    error_rate: float = 0.0


SERVICES = (
    SimulatedService("registry", 8001, median_ms=20.0, sigma=0.35),
    SimulatedService("runtime", 8002, median_ms=45.0, sigma=0.45, error_rate=0.03),
    SimulatedService("insight-engine", 8003, median_ms=12.0, sigma=0.3),
    SimulatedService("predictive-engine", 8010, median_ms=620.0, sigma=0.3),
)

RECEIVED_KEY = web.AppKey("received", list)


def _healthz(service: SimulatedService, rng: random.Random):
    async def handler(request: web.Request) -> web.Response:
        delay_s = service.median_ms * math.exp(rng.gauss(0.0, service.sigma)) / 1000.0
        await asyncio.sleep(delay_s)
        if service.error_rate and rng.random() < service.error_rate:
            return web.json_response({"status": "error", "service": service.name}, status=503)
        return web.json_response({"status": "ok", "service": service.name})

    return handler


async def _import_metrics(request: web.Request) -> web.Response:
    payload = await request.json()
    key = request.headers.get("Idempotency-Key", "")
    received = request.app[RECEIVED_KEY]
    duplicate = any(item["idempotency_key"] == key for item in received) if key else False
    if not duplicate:
        received.append({"idempotency_key": key, "payload": payload})
    return web.json_response({"accepted": True, "duplicate": duplicate})


async def _list_received(request: web.Request) -> web.Response:
    return web.json_response(request.app[RECEIVED_KEY])


def build_app(service: SimulatedService, seed: int) -> web.Application:
    app = web.Application()
    rng = random.Random(f"{seed}:{service.name}")
    app.router.add_get("/healthz", _healthz(service, rng))
    if service.name == "insight-engine":
        app[RECEIVED_KEY] = []
        app.router.add_post("/metrics/import", _import_metrics)
        app.router.add_get("/metrics/received", _list_received)
    return app


async def start(host: str = "127.0.0.1", port_offset: int = 0, seed: int = 6) -> list[web.AppRunner]:
    """Start every simulated service; returns the runners (call ``cleanup()`` on each to stop)."""
    runners = []
    for service in SERVICES:
        runner = web.AppRunner(build_app(service, seed), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, service.port + port_offset).start()
        runners.append(runner)
        log.info("serving %s on %s:%s", service.name, host, service.port + port_offset)
    return runners


async def _serve(host: str, port_offset: int, seed: int) -> None:
    runners = await start(host, port_offset, seed)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print("demo services ready: " + ", ".join(
        f"{s.name}=http://{host}:{s.port + port_offset}" for s in SERVICES), flush=True)
    await stop.wait()
    for runner in runners:
        await runner.cleanup()


def serve_forever(host: str = "127.0.0.1", port_offset: int = 0, seed: int = 6) -> None:
    """Serve the simulated services until SIGINT or SIGTERM."""
    logging.basicConfig(level=logging.INFO)
    asyncio.run(_serve(host, port_offset, seed))
