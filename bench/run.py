#!/usr/bin/env python3
"""`make bench`: measurement fidelity and speed of perf-profiler, side by side with hey and wrk.

Everything runs on loopback with bounded durations, in one run, and every result is reported as
a ratio to a reference measured in the same run (the machine may be shared: absolute numbers
move, ratios much less). When the machine has two CPUs or more, the load generators are pinned
to CPU 0 and the servers (nginx, the stall server) to CPU 1 with ``taskset``.

(a) closed-loop maximum rate on one core: perf-profiler vs hey vs wrk against nginx (best of
    ``--rounds``, alternating), plus perf-profiler with 2 worker processes.
(b) stall accuracy: ``bench/stall_server.py`` holds every response during S of every T seconds;
    perf-profiler's open loop at R req/s (corrected p50/p99/p99.9) against the analytic ground
    truth, next to hey's and perf-profiler's closed loop on the same server.
(c) client overhead at a fixed 1,000 req/s against nginx: perf-profiler's open loop vs ``hey -q``.
(d) merging 1,000 HDR histograms of 100k samples each and computing percentiles: time and bytes.
(e) upserting 10,000 rows into PostgreSQL through ``perf_profiler.storage.metrics_repo``, vs a plain COPY of the
    same rows (skipped when no PostgreSQL answers at ``$PERF_PROFILER_BENCH_PG``).
(f) the Performance view's overview and one endpoint's 90-day series on PostgreSQL with 500,000 rows with
    histograms (50 endpoints x 10,000 runs): server time, plan, with and without the 008 indexes
    (``bench/dashboard.py``; skipped like (e) without PostgreSQL).
(g) the CLI's live progress line on vs off: 10 s closed loops, interleaved on/off/on (``bench/progress_overhead.py``).
(h) the probe engines (``bench/engines.py``): fast vs aiohttp vs hey vs wrk closed loop on one core,
    the fast open loop at 20k and 50k req/s with a scheduling-jitter control, CPU per 1,000 requests
    at 1,000 req/s next to the floors of two wake-ups per request (``bench/floors.py``).
(i) regressions you can trust: the change-point detector vs the old median+MAD rule on thousands of seeded
    synthetic series, scenarios A and B of issue 15 (``bench/changepoints.py``).

Writes ``bench/results/latest.json`` (every number, the machine, the targets) and
``bench/results/latest.md`` (the table), and prints the table. With ``--only``, the rows not run
this time are carried over from the previous ``latest.json`` (``carried_over`` says from when).

    .venv/bin/python bench/run.py [--quick] [--rounds 2] [--only a,b,c,d,e,f,g,h,i]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
PLUGINS = REPO / "plugins"
sys.path.insert(0, str(PLUGINS))
import changepoints as changepoints_bench  # type: ignore[import-not-found]  # noqa: E402  (rows i)
import progress_overhead  # type: ignore[import-not-found]  # noqa: E402  (row f; bench/ is the script's folder)

PG_DSN = os.environ.get("PERF_PROFILER_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PLUGINS), os.environ.get("PYTHONPATH")]))}


# --------------------------------------------------------------------------- plumbing
def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:``port``."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if listening(port):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class Cpus:
    """Which CPUs the clients and the servers run on (pinned with taskset when there are 2+)."""

    def __init__(self) -> None:
        cpus = sorted(os.sched_getaffinity(0))
        self.pinned = len(cpus) >= 2 and shutil.which("taskset") is not None
        self.client = cpus[0]
        self.server = cpus[1] if self.pinned else cpus[0]
        self.all = cpus

    def pin(self, *cpus: int) -> list[str]:
        return ["taskset", "-c", ",".join(str(c) for c in cpus)] if self.pinned else []


_LAST_CPU_S = [0.0]


def run(cmd: list[str], timeout: float) -> str:
    """Run a client to its end; its stdout. Its CPU time (user + system) lands in ``_LAST_CPU_S``."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=ENV)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    _LAST_CPU_S[0] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


