"""engine.progress: live snapshots of a real probe, their wire form and merge, and the status line."""
from __future__ import annotations

import threading

from perf_profiler.analysis import histogram
from perf_profiler.engine.plan import EndpointPlan, Share
from perf_profiler.engine.progress import PROGRESS, ProgressBoard, ProgressLine, Snapshot, merge_snapshots
from perf_profiler.engine.recorders import EndpointRecorder
from perf_profiler.engine.runner import run_probe
from perf_profiler.model.targets import Endpoint, LoadSettings, Service
from servers import BenchServer

PLAN = EndpointPlan(model="closed", concurrency=2, requests=None, duration_s=10.0, rate=None, warmup=0,
                    share=Share())


def _watch(stop: threading.Event, seen: list[Snapshot]) -> None:
    while not stop.wait(0.1):
        snap = PROGRESS.snapshot()
        if snap is not None:
            seen.append(snap)


def _probe_while_watching(service: Service) -> tuple[dict, list[Snapshot]]:
    seen: list[Snapshot] = []
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(stop, seen))
    watcher.start()
    try:
        result = run_probe(service)
    finally:
        stop.set()
        watcher.join()
    return dict(result), seen


def test_snapshots_follow_a_real_probe_and_never_run_ahead_of_it(server: BenchServer) -> None:
    service = Service(name="svc", base_url=server.url, endpoints=(Endpoint(path="/delay/5"),),
                      load=LoadSettings(duration_s=1.5, concurrency=4, warmup=20))
    result, seen = _probe_while_watching(service)
    final = result["endpoints"][0]
    counted = [s for s in seen if s.phase == "counted"]
    assert counted, [s.phase for s in seen]
    assert all(s.service == "svc" and s.endpoint == "/delay/5" and s.planned_s == 1.5 for s in counted)
    assert [s.requests for s in counted] == sorted(s.requests for s in counted)  # counts only grow
    last = counted[-1]
    assert 0 < last.requests <= final["requests"]
    assert int(last.latency.sum()) <= final["ok"] and int(last.latency.sum()) >= last.ok - 4096
    assert PROGRESS.snapshot() is None  # cleared when the probe ends


def test_worker_processes_publish_to_the_parent(server: BenchServer) -> None:
    service = Service(name="svc", base_url=server.url, endpoints=(Endpoint(path="/delay/5"),),
                      load=LoadSettings(duration_s=2.5, concurrency=4, warmup=0, processes=2))
    result, seen = _probe_while_watching(service)
    merged = [s for s in seen if s.processes == 2 and s.phase == "counted"]
    assert merged, [(s.processes, s.phase) for s in seen]
    assert merged[-1].requests <= result["endpoints"][0]["requests"]
    assert "merged from 2 processes: approximate" in ProgressLine().render(merged[-1])


def _snapshot(ok_values: list[int], errors: int = 0, phase: str = "counted") -> Snapshot:
    board = ProgressBoard()
    recorder = EndpointRecorder()
    for value in ok_values:
        recorder.ok += 1
        recorder.latency.add(value)
    recorder.errors["timeout"] = errors
    board.begin("svc", "/x", phase, (1, 2), recorder, PLAN)
    snap = board.snapshot()
    assert snap is not None
    return snap


def test_the_wire_form_round_trips_and_parts_merge() -> None:
    a, b = _snapshot([1000, 2000, 3000]), _snapshot([50_000], errors=2)
    back = Snapshot.from_wire(a.to_wire())
    assert (back.requests, back.ok, back.position) == (3, 3, (1, 2))
    assert (back.latency == a.latency).all() and int(back.latency.sum()) == 3
    merged = merge_snapshots([a, b])
    assert (merged.requests, merged.ok, merged.errors, merged.processes) == (6, 4, 2, 2)
    stats = histogram.summarize_counts(merged.latency)
    assert stats.count == 4 and 49 < stats.max_ms < 51


def test_the_status_line_says_n_a_without_a_successful_response() -> None:
    line = ProgressLine().render(_snapshot([], errors=5))
    assert "p50 n/a  p99 n/a" in line and "errors 5 (100.00%)" in line and line.startswith("[1/2] svc /x counted")


def test_the_status_line_shows_the_window_percentiles() -> None:
    snap = _snapshot([1000] * 99 + [9000])
    line = ProgressLine().render(snap)
    assert "p50 1.00 ms  p99 1.00 ms" in line and "0s/10s" in line and "client ok" in line
