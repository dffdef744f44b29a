"""Open-loop load, coordinated-omission correction, client saturation, worker processes.

Real servers only: ``bench/stall_server.py`` in a subprocess (so its stalls do not share our GIL)
and the aiohttp test app of tests/servers.py. Margins are wide enough for a shared, busy CI box.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from perf_profiler.analysis import histogram
from perf_profiler.engine.classify import ERROR_CLASSES
from perf_profiler.engine.plan import scheduled_arrivals
from perf_profiler.engine.runner import run_probe
from perf_profiler.engine.saturation import saturation_limit_ms
from perf_profiler.model.result import BenchmarkResult
from perf_profiler.model.targets import Endpoint, LoadSettings, Service
from servers import BenchServer

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("either_engine")]  # every test, both engines

REPO = Path(__file__).resolve().parents[2]
STALL_S, PERIOD_S = 0.4, 1.0


@pytest.fixture(scope="module")
def stall_server() -> Iterator[str]:
    """bench/stall_server.py: every response held during the first 0.4 s of every second."""
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "stall_server.py"), "--port", "0",
         "--stall", str(STALL_S), "--period", str(PERIOD_S)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None  # stdout=PIPE
        line = proc.stdout.readline()
        assert line.startswith("LISTENING "), line
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def server() -> Iterator[BenchServer]:
    with BenchServer() as srv:
        yield srv


def probe(url: str, *endpoints: Endpoint, **load: Any) -> BenchmarkResult:
    settings = LoadSettings(**{"warmup": 0, **load})
    service = Service(name="svc", base_url=url, endpoints=endpoints or (Endpoint(path="/"),), load=settings)
    return run_probe(service)


def stats(encoded: str | None) -> histogram.LatencyStats:
    assert encoded is not None  # service_hist is None in closed-loop entries only
    return histogram.summarize(histogram.decode(encoded))


def analytic_ms(q: float) -> float:
    """Corrected latency at quantile q (0..1) of an open loop against the stall server.

    Arrivals come at a constant rate over a whole number of periods T, so the phase u of an
    arrival within its period is uniform on [0, T). An arrival with u < S waits for the stall to
    end, S - u; any other is answered at once (service time ~0 next to S). Hence
    P(latency > x) = (S - x) / T for 0 <= x < S, and the q-quantile is S - T * (1 - q) when
    q > 1 - S/T (here: q > 0.6), else ~0. With S = 0.4 s, T = 1 s: p90 = 300 ms,
    p99 = 390 ms, p99.9 = 399 ms, p50 ~ 0.
    """
    return max(0.0, STALL_S - PERIOD_S * (1.0 - q)) * 1000.0


# --------------------------------------------------------------------------- coordinated omission
def test_open_loop_reports_the_stall_that_the_closed_loop_hides(stall_server: str) -> None:
    rate, duration = 200.0, 3 * PERIOD_S  # a whole number of periods; 80 requests pile up per stall
    opened = probe(stall_server, model="open", rate=rate, duration_s=duration, concurrency=400, warmup=5)
    (ep,) = opened["endpoints"]
    assert ep["model"] == "open" and ep["rate"] == rate
    assert ep["scheduled"] == scheduled_arrivals(rate, duration) == 600
    assert ep["dropped"] == 0 and ep["requests"] == ep["ok"] == 600
    corrected = stats(ep["latency_hist"])
    for q, measured in ((0.90, corrected.p90_ms), (0.99, corrected.p99_ms), (0.999, corrected.p999_ms)):
        expected = analytic_ms(q)
        assert abs(measured - expected) <= 0.10 * expected, (q, measured, expected, ep["lag_p99_ms"])
    assert corrected.p50_ms < 50.0  # outside the stall the server answers at once

    closed = probe(stall_server, model="closed", requests=None, duration_s=2 * PERIOD_S, concurrency=4, warmup=5)
    (cl,) = closed["endpoints"]
    hidden = stats(cl["latency_hist"])
    # 4 workers meet each stall once, then send thousands of fast requests: the stall is < 1 %
    assert cl["ok"] > 200
    assert hidden.p99_ms < analytic_ms(0.99) / 4, (hidden, cl["ok"])


# --------------------------------------------------------------------------- drops and saturation
def test_dropped_sends_are_counted_never_skipped(server: BenchServer) -> None:
    # 100 arrivals/s at a 100 ms endpoint need ~10 in flight; the cap is 4
    result = probe(server.url, Endpoint(path="/delay/100"), model="open", rate=100.0, duration_s=1.0, concurrency=4)
    (ep,) = result["endpoints"]
    assert ep["scheduled"] == 100
    assert ep["requests"] + ep["dropped"] == ep["scheduled"]
    assert ep["drops"]["in_flight_cap"] == ep["dropped"] >= 40
    assert server.stats.hits["/delay/100"] == ep["requests"] == ep["ok"]
    assert server.stats.max_in_flight <= 4
    assert ep["client_saturated"] is True
    assert any("in flight" in reason for reason in ep["saturation_reasons"]), ep["saturation_reasons"]


def test_a_rate_the_generator_cannot_reach_is_flagged_saturated(server: BenchServer) -> None:
    # 20,000 arrivals/s from one Python process sharing its GIL with the server thread
    result = probe(server.url, Endpoint(path="/ok"), model="open", rate=20_000.0, duration_s=0.5, concurrency=1000)
    (ep,) = result["endpoints"]
    assert ep["scheduled"] == 10_000
    assert ep["requests"] + ep["dropped"] == ep["scheduled"]
    assert ep["client_saturated"] is True
    # The generator falls behind as late sends, dropped sends or both, depending on the engine and
    # how busy the machine is; each reason given must match what was measured.
    reasons = ep["saturation_reasons"]
    latency_p99 = stats(ep["latency_hist"]).p99_ms
    lagging = ep["lag_p99_ms"] > saturation_limit_ms(latency_p99)
    assert lagging == any(r.startswith("send lag") for r in reasons), (ep["lag_p99_ms"], latency_p99, reasons)
    assert (ep["dropped"] > 0) == any("dropped" in r for r in reasons), (ep["dropped"], reasons)
    assert lagging or ep["dropped"] > 0, reasons
    assert stats(ep["lag_hist"]).count == ep["requests"]


def test_open_loop_result_contract(server: BenchServer) -> None:
    result = probe(server.url, Endpoint(path="/delay/5"), model="open", rate=100.0, duration_s=0.5, concurrency=50)
    assert json.loads(json.dumps(result)) == result
    (ep,) = result["endpoints"]
    assert {"model", "rate", "concurrency", "scheduled", "dropped", "drops", "latency_hist", "error_hist",
            "service_hist", "lag_hist", "lag_p50_ms", "lag_p99_ms", "client_saturated",
            "saturation_reasons"} <= set(ep)
    assert set(ep["errors"]) == set(ERROR_CLASSES)
    assert ep["scheduled"] == 50 == ep["requests"] + ep["dropped"]
    corrected, service = stats(ep["latency_hist"]), stats(ep["service_hist"])
    assert corrected.count == service.count == ep["ok"]
    assert stats(ep["lag_hist"]).count == ep["requests"]
    # corrected = lag + service for every request, so it can never be the smaller one
    assert corrected.p50_ms >= service.p50_ms >= 5.0
    assert corrected.max_ms >= service.max_ms
    # the schedule paces the sends: 50 arrivals over 0.5 s
    assert 0.45 <= ep["finished_at"] - ep["started_at"] < 2.0


def test_closed_loop_carries_lag_and_no_separate_service_histogram(server: BenchServer) -> None:
    result = probe(server.url, Endpoint(path="/delay/20"), requests=None, duration_s=0.3, concurrency=2)
    (ep,) = result["endpoints"]
    assert ep["model"] == "closed" and ep["rate"] is None
    assert ep["service_hist"] is None  # the closed loop's latency is the service time
    assert ep["scheduled"] == ep["requests"] and ep["dropped"] == 0
    assert stats(ep["lag_hist"]).count >= 10  # the event-loop lag probe ticks every 10 ms
    assert isinstance(ep["client_saturated"], bool)


# --------------------------------------------------------------------------- endpoint safety caps
def test_endpoint_caps_bound_rate_and_concurrency(server: BenchServer) -> None:
    result = probe(
        server.url,
        Endpoint(path="/delay/50", max_concurrency=2),
        Endpoint(path="/ok", max_rate=50.0),
        model="open", rate=200.0, duration_s=0.5, concurrency=8,
    )
    capped_concurrency, capped_rate = result["endpoints"]
    assert capped_concurrency["concurrency"] == 2 and server.stats.max_in_flight <= 8
    assert capped_concurrency["dropped"] > 0  # 200/s x 50 ms needs ~10 in flight
    assert capped_rate["rate"] == 50.0 and capped_rate["scheduled"] == 25
    assert server.stats.hits["/ok"] == 25


def test_closed_loop_obeys_the_endpoint_max_rate(server: BenchServer) -> None:
    started = time.perf_counter()
    result = probe(server.url, Endpoint(path="/ok", max_rate=100.0), requests=21, concurrency=4)
    elapsed = time.perf_counter() - started
    assert result["endpoints"][0]["ok"] == 21
    assert elapsed >= 0.19  # 21 slots 10 ms apart


# --------------------------------------------------------------------------- worker processes
def test_two_processes_split_the_closed_load_and_merge_exactly(server: BenchServer) -> None:
    result = probe(server.url, Endpoint(path="/delay/10"), Endpoint(path="/flaky/5"),
                   requests=41, concurrency=4, warmup=3, processes=2)
    slow, flaky = result["endpoints"]
    assert server.stats.hits["/delay/10"] == 41 + 3
    assert slow["ok"] == slow["requests"] == 41 == stats(slow["latency_hist"]).count
    assert slow["concurrency"] == 4 and server.stats.max_in_flight <= 4
    assert flaky["requests"] == 41 and flaky["ok"] + flaky["errors"]["status"] == 41
    assert stats(flaky["error_hist"]).count == flaky["errors"]["status"] > 0
    assert slow["finished_at"] <= flaky["started_at"]  # endpoints still run one after another


def test_two_processes_interleave_one_open_schedule(server: BenchServer) -> None:
    result = probe(server.url, Endpoint(path="/ok"), model="open", rate=200.0, duration_s=0.5, concurrency=20,
                   processes=2)
    (ep,) = result["endpoints"]
    assert ep["rate"] == 200.0 and ep["concurrency"] == 20
    assert ep["scheduled"] == 100 == ep["requests"] + ep["dropped"]
    assert server.stats.hits["/ok"] == ep["requests"]
    assert stats(ep["service_hist"]).count == stats(ep["latency_hist"]).count == ep["ok"]


#: A main script like the ``airflow`` command inside a task: importing it anywhere but as the
#: main program fails (Airflow's ORM set-up fails in a task process), and it runs 2 workers.
REFUSES_REIMPORT = """
import sys
if __name__ != "__main__":
    raise SystemExit("the parent's main script was re-run in a worker")