@contextmanager
def server_process(cmd: list[str], port: int | None = None, ready_line: str | None = None) -> Iterator[int]:
    """Start a server we own; yield its port; stop it (only this process) afterwards."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        if ready_line is not None:
            assert proc.stdout is not None and proc.stderr is not None  # both are PIPEs
            line = proc.stdout.readline()
            if not line.startswith(ready_line):
                raise RuntimeError(f"{cmd[0]} did not start: {line!r} {proc.stderr.read()[-500:]}")
            port = int(line.split()[1])
        assert port is not None
        wait_for_port(port)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextmanager
def nginx(cpus: Cpus) -> Iterator[str]:
    """nginx, one worker pinned to the server CPU, answering ``200 ok`` on a free port."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    with tempfile.TemporaryDirectory(prefix="perf-bench-nginx-") as work:
        port = free_port()
        temp_paths = "".join(f"  {name}_temp_path {work}/{name};\n"
                             for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        Path(work, "nginx.conf").write_text(
            "worker_processes 1;\ndaemon off;\n"
            f"pid {work}/nginx.pid;\nerror_log {work}/error.log warn;\n"
            "events { worker_connections 8192; }\n"
            "http {\n  access_log off;\n  keepalive_requests 100000000;\n  keepalive_timeout 300s;\n"
            f"{temp_paths}"
            f"  server {{ listen 127.0.0.1:{port} backlog=4096; location / {{ return 200 \"ok\\n\"; }} }}\n}}\n"
        )
        cmd = [*cpus.pin(cpus.server), binary, "-p", work, "-c", f"{work}/nginx.conf", "-e", f"{work}/error.log"]
        with server_process(cmd, port=port):
            yield f"http://127.0.0.1:{port}/"


@contextmanager
def stall_server(cpus: Cpus, stall_s: float, period_s: float) -> Iterator[str]:
    cmd = [*cpus.pin(cpus.server), sys.executable, str(REPO / "bench" / "stall_server.py"),
           "--port", "0", "--stall", str(stall_s), "--period", str(period_s)]
    with server_process(cmd, ready_line="LISTENING") as port:
        yield f"http://127.0.0.1:{port}/"


# --------------------------------------------------------------------------- the clients
# The closed loop of (a), in process: the CPU time of the probe itself, without Python's start-up
# and imports (which a 5 s CLI run would otherwise count against us).
_OURS_CPU = """
import json, sys, time
import numpy  # unused: imported before the clock starts, as in a long-lived worker
from perf_profiler.engine.runner import run_probe
from perf_profiler.model.targets import Endpoint, LoadSettings, Service
url, duration, concurrency = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
service = Service(name="bench", base_url=url.rstrip("/"), endpoints=(Endpoint(path="/"),),
                  load=LoadSettings(requests=None, duration_s=duration, concurrency=concurrency, warmup=500))
cpu = time.process_time()
(ep,) = run_probe(service)["endpoints"]
cpu = time.process_time() - cpu
print(json.dumps({"requests": ep["requests"], "ok": ep["ok"], "wall_s": ep["finished_at"] - ep["started_at"],
                  "cpu_s": cpu, "client_saturated": ep["client_saturated"]}))
"""


def ours_cpu(url: str, cpu: int, pin: Cpus, duration_s: float, concurrency: int) -> dict[str, Any]:
    cmd = [*pin.pin(cpu), sys.executable, "-c", _OURS_CPU, url, f"{duration_s:g}", str(concurrency)]
    result = json.loads(run(cmd, timeout=duration_s + 120))
    result["rate"] = result["requests"] / result["wall_s"]
    result["per_cpu_s"] = result["requests"] / result["cpu_s"]
    return result


def ours(url: str, cpus: list[int], pin: Cpus, *args: str, timeout: float = 300) -> dict[str, Any]:
    """One `perf-profiler probe --json` run; its endpoint summary (plus the request rate)."""
    cmd = [*pin.pin(*cpus), sys.executable, "-m", "perf_profiler.cli.main", "probe", url, "--json", *args]
    (summary,) = json.loads(run(cmd, timeout))["summaries"]
    summary.pop("latency_hist", None), summary.pop("error_hist", None)
    summary.pop("service_hist", None), summary.pop("lag_hist", None)
    summary["rate"] = summary["requests"] / summary["wall_s"] if summary["wall_s"] else 0.0
    return summary


def found(pattern: str, out: str) -> str:
    """The first group of ``pattern``'s first match in a client's output (RuntimeError if none)."""
    match = re.search(pattern, out)
    if match is None:
        raise RuntimeError(f"no {pattern!r} in the client's output: {out[-500:]!r}")
    return match.group(1)


def hey(
    url: str, cpus: list[int], pin: Cpus, duration_s: float, concurrency: int, qps: float | None = None
) -> dict[str, Any]:
    cmd = [*pin.pin(*cpus), "hey", "-z", f"{duration_s:g}s", "-c", str(concurrency), "-cpus", str(len(cpus))]
    if qps is not None:
        cmd += ["-q", f"{qps:g}"]
    out = run([*cmd, url], timeout=duration_s + 120)
    percentiles = {float(p): float(s) * 1000.0
                   for p, s in re.findall(r"^\s+(\d+(?:\.\d+)?)% in ([\d.]+) secs", out, re.M)}
    total = re.search(r"\[200\]\s+(\d+) responses", out)
    cpu_s = _LAST_CPU_S[0]
    rate = float(found(r"Requests/sec:\s+([\d.]+)", out))
    answered = sum(int(n) for n in re.findall(r"\[\d{3}\]\s+(\d+) responses", out))
    return {
        "rate": rate,
        "per_cpu_s": answered / cpu_s if cpu_s else None,
        "p50_ms": percentiles.get(50.0),
        "p90_ms": percentiles.get(90.0),
        "p99_ms": percentiles.get(99.0),
        "slowest_ms": float(found(r"Slowest:\s+([\d.]+) secs", out)) * 1000.0,
        "ok": int(total.group(1)) if total else 0,
        "resolution_ms": 0.1,  # hey prints seconds with 4 decimals
    }


def _wrk_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        raise RuntimeError(f"not a wrk duration: {text!r}")
    value, unit = match.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, cpus: list[int], pin: Cpus, duration_s: float, concurrency: int) -> dict[str, Any]:
    cmd = [*pin.pin(*cpus), "wrk", f"-t{len(cpus)}", f"-c{concurrency}", f"-d{duration_s:g}s", "--latency", url]
    out = run(cmd, timeout=duration_s + 120)
    cpu_s = _LAST_CPU_S[0]
    percentiles = dict(re.findall(r"^\s+(\d+)%\s+([\d.]+(?:us|ms|s))$", out, re.M))
    requests = int(found(r"(\d+) requests in", out))
    return {
        "rate": float(found(r"Requests/sec:\s+([\d.]+)", out)),
        "per_cpu_s": requests / cpu_s if cpu_s else None,
        "p50_ms": _wrk_ms(percentiles["50"]) if "50" in percentiles else None,
        "p99_ms": _wrk_ms(percentiles["99"]) if "99" in percentiles else None,
    }


