"""Issue 14: the real ``perf-profiler`` command line, as a subprocess, against local servers.

Headers, method and body arrive at the server as given (secret ones never printed); ``--version``;
subcommand usage; the live line on a pseudo-terminal and the periodic line without one; Ctrl-C
prints the summary of what was measured (exit 130); thresholds and exit codes; n/a when nothing
succeeded; ``--json`` schema 1 and ``--output``; ``validate``.
"""
from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from servers import BenchServer, refused_port

CLI = str(Path(sys.executable).parent / "perf-profiler")
SECRET = "Bearer s3cr3t-value-never-printed"


@pytest.fixture
def server() -> Iterator[BenchServer]:
    with BenchServer() as srv:
        yield srv


def cli(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *argv], capture_output=True, text=True, timeout=timeout)


def test_headers_method_and_body_arrive_as_given_and_secrets_are_never_printed(server, tmp_path):
    out_file = tmp_path / "run.json"
    run = cli("probe", f"{server.url}/echo", "-n", "3", "--warmup", "0", "-m", "put", "--allow-writes",
              "-H", "X-Foo: 1", "-H", "Content-Type: application/json", "-H", f"Authorization: {SECRET}",
              "-d", '{"q": 1}', "-o", str(out_file))
    assert run.returncode == 0, run.stderr
    seen = server.stats.last_request
    assert seen.method == "PUT" and seen.body == b'{"q": 1}'
    assert (seen.headers["X-Foo"], seen.headers["Content-Type"], seen.headers["Authorization"]) == (
        "1", "application/json", SECRET)
    assert server.stats.hits["/echo"] == 3
    assert "PUT http://" in run.stdout and "3 ok" in run.stdout  # the summary on the terminal...
    doc = json.loads(out_file.read_text())  # ...and the JSON document in the file
    assert doc["schema"] == 1 and doc["summaries"][0]["method"] == "PUT" and doc["exit_code"] == 0
    for text in (run.stdout, run.stderr, out_file.read_text()):
        assert "s3cr3t" not in text


def test_headers_over_a_targets_file_secret_ones_included(server, tmp_path):
    targets = tmp_path / "targets.json"
    targets.write_text(json.dumps({"services": [{
        "name": "svc", "base_url": server.url, "endpoints": [{"path": "/echo", "headers": {"X-Foo": "file"}}]}]}))
    run = cli("probe", "--targets", str(targets), "-n", "2", "--warmup", "0", "-H", "X-Foo: flag",
              "-H", f"X-Api-Key: {SECRET}", "--json")
    assert run.returncode == 0, run.stderr
    seen = server.stats.last_request.headers
    assert (seen["X-Foo"], seen["X-Api-Key"]) == ("flag", SECRET)
    assert "s3cr3t" not in run.stdout + run.stderr
    refused = cli("probe", "--targets", str(targets), "-m", "GET")
    assert refused.returncode == 2 and "-m, -d and --body-file apply to URLs" in refused.stderr


def test_body_file(server, tmp_path):
    body = tmp_path / "body.json"
    body.write_text('{"from": "file"}', encoding="utf-8")
    run = cli("probe", f"{server.url}/echo", "-n", "1", "--warmup", "0", "-m", "POST", "--allow-writes",
              "--body-file", str(body), "--json")
    assert run.returncode == 0, run.stderr
    assert server.stats.last_request.body == b'{"from": "file"}'


def test_a_state_changing_method_needs_allow_writes(server):
    run = cli("probe", f"{server.url}/echo", "-n", "1", "-m", "POST")
    assert run.returncode == 2
    assert "usage: perf-profiler probe" in run.stderr and "--allow-writes" in run.stderr
    assert server.stats.total_hits == 0


def test_version_and_clean_help():
    from perf_profiler import __version__

    run = cli("--version")
    assert run.returncode == 0 and run.stdout.strip() == f"perf-profiler {__version__}"
    top = cli("--help")
    assert top.returncode == 0 and "``" not in top.stdout and "probe" in top.stdout


@pytest.mark.parametrize("argv", [["probe", "--bogus", "http://127.0.0.1:9/"], ["probe", "-n", "many", "URL"],
                                  ["probe", "-H", "no colon here", "http://127.0.0.1:9/"]])
def test_a_bad_flag_shows_the_probe_usage(argv):
    run = cli(*argv)
    assert run.returncode == 2
    assert "usage: perf-profiler probe" in run.stderr and "perf-profiler probe: error:" in run.stderr
    assert "no colon here" not in run.stderr  # a header is never echoed (it may be a secret)


