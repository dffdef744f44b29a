"""Which engine probes a service: the fast raw-protocol path or aiohttp (``LoadSettings.engine``).

* ``aiohttp`` -- always the aiohttp engine (``exchange``): TLS, every redirect, the reference.
* ``fast`` -- the raw HTTP/1.1 path (``fast_*``): plain ``http://`` only; it needs httptools and
  refuses to run without it. An ``https://`` service is probed by aiohttp (said in the log).
* ``auto`` (the default) -- fast for a plain ``http://`` service when httptools is importable,
  else aiohttp. uvloop, when installed, runs under both (``probe.run_on_loop``).

Within the fast engine, a redirect response is handed to aiohttp for the rest of its exchange.

:data:`ENGINE_ENV` (``PERF_PROFILER_ENGINE=fast|aiohttp``) says what ``auto`` means on this
machine (an operator's switch, and how the test suite runs every engine test against both
engines); a service that names its engine keeps it.
"""
from __future__ import annotations

import importlib.util
import logging
import os
from typing import Literal

from yarl import URL

from perf_profiler.model.targets import Service

log = logging.getLogger(__name__)

EngineName = Literal["fast", "aiohttp"]
#: Environment variable: what ``engine: auto`` means here (``fast`` or ``aiohttp``; unset: decide).
ENGINE_ENV = "PERF_PROFILER_ENGINE"


class FastEngineUnavailable(RuntimeError):
    """``engine: fast`` was asked for, but httptools is not installed."""


def fast_available() -> bool:
    """Whether the fast engine's parser (httptools) is importable."""
    return importlib.util.find_spec("httptools") is not None


def choose_engine(service: Service) -> EngineName:
    """The engine that probes ``service``, from its ``load.engine`` and what can run here."""
    asked = service.load.engine
    if asked == "auto" and os.environ.get(ENGINE_ENV) in ("fast", "aiohttp"):
        asked = os.environ[ENGINE_ENV]  # type: ignore[assignment]  # checked just above
    if asked == "aiohttp":
        return "aiohttp"
    if URL(service.base_url).scheme != "http":
        if asked == "fast":
            log.warning("service %s: engine fast runs plain http:// only; %s is probed by aiohttp",
                        service.name, URL(service.base_url).scheme)
        return "aiohttp"
    if fast_available():
        return "fast"
    if asked == "fast":
        raise FastEngineUnavailable(f"service {service.name!r}: engine 'fast' needs httptools (pip install httptools)")
    return "aiohttp"