# --------------------------------------------------------------------------- (a) .. (e)
def bench_max_rate(cpus: Cpus, duration_s: float, rounds: int, concurrency: int = 50) -> dict[str, Any]:
    """(a) closed loop, maximum rate, client on one CPU, nginx on the other."""
    best: dict[str, dict[str, Any]] = {}
    runs: dict[str, list[float]] = {}
    per_cpu: dict[str, list[float]] = {}
    with nginx(cpus) as url:
        clients: dict[str, Callable[[], dict[str, Any]]] = {
            "perf-profiler": lambda: ours_cpu(url, cpus.client, cpus, duration_s, concurrency),
            "hey": lambda: hey(url, [cpus.client], cpus, duration_s, concurrency),
            "wrk": lambda: wrk(url, [cpus.client], cpus, duration_s, concurrency),
        }
        if len(cpus.all) >= 2:
            clients["perf-profiler x2 processes"] = lambda: ours(
                url, cpus.all[:2], cpus, "--duration", f"{duration_s:g}s", "-c", str(concurrency),
                "--warmup", "500", "--processes", "2")
        for _ in range(rounds):
            for name, client in clients.items():
                result = client()
                runs.setdefault(name, []).append(round(result["rate"], 1))
                if result.get("per_cpu_s"):
                    per_cpu.setdefault(name, []).append(round(result["per_cpu_s"], 1))
                if name not in best or result["rate"] > best[name]["rate"]:
                    best[name] = result
                log(f"(a) {name}: {result['rate']:.0f} req/s, {result.get('per_cpu_s') or 0:.0f} req per CPU-second")
    ours_rate, hey_rate = best["perf-profiler"]["rate"], best["hey"]["rate"]
    best_cpu = {name: max(values) for name, values in per_cpu.items()}
    out: dict[str, Any] = {
        "concurrency": concurrency, "duration_s": duration_s, "rounds": rounds, "runs_req_per_s": runs,
        "runs_req_per_cpu_s": per_cpu,
        "best_req_per_s": {name: round(r["rate"], 1) for name, r in best.items()},
        "best_req_per_cpu_s": best_cpu,
        "ratio_vs_hey": round(ours_rate / hey_rate, 3),
        "ratio_vs_wrk": round(ours_rate / best["wrk"]["rate"], 3),
        "per_cpu_ratio_vs_hey": round(best_cpu["perf-profiler"] / best_cpu["hey"], 3),
        "per_cpu_ratio_vs_wrk": round(best_cpu["perf-profiler"] / best_cpu["wrk"], 3),
    }
    if "perf-profiler x2 processes" in best:
        out["processes_2_speedup"] = round(best["perf-profiler x2 processes"]["rate"] / ours_rate, 3)
    return out


def _dashboard() -> Any:
    """bench/dashboard.py, (f)."""
    if str(REPO) not in sys.path:
        sys.path.append(str(REPO))  # bench/ as a namespace package, as the type checker sees it
    from bench import dashboard

    return dashboard


