"""Which engine probes a service (``engine: auto | fast | aiohttp``, ``PERF_PROFILER_ENGINE``)."""
from __future__ import annotations

import pytest

from perf_profiler.engine.engine_choice import ENGINE_ENV, choose_engine
from perf_profiler.model.targets import Endpoint, LoadSettings, Service


def _service(url: str, engine: str = "auto") -> Service:
    return Service(name="s", base_url=url, endpoints=(Endpoint(path="/"),),
                   load=LoadSettings(engine=engine))  # type: ignore[arg-type]


def test_auto_is_fast_for_plain_http_and_aiohttp_for_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENGINE_ENV, raising=False)
    assert choose_engine(_service("http://127.0.0.1:1")) == "fast"
    assert choose_engine(_service("https://127.0.0.1:1")) == "aiohttp"


def test_a_named_engine_is_kept_whatever_the_environment_says(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENGINE_ENV, "fast")
    assert choose_engine(_service("http://127.0.0.1:1", "aiohttp")) == "aiohttp"
    monkeypatch.setenv(ENGINE_ENV, "aiohttp")
    assert choose_engine(_service("http://127.0.0.1:1", "fast")) == "fast"
    assert choose_engine(_service("http://127.0.0.1:1")) == "aiohttp", "the environment decides what auto means"


def test_fast_asked_for_a_tls_service_runs_on_aiohttp_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    assert choose_engine(_service("https://127.0.0.1:1", "fast")) == "aiohttp"
    assert "plain http:// only" in caplog.text


def test_an_unknown_engine_is_refused() -> None:
    with pytest.raises(Exception, match="engine"):
        LoadSettings(engine="curl")  # type: ignore[arg-type]