def _read_all(fd: int, proc: subprocess.Popen[str], limit_s: float) -> bytes:
    """Everything written to the pty's master side until the process exits."""
    chunks, deadline = [], time.monotonic() + limit_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # the slave side closed
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    return b"".join(chunks)


def test_the_live_line_appears_on_a_terminal(server):
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 200, 0, 0))  # a wide terminal: the whole line
    proc = subprocess.Popen([CLI, "probe", f"{server.url}/delay/5", "--duration", "4s", "--warmup", "0"],
                            stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    try:
        seen = _read_all(master, proc, 60).decode(errors="replace")
        stdout, _ = proc.communicate(timeout=30)
    finally:
        os.close(master)
    assert proc.returncode == 0
    assert "counted" in seen and "req/s" in seen and "p99" in seen and "\x1b[" in seen, seen[-500:]
    assert "req/s" not in stdout.split("throughput")[0]  # the live line stays on stderr
    assert "latency (successful responses)" in stdout


def test_with_worker_processes_the_live_numbers_say_they_are_approximate(server):
    run = cli("probe", f"{server.url}/delay/5", "--duration", "3s", "--warmup", "0", "--progress-every", "1s",
              "--processes", "2", "-c", "4", "--json")
    assert run.returncode == 0, run.stderr
    lines = [line for line in run.stderr.splitlines() if "counted" in line]
    assert lines and "merged from 2 processes: approximate" in lines[-1] and "p50 ≈" in lines[-1], run.stderr
    assert json.loads(run.stdout)["summaries"][0]["requests"] > 0  # the final numbers: exact merge


def test_a_periodic_line_without_a_terminal_and_none_with_quiet(server):
    run = cli("probe", f"{server.url}/delay/5", "--duration", "3s", "--warmup", "0", "--progress-every", "1s")
    assert run.returncode == 0
    lines = [line for line in run.stderr.splitlines() if line.startswith("perf-profiler: [1/1]")]
    assert len(lines) >= 2, run.stderr
    assert "\x1b[" not in run.stderr and "req/s" in lines[-1] and "s/3s" in lines[-1]
    quiet = cli("probe", f"{server.url}/delay/5", "--duration", "2s", "--warmup", "0", "--progress-every", "0.5s",
                "--quiet")
    assert quiet.returncode == 0 and "perf-profiler: [" not in quiet.stderr


def _wait_for_counting(server: BenchServer, proc: subprocess.Popen[str], path: str, warmup: int) -> None:
    """Until the server has seen more than the warm-up (the CLI has started and is counting)."""
    deadline = time.monotonic() + 60
    while server.stats.hits[path] <= warmup:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the CLI never loaded the server"
        time.sleep(0.02)


def test_ctrl_c_prints_the_summary_of_what_was_measured(server):
    warmup = 8
    proc = subprocess.Popen([CLI, "probe", f"{server.url}/delay/20", "--duration", "20s", "--warmup", str(warmup),
                             "-c", "4", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_counting(server, proc, "/delay/20", warmup)
    time.sleep(2.0)  # 2 s into the counted phase of a 20 s run
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=15)
    assert time.monotonic() - sent < 2.5
    assert proc.returncode == 130 and "Traceback" not in stderr
    doc = json.loads(stdout)
    summary = doc["summaries"][0]
    assert doc["interrupted"] == "SIGINT" and doc["exit_code"] == 130
    seen = server.stats.hits["/delay/20"] - warmup
    assert abs(summary["requests"] - seen) <= 4, (summary["requests"], seen)  # +- the 4 in flight
    assert summary["requests"] > 50 and summary["wall_s"] < 5


def test_ctrl_c_text_summary_is_marked_interrupted(server):
    proc = subprocess.Popen([CLI, "probe", f"{server.url}/delay/20", "--duration", "20s", "--warmup", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_counting(server, proc, "/delay/20", 0)
    time.sleep(2.0)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=15)
    assert proc.returncode == 130 and "Traceback" not in stderr
    assert "INTERRUPTED by SIGINT" in stdout and "latency (successful responses)" in stdout
    assert "interrupted by SIGINT" in stderr


@pytest.mark.parametrize(("flags", "code", "marks"), [
    (["--p95-max", "10s", "--max-error-rate", "1%"], 0, ["✓ p95", "✓ error rate 0.00%"]),
    (["--p95-max", "1ms"], 3, ["✗ p95"]),
    (["--p99-max", "1ms", "--p50-max", "10s"], 3, ["✗ p99", "✓ p50"]),
    (["--max-error-rate", "0.5%"], 3, ["✗ error rate 25.00% (limit <= 0.50%)"]),
    (["--p90-max", "10s", "--p99-max", "10s"], 0, ["✓ p90", "✓ p99"]),
    (["--p90-max", "1ms"], 3, ["✗ p90"]),
])
def test_thresholds_pass_and_fail_with_their_exit_codes(server, flags, code, marks):
    path = "/flaky/4" if "--max-error-rate" in flags and "0.5%" in flags else "/delay/5"
    run = cli("probe", f"{server.url}{path}", "-n", "40", "-c", "1", "--warmup", "0", *flags)
    assert run.returncode == code, run.stdout + run.stderr
    for mark in marks:
        assert mark in run.stdout, run.stdout
    assert ("threshold(s) failed (exit 3)" in run.stderr) == (code == 3)


def test_a_targets_files_budgets_are_the_default_thresholds(server, tmp_path):
    targets = tmp_path / "targets.json"
    targets.write_text(json.dumps({"services": [{
        "name": "svc", "base_url": server.url, "budget": {"p95_ms": 1},
        "endpoints": [{"path": "/delay/5"}]}]}))
    run = cli("probe", "--targets", str(targets), "-n", "10", "--warmup", "0")
    assert run.returncode == 3 and "✗ p95" in run.stdout and "(limit < 1 ms)" in run.stdout
    relaxed = cli("probe", "--targets", str(targets), "-n", "10", "--warmup", "0", "--p95-max", "10s")
    assert relaxed.returncode == 0, relaxed.stdout


def test_an_all_fail_run_prints_n_a_and_exits_1():
    url = f"http://127.0.0.1:{refused_port()}/x"
    run = cli("probe", url, "-n", "5", "--warmup", "0", "--p95-max", "800ms", "--timeout", "2s")
    assert run.returncode == 1  # every request failed wins over the failed threshold (3)
    assert "p50 n/a" in run.stdout and "p99 n/a" in run.stdout and "min n/a" in run.stdout
    assert "0.00 ms" not in run.stdout.split("client lag")[0]
    doc = json.loads(cli("probe", url, "-n", "5", "--warmup", "0", "--json").stdout)
    summary = doc["summaries"][0]
    assert (summary["p50_ms"], summary["p99_ms"], summary["mean_ms"]) == (None, None, None)


def test_interrupted_wins_over_every_request_failed():
    proc = subprocess.Popen([CLI, "probe", f"http://127.0.0.1:{refused_port()}/x", "--duration", "20s",
                             "--warmup", "0", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3.0)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=15)
    assert proc.returncode == 130, stderr  # not 1: the order is 2, 130, 1, 3
    doc = json.loads(stdout)
    assert doc["interrupted"] == "SIGINT" and doc["summaries"][0]["ok_count"] == 0
    assert doc["summaries"][0]["p95_ms"] is None


def test_validate_lists_every_error_with_its_location(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"services": [{"name": "a", "base_url": "http://h", "endpoints": [{"path": "/"}]}]}))
    ok = cli("validate", str(good))
    assert ok.returncode == 0 and "ok, 1 service(s)" in ok.stdout
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"services": [
        {"name": "a", "base_url": "ftp://h", "endpoints": [{"path": "/"}], "load": {"concurrency": 0}},
        {"name": "b", "base_url": "http://h", "endpoints": [{"path": "/", "bogus": 1}]}]}))
    run = cli("validate", str(bad))
    assert run.returncode == 2
    assert f"{bad}: services[0] 'a': base_url:" in run.stderr
    assert f"{bad}: services[0] 'a': load.concurrency: expected a positive integer, got 0" in run.stderr
    assert f"{bad}: services[1] 'b': endpoints[0]: unknown key \"bogus\"" in run.stderr
    assert "3 error(s)" in run.stderr
    variable = subprocess.run([CLI, "validate", "--variable", "-"], input="{\"services\": 1}", capture_output=True,
                              text=True, timeout=60)
    assert variable.returncode == 2 and variable.stderr.startswith("Airflow Variable JSON: services:")
    assert "usage: perf-profiler validate" in cli("validate").stderr