def bench_stall(cpus: Cpus, stall_s: float, period_s: float, periods: int, rate: float) -> dict[str, Any]:
    """(b) open loop vs the analytic ground truth on a server that stalls S of every T seconds."""
    if str(REPO) not in sys.path:
        sys.path.append(str(REPO))  # bench/ as a namespace package, as the type checker sees it
    from bench.stall_server import analytic_quantile_s

    duration = periods * period_s
    truth = {f"p{p}": round(analytic_quantile_s(q, stall_s, period_s) * 1000.0, 3)
             for p, q in (("50", 0.5), ("99", 0.99), ("999", 0.999))}
    with stall_server(cpus, stall_s, period_s) as url:
        cap = max(100, int(rate * stall_s * 2))
        opened = ours(url, [cpus.client], cpus, "--rate", f"{rate:g}", "--duration", f"{duration:g}s",
                      "-c", str(cap), "--warmup", "20")
        log(f"(b) open loop: p99 {opened['p99_ms']:.1f} ms (truth {truth['p99']} ms)")
        closed = ours(url, [cpus.client], cpus, "--duration", f"{duration:g}s", "-c", "50", "--warmup", "20")
        log(f"(b) our closed loop: p99 {closed['p99_ms']:.1f} ms")
        hey_closed = hey(url, [cpus.client], cpus, duration, 50)
        log(f"(b) hey: p99 {hey_closed['p99_ms']:.1f} ms")

    def rel(measured: float, expected: float) -> float | None:
        return round((measured - expected) / expected, 4) if expected else None

    return {
        "stall_s": stall_s, "period_s": period_s, "duration_s": duration, "rate": rate, "in_flight_cap": cap,
        "analytic_ms": truth,
        "open_loop_ms": {"p50": opened["p50_ms"], "p99": opened["p99_ms"], "p999": opened["p999_ms"]},
        "open_loop_rel_error": {"p99": rel(opened["p99_ms"], truth["p99"]),
                                "p999": rel(opened["p999_ms"], truth["p999"])},
        "open_loop_p50_abs_error_ms": round(opened["p50_ms"] - truth["p50"], 3),
        "open_loop_scheduled": opened["scheduled"], "open_loop_dropped": opened["dropped"],
        "open_loop_lag_p99_ms": opened["lag_p99_ms"], "open_loop_client_saturated": opened["client_saturated"],
        "closed_loop_ms": {"p50": closed["p50_ms"], "p99": closed["p99_ms"], "p999": closed["p999_ms"]},
        "hey_ms": {"p50": hey_closed["p50_ms"], "p99": hey_closed["p99_ms"], "slowest": hey_closed["slowest_ms"]},
    }


def bench_overhead(cpus: Cpus, rate: float, duration_s: float, rounds: int) -> dict[str, Any]:
    """(c) client overhead at a fixed rate against nginx: our open loop vs hey -q."""
    workers = 10
    best_ours: dict[str, Any] | None = None
    best_hey: dict[str, Any] | None = None
    with nginx(cpus) as url:
        for _ in range(rounds):
            mine = ours(url, [cpus.client], cpus, "--rate", f"{rate:g}", "--duration", f"{duration_s:g}s",
                        "-c", "100", "--warmup", "200")
            theirs = hey(url, [cpus.client], cpus, duration_s, workers, qps=rate / workers)
            log(f"(c) p50 ours {mine['p50_ms']:.3f} ms (service {mine['service_p50_ms']:.3f}), "
                f"hey {theirs['p50_ms']:.3f} ms")
            if best_ours is None or mine["p50_ms"] < best_ours["p50_ms"]:
                best_ours = mine
            if best_hey is None or theirs["p50_ms"] < best_hey["p50_ms"]:
                best_hey = theirs
    assert best_ours is not None and best_hey is not None
    return {
        "rate": rate, "duration_s": duration_s, "rounds": rounds, "hey_workers": workers,
        "ours_ms": {"p50": best_ours["p50_ms"], "p99": best_ours["p99_ms"],
                    "service_p50": best_ours["service_p50_ms"], "service_p99": best_ours["service_p99_ms"],
                    "lag_p50": best_ours["lag_p50_ms"], "lag_p99": best_ours["lag_p99_ms"]},
        "ours_achieved_rate": round(best_ours["rate"], 1), "ours_dropped": best_ours["dropped"],
        "ours_client_saturated": best_ours["client_saturated"],
        "hey_ms": {"p50": best_hey["p50_ms"], "p99": best_hey["p99_ms"], "resolution": best_hey["resolution_ms"]},
        "hey_achieved_rate": best_hey["rate"],
        "p50_minus_hey_ms": round(best_ours["p50_ms"] - best_hey["p50_ms"], 3),
        "service_p50_minus_hey_ms": round(best_ours["service_p50_ms"] - best_hey["p50_ms"], 3),
    }


def bench_histograms(count: int, samples: int) -> dict[str, Any]:
    """(d) merge ``count`` encoded histograms of ``samples`` latencies each, then percentiles."""
    import numpy as np

    from perf_profiler.analysis import histogram

    rng = np.random.default_rng(4)
    started = time.perf_counter()
    encoded = []
    for i in range(count):  # lognormal around 20 ms, each histogram a little different
        h = histogram.new_histogram()
        histogram.record_many(h, rng.lognormal(np.log(15_000 + 10 * i), 0.9, samples))
        encoded.append(histogram.encode(h))
    setup_s = time.perf_counter() - started
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        merged = histogram.merge(encoded)
        stats = histogram.summarize(merged)
        timings.append(time.perf_counter() - started)
    sizes = [len(e) for e in encoded]
    return {
        "histograms": count, "samples_each": samples, "setup_s": round(setup_s, 1),
        "merge_and_percentiles_s": round(min(timings), 3), "all_runs_s": [round(t, 3) for t in timings],
        "merged_count": stats.count, "p50_ms": stats.p50_ms, "p99_ms": stats.p99_ms, "p999_ms": stats.p999_ms,
        "encoded_bytes_max": max(sizes), "encoded_bytes_mean": round(sum(sizes) / len(sizes)),
    }


