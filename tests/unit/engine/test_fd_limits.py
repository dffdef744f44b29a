"""fd_limits: the open-file limit is checked (and raised) before a probe sends; running out mid-run is data.

The probes run in child processes whose RLIMIT_NOFILE is lowered (``resource.setrlimit`` in the
child) against a real server in this process, which counts what reached it.
"""
from __future__ import annotations

import errno
import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey

from perf_profiler.engine.classify import classify_error, describe
from servers import BenchServer

pytestmark = pytest.mark.timeout(120)

SOFT, HARD = resource.getrlimit(resource.RLIMIT_NOFILE)
REPO = Path(__file__).resolve().parents[3]

#: The child: lower its limit, optionally take every free descriptor once the check has passed
#: ("hog"), probe, print the result as JSON. Logs go to stderr.
CHILD = r"""
import json, logging, os, resource, sys, threading
cfg = json.loads(sys.argv[1])
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
resource.setrlimit(resource.RLIMIT_NOFILE, (cfg["soft"], cfg["hard"]))
from perf_profiler.engine import fd_limits, probe
from perf_profiler.engine.runner import run_probe
from perf_profiler.model.targets import Service

if cfg.get("hog"):
    checked = fd_limits.ensure_fd_budget
    held = []

    def release():
        for fd in held:
            os.close(fd)
        held.clear()

    def check_then_hog(connections, what):
        budget = checked(connections, what)
        try:  # other descriptors opened meanwhile: all but a few
            while True:
                held.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            for _ in range(cfg["hog"]):
                os.close(held.pop())
        threading.Timer(cfg.get("hold_s", 0.5), release).start()
        return budget

    probe.ensure_fd_budget = check_then_hog
result = run_probe(Service.model_validate(cfg["service"]))
print(json.dumps(result))
"""


def _service(url: str, path: str = "/delay/50", **load: Any) -> dict[str, Any]:
    return {"name": "svc", "base_url": url, "endpoints": [{"path": path}],
            "load": {"requests": 400, "concurrency": 300, "warmup": 0, **load}}


def _run_child(cfg: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "plugins")}
    return subprocess.run([sys.executable, "-c", CHILD, json.dumps(cfg)], capture_output=True, text=True,
                          timeout=100, env=env, cwd=REPO)


needs_room = pytest.mark.skipif(HARD != resource.RLIM_INFINITY and HARD < 2048,
                                reason="the hard open-file limit of this machine is below 2048")


# --------------------------------------------------------------------------- raised, or refused, before sending
@needs_room
@pytest.mark.parametrize("processes", [1, 3])
def test_a_low_soft_limit_is_raised_to_the_hard_one_and_the_probe_completes(processes: int) -> None:
    with BenchServer() as srv:
        proc = _run_child({"soft": 120, "hard": 2048, "service": _service(srv.url, processes=processes)})
        hits = srv.stats.total_hits
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    (ep,) = json.loads(proc.stdout)["endpoints"]
    assert ep["ok"] == 400 == hits and ep["concurrency"] == 300
    assert "raised the open-file soft limit (RLIMIT_NOFILE) from 120 to 2048 (hard limit 2048)" in proc.stderr


@pytest.mark.parametrize(("processes", "soft", "hard"), [(1, 200, 200), (1, 64, 300), (2, 100, 200)])
def test_a_hard_limit_too_low_is_refused_before_any_request(processes: int, soft: int, hard: int) -> None:
    with BenchServer() as srv:
        proc = _run_child({"soft": soft, "hard": hard, "service": _service(srv.url, processes=processes)})
        hits = srv.stats.total_hits
    assert hits == 0
    assert proc.returncode != 0 and proc.stdout == ""
    message = proc.stderr.strip().splitlines()[-1]
    assert message.startswith("perf_profiler.engine.fd_limits.FdLimitError: service 'svc'")
    connections = 300 // processes
    assert f"{connections} concurrent connections need about" in message
    assert f"is {soft} (soft) / {hard} (hard)" in message
    assert "lower load.concurrency" in message and "ulimit -n" in message
    if processes > 1:
        assert "process 1 of 2" in message


