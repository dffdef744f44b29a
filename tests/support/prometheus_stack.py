"""A real Pushgateway and a real Prometheus (Debian's packages) as plain processes on free loopback ports.

    ensure_installed()
    with Pushgateway(tmp) as gateway, Prometheus(tmp, gateway, rule_files=[RULES]) as prom:
        ...push to gateway.url...
        prom.query("profiler_latency_p95")

Prometheus scrapes the gateway every second with ``honor_labels: true`` (the pushed job/instance
labels win) and evaluates its rules every second; each server keeps its data in its own tmp dir.
Both are killed on exit; every wait is bounded.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

HOST = "127.0.0.1"
BINARIES = {"prometheus": "prometheus", "prometheus-pushgateway": "prometheus-pushgateway", "promtool": "prometheus"}
T = TypeVar("T")
S = TypeVar("S", bound="_Server")


def ensure_installed() -> None:
    """apt-get install the Debian packages when a binary is missing (the machine runs as root)."""
    missing = sorted({package for binary, package in BINARIES.items() if shutil.which(binary) is None})
    if not missing:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]
    if subprocess.run(install, env=env, capture_output=True, timeout=600).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, capture_output=True, timeout=600)
        subprocess.run(install, check=True, env=env, capture_output=True, timeout=600)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def get_json(url: str, timeout_s: float = 5) -> Any:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return json.loads(response.read())


def poll(check: Callable[[], T | None], timeout_s: float, what: str, interval_s: float = 0.25) -> T:
    """Call ``check`` until it returns something other than None (bounded by ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except OSError as error:  # not up yet
            last_error, result = error, None
        if result is not None:
            return result
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what} (last error: {last_error})")


class _Server:
    """One server process with its log file; ``argv`` gets the listen address appended."""

    name = "server"

    def __init__(self, workdir: Path, argv: Sequence[str]) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log_path = workdir / f"{self.name}.log"
        self._argv = [*argv, f"--web.listen-address={HOST}:{self.port}"]
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self: S) -> S:
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(self._argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            poll(self._ready, 30, f"{self.name} on {self.url} (log: {self.log_path})")
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _ready(self) -> bool | None:
        assert self._process is not None
        if self._process.poll() is not None:
            raise AssertionError(f"{self.name} exited: {self.log_path.read_text()[-2000:]}")
        with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
            return True if response.status == 200 else None

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)


class Pushgateway(_Server):
    name = "pushgateway"

    def __init__(self, workdir: Path) -> None:
        # in memory only: Debian's build defaults --persistence.file to a file under /var/lib
        super().__init__(workdir, ["prometheus-pushgateway", "--persistence.file="])

    def groups(self) -> list[dict[str, Any]]:
        """The gateway's groups (``/api/v1/metrics``): labels and push_time_seconds of each."""
        return list(get_json(f"{self.url}/api/v1/metrics")["data"])

    def push_times(self) -> dict[tuple[str, str], float]:
        """(tenant, service) → last successful push time of that group."""
        return {(g["labels"]["tenant"], g["labels"]["service"]):
                float(g["push_time_seconds"]["metrics"][0]["value"]) for g in self.groups()}


class Prometheus(_Server):
    name = "prometheus"

    def __init__(self, workdir: Path, gateway: Pushgateway, rule_files: Sequence[Path] = ()) -> None:
        config = workdir / "prometheus.yml"
        config.write_text(json.dumps({  # JSON is YAML
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(path) for path in rule_files],
            "scrape_configs": [{"job_name": "pushgateway", "honor_labels": True,
                                "static_configs": [{"targets": [gateway.url.removeprefix("http://")]}]}],
        }))
        super().__init__(workdir, ["prometheus", f"--config.file={config}",
                                   f"--storage.tsdb.path={workdir / 'tsdb'}"])

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector of ``expr`` (``/api/v1/query``)."""
        body = get_json(f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def alerts(self) -> list[dict[str, Any]]:
        """Active alerts (pending and firing) from ``/api/v1/alerts``."""
        return list(get_json(f"{self.url}/api/v1/alerts")["data"]["alerts"])