def bench_store(rows_n: int) -> dict[str, Any]:
    """(e) upsert ``rows_n`` rows through perf_profiler.storage.metrics_repo vs a plain COPY of the same rows."""
    import psycopg

    try:
        admin = psycopg.connect(PG_DSN, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        return {"skipped": f"no PostgreSQL at {PG_DSN}: {str(exc).strip()[:200]}"}
    name = f"perf_bench_{uuid.uuid4().hex[:10]}"
    # the store goes through an Airflow hook: a throwaway Airflow home, the connection from the environment
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="perf-bench-airflow-"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    admin.execute(f'CREATE DATABASE "{name}"')
    dsn = f"{PG_DSN.rsplit('/', 1)[0]}/{name}"
    os.environ["AIRFLOW_CONN_PERF_BENCH_DB"] = dsn
    try:
        return _store_rates(dsn, rows_n)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _bench_rows(rows_n: int, requests: int = 200) -> list[dict[str, Any]]:
    """Realistic rows under ``rows_n`` distinct keys: one real summary of what the shipped targets
    config runs per endpoint (a closed loop of 200 requests, 1 % errors), through rows.build_row."""
    import dataclasses

    import numpy as np

    from perf_profiler.analysis import histogram
    from perf_profiler.analysis.reduce import summarize_endpoint
    from perf_profiler.analysis.rows import build_row
    from perf_profiler.engine.classify import ERROR_CLASSES
    from perf_profiler.model.identity import RunIdentity
    from perf_profiler.model.targets import Budget

    rng = np.random.default_rng(5)

    def enc(values: Any) -> str:
        h = histogram.new_histogram()
        histogram.record_many(h, values)
        return histogram.encode(h)

    failed = max(1, requests // 100)
    part = {
        "endpoint": "/x", "method": "GET", "path": "/x", "started_at": 1_764_130_000.0, "finished_at": 1_764_130_010.0,
        "requests": requests, "ok": requests - failed, "errors": {**dict.fromkeys(ERROR_CLASSES, 0), "status": failed},
        "status_codes": {"200": requests - failed, "500": failed},
        "latency_hist": enc(rng.lognormal(np.log(20_000), 0.8, requests - failed)),
        "error_hist": enc(rng.lognormal(np.log(5_000), 0.5, failed)), "model": "closed", "rate": None,
        "scheduled": requests, "dropped": 0, "service_hist": None,
        "lag_hist": enc(rng.lognormal(np.log(300), 0.5, 100)), "client_saturated": False, "saturation_reasons": [],
    }
    summary = summarize_endpoint("svc", "/x", [part])
    identity = RunIdentity(dag_id="perf_profiler", run_id="scheduled__2026-11-26T02:00:00+00:00",
                           run_type="scheduled", logical_date="2026-11-26T02:00:00+00:00",
                           data_interval_start="2026-11-25T02:00:00+00:00",
                           data_interval_end="2026-11-26T02:00:00+00:00")
    return [build_row(dataclasses.replace(summary, service=f"service-{i // 100:03d}", endpoint=f"/endpoint/{i % 100}"),
                      Budget(), identity) for i in range(rows_n)]


def _store_rates(dsn: str, rows_n: int) -> dict[str, Any]:
    import psycopg

    from perf_profiler.model.columns import ROW_COLUMNS
    from perf_profiler.storage.dialect import get_hook
    from perf_profiler.storage.metrics_repo import upsert_metrics
    from perf_profiler.storage.migrations import migrate
    from perf_profiler.storage.row_binding import prepare_row

    rows = _bench_rows(rows_n)
    hook = get_hook("perf_bench_db")
    migrate(hook)
    columns = ", ".join(ROW_COLUMNS)
    with psycopg.connect(dsn) as conn:
        def truncate() -> None:
            conn.execute("TRUNCATE perf_metrics")
            conn.commit()

        def plain_copy() -> float:
            values = [prepare_row(row) for row in rows]  # the same bound values, prepared untimed
            started = time.perf_counter()
            with conn.cursor() as cur, cur.copy(f"COPY perf_metrics ({columns}) FROM STDIN") as copy:
                for value in values:
                    copy.write_row(value)
            conn.commit()
            return time.perf_counter() - started

        def upsert() -> float:
            started = time.perf_counter()
            assert upsert_metrics(hook, rows) == rows_n
            return time.perf_counter() - started

        copy_s, new_s, update_s = [], [], []
        for _ in range(2):  # alternate, keep the best of each
            truncate()
            copy_s.append(plain_copy())
            truncate()
            new_s.append(upsert())  # every key new: a run's first store
            update_s.append(upsert())  # every key exists: a retry of the same run
        truncate()
    copy_rate, new_rate, update_rate = (rows_n / min(s) for s in (copy_s, new_s, update_s))
    return {
        "rows": rows_n, "row_text_bytes": sum(len(str(v)) for v in rows[0].values() if v is not None),
        "row_shape": "one endpoint of the shipped targets config: closed loop, 200 requests, 1% errors",
        "upsert_new_keys_rows_per_s": round(new_rate), "upsert_existing_keys_rows_per_s": round(update_rate),
        "plain_copy_rows_per_s": round(copy_rate), "new_keys_ratio_vs_copy": round(new_rate / copy_rate, 3),
        "existing_keys_ratio_vs_copy": round(update_rate / copy_rate, 3),
    }


# --------------------------------------------------------------------------- report
def machine(cpus: Cpus) -> dict[str, Any]:
    def first_line(cmd: list[str]) -> str | None:
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        text = (done.stdout or done.stderr).strip()
        return text.splitlines()[0] if text else None

    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    mem_kb = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), 0)
    versions = {package: installed_version(package)
                for package in ("aiohttp", "uvloop", "hdrhistogram", "psycopg", "numpy")}
    return {
        "cpu": model, "cpus": len(cpus.all), "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(), "os": platform.platform(), "python": platform.python_version(),
        "pinning": (f"clients on CPU {cpus.client}, servers on CPU {cpus.server} (taskset)" if cpus.pinned
                    else "no pinning (one CPU or no taskset)"),
        "load_average_at_start": os.getloadavg(), "packages": versions,
        "hey": "hey " + (first_line(["dpkg-query", "-W", "-f", "${Version}", "hey"]) or "?"),
        "wrk": (first_line(["wrk", "--version"]) or "?").split(" Copyright")[0],
        "nginx": (first_line(["nginx", "-v"]) or "?").replace("nginx version: ", ""),
        "git_commit": first_line(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]),
    }