@needs_room
def test_spreading_over_processes_fits_what_one_process_cannot() -> None:
    """The refusal's advice works: the same load under the same hard limit, over 4 processes."""
    with BenchServer() as srv:
        one = _run_child({"soft": 256, "hard": 256, "service": _service(srv.url)})
        assert srv.stats.total_hits == 0 and "FdLimitError" in one.stderr
        four = _run_child({"soft": 256, "hard": 256, "service": _service(srv.url, processes=4)})
        assert four.returncode == 0, four.stderr
        assert json.loads(four.stdout)["endpoints"][0]["ok"] == 400 == srv.stats.total_hits


# --------------------------------------------------------------------------- running out mid-run
@pytest.mark.parametrize("model", ["closed", "open"])
def test_running_out_of_descriptors_mid_run_is_counted_as_client_errors(model: str) -> None:
    """Every free descriptor but 3 is taken right after the check: the other connections fail
    with EMFILE, counted as ``client`` with a first error that says so; no traceback."""
    load: dict[str, Any] = {"concurrency": 40, "requests": 200}
    if model == "open":
        load = {"model": "open", "rate": 400, "duration_s": 0.5, "concurrency": 40, "requests": None}
    with BenchServer() as srv:
        proc = _run_child({"soft": 256, "hard": 256, "hog": 3, "hold_s": 5,
                           "service": _service(srv.url, path="/delay/20", **load)})
        hits = srv.stats.total_hits
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    (ep,) = json.loads(proc.stdout)["endpoints"]
    assert ep["errors"]["client"] > 0 and ep["errors"]["connect"] == 0
    assert ep["ok"] == hits > 0  # the few connections that got a descriptor kept working
    assert ep["requests"] == ep["ok"] + ep["errors"]["client"]
    assert "client errors, first: out of file descriptors in the client (RLIMIT_NOFILE" in proc.stderr
    assert "Too many open files" in proc.stderr


# --------------------------------------------------------------------------- the CLI
def test_the_cli_prints_the_refusal_as_an_error_without_a_traceback() -> None:
    def lower() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))

    with BenchServer() as srv:
        proc = subprocess.run(
            [sys.executable, "-m", "perf_profiler.cli.main", "probe", f"{srv.url}/ok", "-c", "500", "-n", "1000"],
            capture_output=True, text=True, timeout=60, preexec_fn=lower, cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO / "plugins")},
        )
        hits = srv.stats.total_hits
    assert hits == 0
    assert proc.returncode == 2 and proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("perf-profiler probe: error: service '127.0.0.1:")
    assert "500 concurrent connections" in proc.stderr and "is 128 (soft) / 128 (hard)" in proc.stderr


# --------------------------------------------------------------------------- classification
KEY = ConnectionKey(host="example.invalid", port=80, is_ssl=False, ssl=True, proxy=None, proxy_auth=None,
                    proxy_headers_hash=None)


def _chained(inner: OSError) -> RuntimeError:
    try:
        try:
            raise inner
        except OSError as exc:
            raise RuntimeError("while connecting") from exc
    except RuntimeError as outer:
        return outer


@pytest.mark.parametrize("exc", [
    OSError(errno.EMFILE, "Too many open files"),
    OSError(errno.ENFILE, "Too many open files in system"),
    aiohttp.ClientConnectorError(KEY, OSError(errno.EMFILE, "Too many open files")),
    aiohttp.ClientOSError(errno.EMFILE, "Too many open files"),
    _chained(OSError(errno.EMFILE, "Too many open files")),
], ids=["EMFILE", "ENFILE", "connector", "client-os", "chained"])
def test_out_of_descriptors_is_a_client_error_that_says_so(exc: BaseException) -> None:
    assert classify_error(exc) == "client"
    assert describe(exc).startswith("out of file descriptors in the client (RLIMIT_NOFILE")


def test_other_connector_errors_keep_their_class() -> None:
    refused = aiohttp.ClientConnectorError(KEY, ConnectionRefusedError(errno.ECONNREFUSED, "refused"))
    assert classify_error(refused) == "connect"
    assert not describe(refused).startswith("out of file descriptors")