from perf_profiler.engine.runner import run_probe
from perf_profiler.model.targets import Endpoint, LoadSettings, Service
service = Service(name="svc", base_url=sys.argv[1], endpoints=(Endpoint(path="/ok"),),
                  load=LoadSettings(requests=20, concurrency=2, warmup=0, processes=2))
print(run_probe(service)["endpoints"][0]["requests"])
"""


@pytest.mark.parametrize("run_as", ["path", "module"])
def test_workers_do_not_rerun_the_parents_main_script(server: BenchServer, tmp_path: Path, run_as: str) -> None:
    script = tmp_path / "parent_main.py"
    script.write_text(REFUSES_REIMPORT)
    command = [str(script)] if run_as == "path" else ["-m", "parent_main"]
    done = subprocess.run([sys.executable, *command, server.url], capture_output=True, text=True, timeout=50,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["20"] and server.stats.hits["/ok"] == 20
    assert "re-run in a worker" not in done.stderr


# --------------------------------------------------------------------------- metrics, rows, CLI
def _part(samples_us: list[int], lag_us: list[int], **extra: Any) -> dict[str, Any]:
    def enc(values: list[int]) -> str:
        h = histogram.new_histogram()
        histogram.record_many(h, values)
        return histogram.encode(h)

    return {
        "endpoint": "/x", "method": "GET", "path": "/x", "started_at": 100.0, "finished_at": 110.0,
        "requests": len(samples_us), "ok": len(samples_us), "errors": dict.fromkeys(ERROR_CLASSES, 0),
        "status_codes": {"200": len(samples_us)}, "latency_hist": enc(samples_us), "error_hist": enc([]),
        "model": "open", "rate": 50.0, "scheduled": len(samples_us), "dropped": 0,
        "service_hist": enc([v // 2 for v in samples_us]), "lag_hist": enc(lag_us),
        "client_saturated": False, "saturation_reasons": [], **extra,
    }


def test_summaries_merge_the_load_fidelity_fields_exactly() -> None:
    from perf_profiler.analysis.reduce import summarize_endpoint

    calm = _part([10_000] * 90, [100] * 90)
    stressed = _part([50_000] * 10, [30_000] * 10, scheduled=14, dropped=4, client_saturated=True,
                     saturation_reasons=["4 of 14 sends dropped"])
    s = summarize_endpoint("svc", "/x", [calm, stressed])
    assert (s.model, s.target_rate, s.scheduled, s.dropped) == ("open", 100.0, 104, 4)
    assert s.client_saturated is True and s.saturation_reasons == ("4 of 14 sends dropped",)
    assert s.error_rate == 0.0  # drops are not requests: counted apart, and they flag the run
    near = pytest.approx  # HDR buckets: within 1/2048 of the recorded value
    assert (s.p99_ms, s.service_p99_ms, s.service_p50_ms) == (
        near(50.0, rel=1e-3), near(25.0, rel=1e-3), near(5.0, rel=1e-3))
    assert (s.lag_p50_ms, s.lag_p99_ms) == (0.1, near(30.0, rel=1e-3))
    assert stats(s.lag_hist).count == 100 and stats(s.service_hist).count == 100


def test_parts_from_before_the_fidelity_fields_read_as_a_closed_loop() -> None:
    from perf_profiler.analysis.reduce import summarize_endpoint

    old = {k: v for k, v in _part([5_000] * 10, []).items()
           if k not in ("model", "rate", "scheduled", "dropped", "service_hist", "lag_hist",
                        "client_saturated", "saturation_reasons")}
    s = summarize_endpoint("svc", "/x", [old])
    assert (s.model, s.dropped, s.client_saturated, s.scheduled, s.target_rate) == ("closed", 0, False, 10, None)
    assert s.service_p95_ms == s.p95_ms == pytest.approx(5.0, rel=1e-3) and s.lag_hist == ""
    with pytest.raises(ValueError, match="several load models"):
        summarize_endpoint("svc", "/x", [old, _part([5_000], [10])])


def test_rows_carry_the_load_fidelity_columns() -> None:
    from perf_profiler.analysis.reduce import summarize_results
    from perf_profiler.analysis.rows import build_rows
    from perf_profiler.model.columns import ROW_COLUMNS
    from perf_profiler.model.identity import RunIdentity

    part = _part([20_000] * 10, [3_000] * 10, dropped=2, scheduled=12, client_saturated=True,
                 saturation_reasons=["2 of 12 sends dropped"])
    (row,) = build_rows(summarize_results([{"service": "svc", "endpoints": [part]}]), {},
                        RunIdentity(dag_id="perf_profiler", run_id="manual__1"))
    assert set(ROW_COLUMNS) <= set(row)
    assert (row["load_model"], row["target_rate"], row["dropped"], row["client_saturated"]) == ("open", 50.0, 2, True)
    assert json.loads(row["saturation_reasons"]) == ["2 of 12 sends dropped"]
    assert row["lag_p99_ms"] == pytest.approx(3.0, rel=1e-3) and row["service_p50_ms"] == pytest.approx(10.0, rel=1e-3)
    assert row["service_hist"]


def test_cli_open_loop_says_plainly_when_the_client_is_saturated(
    server: BenchServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from perf_profiler.cli.main import main

    code = main([
        "probe", f"{server.url}/delay/100", "--rate", "50", "--duration", "0.5s", "-c", "2", "--warmup", "0",
    ])
    out = capsys.readouterr().out
    assert code == 0
    assert "open loop, 50 req/s scheduled: 25 sends" in out
    assert "from the intended send time: corrected" in out and "service time" in out
    assert "CLIENT SATURATED" in out and "dropped" in out
    assert server.stats.max_in_flight <= 2


def test_cli_load_flags_override_a_targets_file(server: BenchServer, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from perf_profiler.cli.main import main

    targets = tmp_path / "targets.json"
    targets.write_text(json.dumps({"services": [
        {"name": "a", "base_url": server.url, "endpoints": [{"path": "/ok"}], "load": {"requests": 5, "warmup": 0}},
        {"name": "b", "base_url": server.url, "endpoints": [{"path": "/echo"}]},
    ]}))
    code = main(["probe", "--targets", str(targets), "--service", "a", "--rate", "40", "--duration", "0.5s", "--json"])
    assert code == 0
    (summary,) = json.loads(capsys.readouterr().out)["summaries"]
    assert (summary["service"], summary["model"], summary["target_rate"], summary["scheduled"]) == (
        "a", "open", 40.0, 20)
    assert server.stats.hits["/ok"] == 20 and server.stats.hits["/echo"] == 0


def test_run_probe_works_when_the_caller_already_runs_an_event_loop(server: BenchServer) -> None:
    import asyncio

    async def caller() -> BenchmarkResult:  # e.g. a notebook, or Playwright's sync API in a session
        return probe(server.url, Endpoint(path="/ok"), requests=5, concurrency=2)

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:  # a thread of its own: this one may already run a loop
        result = pool.submit(asyncio.run, caller()).result(timeout=30)
    assert result["endpoints"][0]["ok"] == 5