def installed_version(package: str) -> str | None:
    """The installed version of ``package`` (None when it is not installed)."""
    from importlib.metadata import version

    try:
        return version(package)
    except Exception:
        return None


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _ok(passed: bool | None) -> str:
    return "–" if passed is None else ("**met**" if passed else "**not met**")


def targets(results: dict[str, Any]) -> dict[str, Any]:
    """Each target of the issue, with the measured value and whether it is met."""
    out: dict[str, Any] = {}
    a = results.get("a")
    if a:
        out["a_per_core_vs_hey"] = {"target": ">= 0.5x hey per core (requests per CPU-second)",
                                    "value": a["per_cpu_ratio_vs_hey"], "met": a["per_cpu_ratio_vs_hey"] >= 0.5}
        out["a_same_core_wall_vs_hey"] = {"target": ">= 0.5x hey (req/s, both pinned to the same CPU)",
                                          "value": a["ratio_vs_hey"], "met": a["ratio_vs_hey"] >= 0.5}
        if "processes_2_speedup" in a:
            out["a_processes_scaling"] = {"target": ">= 0.8*K = 1.6x with K=2", "value": a["processes_2_speedup"],
                                          "met": a["processes_2_speedup"] >= 1.6}
    b = results.get("b")
    if b:
        errors = [abs(e) for e in b["open_loop_rel_error"].values() if e is not None]
        out["b_stall_within_10pct"] = {"target": "p99 and p99.9 within 10% of analytic",
                                       "value": max(errors), "met": max(errors) <= 0.10}
    c = results.get("c")
    if c:
        out["c_p50_vs_hey"] = {"target": "our p50 <= hey p50 + 0.3 ms (corrected p50)", "value": c["p50_minus_hey_ms"],
                               "met": c["p50_minus_hey_ms"] <= 0.3}
        out["c_service_p50_vs_hey"] = {"target": "same, service-time p50 (hey also times from the actual send)",
                                       "value": c["service_p50_minus_hey_ms"],
                                       "met": c["service_p50_minus_hey_ms"] <= 0.3}
    d = results.get("d")
    if d:
        out["d_merge_time"] = {"target": "< 1 s", "value": d["merge_and_percentiles_s"],
                               "met": d["merge_and_percentiles_s"] < 1.0}
        out["d_bytes"] = {"target": "<= 16 KB per histogram", "value": d["encoded_bytes_max"],
                          "met": d["encoded_bytes_max"] <= 16 * 1024}
    e = results.get("e")
    if e and "skipped" not in e:
        out["e_upsert_rate"] = {"target": ">= 20k rows/s", "value": e["upsert_new_keys_rows_per_s"],
                                "met": e["upsert_new_keys_rows_per_s"] >= 20_000}
    f = results.get("f")
    if f and "skipped" not in f:
        out.update(_dashboard().dashboard_targets(f))
    out.update(progress_overhead.targets(results.get("g")))
    out.update(changepoints_bench.targets(results.get("i")))
    return out


