"""tasks.progress: the benchmark task's periodic progress line during a real probe."""
from __future__ import annotations

import logging

import pytest

from perf_profiler.engine.runner import run_probe
from perf_profiler.model.targets import Endpoint, LoadSettings, Service
from perf_profiler.tasks.progress import DEFAULT_EVERY_S, log_progress, progress_log_every_s
from servers import BenchServer


def test_the_status_line_is_logged_while_the_probe_runs(caplog: pytest.LogCaptureFixture) -> None:
    service = Service(name="svc", base_url="http://127.0.0.1:1", endpoints=(Endpoint(path="/delay/5"),),
                      load=LoadSettings(duration_s=1.6, concurrency=2, warmup=0))
    with BenchServer() as server, caplog.at_level(logging.INFO, logger="perf_profiler.tasks.progress"), \
            log_progress("svc", every_s=0.5):
        result = run_probe(service.revised(base_url=server.url))
    lines = [r.getMessage() for r in caplog.records if r.name == "perf_profiler.tasks.progress"]
    assert len(lines) >= 2, lines
    assert all(line.startswith("progress of svc: [1/1] svc /delay/5 counted") for line in lines), lines
    assert "req/s" in lines[-1] and "s/1.6s" in lines[-1]
    counted = int(lines[-1].split("counted ")[1].split("  ")[1].split(" req")[0].replace(",", ""))
    assert 0 < counted <= result["endpoints"][0]["requests"]


def test_zero_turns_it_off(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO), log_progress("svc", every_s=0):
        pass
    assert not caplog.records


def test_the_period_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert progress_log_every_s() == DEFAULT_EVERY_S
    monkeypatch.setenv("AIRFLOW__PERF_PROFILER__PROGRESS_LOG_EVERY_S", "5")
    assert progress_log_every_s() == 5.0
    monkeypatch.setenv("AIRFLOW__PERF_PROFILER__PROGRESS_LOG_EVERY_S", "soon")
    with pytest.raises(ValueError, match="progress_log_every_s"):
        progress_log_every_s()


def test_the_benchmark_task_logs_it(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    from perf_profiler.tasks import measure

    monkeypatch.setenv("AIRFLOW__PERF_PROFILER__PROGRESS_LOG_EVERY_S", "0.5")
    with BenchServer() as server, caplog.at_level(logging.INFO, logger="perf_profiler.tasks.progress"):
        measure.benchmark({"name": "svc", "base_url": server.url, "endpoints": [{"path": "/delay/5"}],
                           "load": {"duration_s": 1.6, "concurrency": 2, "warmup": 0}})
    lines = [r.getMessage() for r in caplog.records if r.name == "perf_profiler.tasks.progress"]
    assert len(lines) >= 2 and lines[0].startswith("progress of svc: "), lines
