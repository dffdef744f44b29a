"""results: one builder for the endpoint entry, fed by one process or by the merge of several."""
from __future__ import annotations

import json

from perf_profiler.analysis import histogram
from perf_profiler.engine.exchange import request_spec
from perf_profiler.engine.plan import Share, plan_endpoint
from perf_profiler.engine.recorders import EndpointRecorder
from perf_profiler.engine.results import merge_entries, recorded_entry, service_result
from perf_profiler.model.result import BenchmarkResult, EndpointResult
from perf_profiler.model.targets import Endpoint, LoadSettings, Service

LOAD = LoadSettings(model="open", requests=None, duration_s=1.0, rate=100.0, concurrency=10, processes=2)
ENDPOINT = Endpoint(path="/x", name="x")


def part(index: int, ok: int, lag_us: int, dropped_cap: int = 0) -> EndpointResult:
    """The entry of process ``index`` of 2: ``ok`` successes at 1 ms, one timeout at 2 ms."""
    recorder = EndpointRecorder(open_loop=True)
    service = recorder.service
    assert service is not None
    for _ in range(ok):
        recorder.ok += 1
        recorder.latency.add(1000)
        service.add(900)
        recorder.status_codes[200] = recorder.status_codes.get(200, 0) + 1
    recorder.errors["timeout"] += 1
    recorder.failed.add(2000)
    recorder.lag.add(lag_us)
    recorder.dropped_cap = dropped_cap
    recorder.scheduled = recorder.requests + dropped_cap
    plan = plan_endpoint(LOAD, ENDPOINT, Share(index, 2))
    spec = request_spec("http://h", ENDPOINT, LOAD)
    return recorded_entry(ENDPOINT, spec, plan, recorder, 10.0 + index, 20.0 + index)


def count(encoded: str | None) -> int:
    assert encoded is not None
    return histogram.summarize(histogram.decode(encoded)).count


def test_one_process_entry_has_every_key_of_the_contract_and_derives_the_rest() -> None:
    entry = part(0, ok=4, lag_us=100, dropped_cap=2)
    assert set(entry) == EndpointResult.__required_keys__ | EndpointResult.__optional_keys__
    assert (entry["requests"], entry["scheduled"], entry["dropped"]) == (5, 7, 2)
    assert entry["drops"] == {"in_flight_cap": 2, "behind_schedule": 0}
    assert entry["rate"] == 50.0 and entry["concurrency"] == 5
    assert entry["client_saturated"] and entry["saturation_reasons"] == [
        "2 of 7 sends dropped: 5 requests already in flight (the cap)"]
    assert json.loads(json.dumps(entry)) == entry


def test_merged_entry_adds_exactly_and_keeps_the_same_keys_in_the_same_order() -> None:
    first, second = part(0, ok=4, lag_us=100), part(1, ok=6, lag_us=50_000)
    merged = merge_entries([first, second])
    assert list(merged) == list(first)
    assert (merged["requests"], merged["ok"], merged["errors"]["timeout"], merged["scheduled"]) == (12, 10, 2, 12)
    assert merged["status_codes"] == {"200": 10}
    assert (merged["rate"], merged["concurrency"]) == (100.0, 10)
    assert (merged["started_at"], merged["finished_at"]) == (10.0, 21.0)
    assert (count(merged["latency_hist"]), count(merged["error_hist"]), count(merged["service_hist"])) == (10, 2, 10)
    assert count(merged["lag_hist"]) == 2 and merged["lag_p99_ms"] > 40.0
    # saturated when any part was; each reason names its process
    assert not first["client_saturated"] and second["client_saturated"]
    assert merged["client_saturated"]
    assert merged["saturation_reasons"] == [f"process 1: {r}" for r in second["saturation_reasons"]]


def test_service_result_wraps_the_entries() -> None:
    service = Service(name="svc", base_url="http://h", endpoints=(ENDPOINT,), load=LOAD)
    result: BenchmarkResult = service_result(service, 1.0, 2.0, [part(0, ok=1, lag_us=10)], "fast")
    assert set(result) == BenchmarkResult.__required_keys__ | {"engine"}
    assert result["engine"] == "fast"
    assert (result["service"], result["base_url"], result["load"]["rate"]) == ("svc", "http://h", 100.0)