def markdown(report: dict[str, Any]) -> str:
    r, m, t = report["results"], report["machine"], report["targets"]
    lines = [
        f"# perf-profiler bench — {report['finished_at']}",
        "",
        f"Machine: {m['cpu']}, {m['cpus']} CPUs, {m['memory_gb']} GB, Linux {m['kernel']}, Python {m['python']}, "
        f"aiohttp {m['packages'].get('aiohttp')}, uvloop {m['packages'].get('uvloop')}; {m['hey']}, {m['wrk']}, "
        f"{m['nginx']}. {m['pinning']}. Load average at start: "
        f"{', '.join(f'{x:.2f}' for x in m['load_average_at_start'])} (shared machine: read the ratios).",
        f"Total time {report['elapsed_s']:.0f} s.",
        "",
        "| | measurement | perf-profiler | reference (same run) | ratio / error | target | status |",
        "|---|---|---|---|---|---|---|",
    ]
    a = r.get("a")
    if a:
        best, cpu = a["best_req_per_s"], a["best_req_per_cpu_s"]
        lines.append(
            f"| a | closed loop, max rate, client on 1 CPU, {a['concurrency']} in flight, {a['duration_s']:g} s, "
            f"best of {a['rounds']} "
            f"| {_fmt(best['perf-profiler'], 0)} req/s "
            f"| hey {_fmt(best['hey'], 0)} req/s · wrk {_fmt(best['wrk'], 0)} req/s "
            f"| {a['ratio_vs_hey']:.2f}× hey · {a['ratio_vs_wrk']:.2f}× wrk | ≥ 0.5× hey "
            f"| {_ok(t['a_same_core_wall_vs_hey']['met'])} |")
        lines.append(
            f"| a | same runs, requests per CPU-second of the client (\"per core\") "
            f"| {_fmt(cpu['perf-profiler'], 0)} | hey {_fmt(cpu['hey'], 0)} · wrk {_fmt(cpu['wrk'], 0)} "
            f"| {a['per_cpu_ratio_vs_hey']:.2f}× hey · {a['per_cpu_ratio_vs_wrk']:.2f}× wrk | ≥ 0.5× hey "
            f"| {_ok(t['a_per_core_vs_hey']['met'])} |")
        if "processes_2_speedup" in a:
            lines.append(
                f"| a | same, 2 worker processes over both CPUs (nginx shares them) "
                f"| {_fmt(best['perf-profiler x2 processes'], 0)} req/s "
                f"| 1 process {_fmt(best['perf-profiler'], 0)} req/s | {a['processes_2_speedup']:.2f}× "
                f"| ≥ 1.6× (0.8·K) "
                f"| {_ok(t['a_processes_scaling']['met'])} |")
    b = r.get("b")
    if b:
        truth, got, err = b["analytic_ms"], b["open_loop_ms"], b["open_loop_rel_error"]
        lines.append(
            f"| b | stall {b['stall_s']:g} s of every {b['period_s']:g} s, "
            f"open loop {b['rate']:g} req/s for {b['duration_s']:g} s: "
            f"corrected p50 / p99 / p99.9 | {got['p50']:.1f} / {got['p99']:.1f} / {got['p999']:.1f} ms "
            f"| analytic {truth['p50']:.1f} / {truth['p99']:.1f} / {truth['p999']:.1f} ms "
            f"| p99 {err['p99']:+.1%} · p99.9 {err['p999']:+.1%} | within 10% "
            f"| {_ok(t['b_stall_within_10pct']['met'])} |")
        lines.append(
            f"| b | same server, closed loops (50 in flight) p50 / p99 | ours {b['closed_loop_ms']['p50']:.1f} / "
            f"{b['closed_loop_ms']['p99']:.1f} ms "
            f"| hey {_fmt(b['hey_ms']['p50'], 1)} / {_fmt(b['hey_ms']['p99'], 1)} ms "
            f"| p99 {b['closed_loop_ms']['p99'] / truth['p99']:.3f}× "
            f"/ {(b['hey_ms']['p99'] or 0) / truth['p99']:.3f}× the truth "
            f"| (far lower: coordinated omission) | – |")
    c = r.get("c")
    if c:
        o, h = c["ours_ms"], c["hey_ms"]
        lines.append(
            f"| c | {c['rate']:g} req/s against nginx, {c['duration_s']:g} s: p50 / p99 "
            f"| corrected {o['p50']:.2f} / {o['p99']:.2f} ms "
            f"· service {o['service_p50']:.2f} / {o['service_p99']:.2f} ms "
            f"· lag p99 {o['lag_p99']:.2f} ms | hey -q {_fmt(h['p50'])} / {_fmt(h['p99'])} ms (0.1 ms resolution) "
            f"| p50 {c['p50_minus_hey_ms']:+.2f} ms (service {c['service_p50_minus_hey_ms']:+.2f} ms) "
            f"| ≤ hey + 0.3 ms | {_ok(t['c_p50_vs_hey']['met'])} (service: {_ok(t['c_service_p50_vs_hey']['met'])}) |")
    d = r.get("d")
    if d:
        lines.append(
            f"| d | merge {d['histograms']:,} histograms × {d['samples_each']:,} samples + percentiles "
            f"| {d['merge_and_percentiles_s']:.3f} s · {d['encoded_bytes_max']:,} B max per histogram "
            f"(mean {d['encoded_bytes_mean']:,} B) | – | – | < 1 s · ≤ 16 KB "
            f"| {_ok(t['d_merge_time']['met'] and t['d_bytes']['met'])} |")
    e = r.get("e")
    if e and "skipped" not in e:
        lines.append(
            f"| e | upsert {e['rows']:,} rows into PostgreSQL via perf_profiler.storage.metrics_repo "
            f"| new keys {_fmt(e['upsert_new_keys_rows_per_s'])} rows/s "
            f"· existing keys {_fmt(e['upsert_existing_keys_rows_per_s'])} rows/s "
            f"| plain COPY {_fmt(e['plain_copy_rows_per_s'])} rows/s | {e['new_keys_ratio_vs_copy']:.2f}× / "
            f"{e['existing_keys_ratio_vs_copy']:.2f}× COPY | ≥ 20k rows/s | {_ok(t['e_upsert_rate']['met'])} |")
    elif e:
        lines.append(f"| e | upsert into PostgreSQL | skipped: {e['skipped']} | | | ≥ 20k rows/s | – |")
    f = r.get("f")
    if f:
        lines.extend(_dashboard().dashboard_lines(f, t))
    lines.extend(progress_overhead.rows(r.get("g")))
    if r.get("h"):
        lines.extend(_engines().markdown_rows(r["h"]))
    lines.extend(changepoints_bench.rows(r.get("i")))
    carried = report.get("carried_over")
    if carried:
        lines.append("")
        lines.append("Carried over from earlier runs (not run this time): "
                     + ", ".join(f"({key}) {when}" for key, when in sorted(carried.items())) + ".")
    return "\n".join(lines) + "\n"


def carry_over(results: dict[str, Any], previous_path: Path) -> dict[str, Any]:
    """The results of this run plus the rows of the previous report that were not run this time."""
    try:
        previous = json.loads(previous_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"results": results}
    earlier = previous.get("carried_over") or {}
    carried = {key: earlier.get(key, previous.get("finished_at")) for key in previous.get("results", {})
               if key not in results}
    merged = {**{key: previous["results"][key] for key in carried}, **results}
    return {"results": dict(sorted(merged.items())), **({"carried_over": carried} if carried else {})}


def _engines() -> Any:
    """bench/engines.py: row h, the probe engines side by side (issue 12)."""
    if str(REPO) not in sys.path:
        sys.path.append(str(REPO))
    from bench import engines

    return engines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="perf-profiler benchmark suite (see the module docstring)")
    parser.add_argument("--quick", action="store_true", help="shorter runs (a smoke test of the suite)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", default="a,b,c,d,e,f,g,h,i", help="comma-separated subset of a,b,c,d,e,f,g,h,i")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    quick = args.quick
    cpus = Cpus()
    started, results = time.time(), {}
    info = machine(cpus)
    log(f"{info['cpu']}, {info['cpus']} CPUs; {info['pinning']}")
    steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("a", lambda: bench_max_rate(cpus, 2.0 if quick else 5.0, 1 if quick else args.rounds + 1)),
        ("b", lambda: bench_stall(cpus, stall_s=1.0, period_s=4.0, periods=1 if quick else 3, rate=250.0)),
        ("c", lambda: bench_overhead(cpus, 1000.0, 3.0 if quick else 8.0, 1 if quick else args.rounds)),
        ("d", lambda: bench_histograms(100 if quick else 1000, 100_000)),
        ("e", lambda: bench_store(2000 if quick else 10_000)),
        ("f", lambda: _dashboard().bench_dashboard(PG_DSN, 50, 1000 if quick else 10_000, 3 if quick else 7)),
        ("g", lambda: progress_overhead.bench(cpus, nginx, 3.0 if quick else 10.0, 1 if quick else args.rounds, log)),
        ("h", lambda: _engines().bench_engines(cpus, quick, 1 if quick else args.rounds + 1)),
        ("i", lambda: changepoints_bench.bench(500 if quick else 4000, log)),
    ]
    for key, step in steps:
        if key in only:
            log(f"({key}) ...")
            results[key] = step()
    report = {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "elapsed_s": round(time.time() - started, 1), "quick": quick,
        "machine": {**info, "load_average_at_end": os.getloadavg()},
        "results": results,
    }
    report.update(carry_over(results, RESULTS / "latest.json"))
    report["targets"] = targets(report["results"])
    table = markdown(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    for name, text in (("latest.json", json.dumps(report, indent=2) + "\n"), ("latest.md", table)):
        tmp = RESULTS / f"{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(RESULTS / name)
    print()
    print(table)
    log(f"wrote {RESULTS / 'latest.json'} and {RESULTS / 'latest.md'} in {report['elapsed_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
