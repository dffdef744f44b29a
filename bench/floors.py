"""Row h's floors at 1,000 req/s: what two wake-ups per request cost on this machine, same run.

An open loop that sleeps until each send and waits for each answer wakes twice per request: at
the send time and when the response arrives. On a VM a wake-up costs tens of microseconds of
kernel time, so the CPU per 1,000 requests has a floor no engine built that way goes under. Two
minimal clients measure it next to the engine, in the same rounds, each reporting its own CPU
time around the loop only (as the engine's probe does):

* **C floor**: one blocking keep-alive socket; ``clock_nanosleep`` to each due time, ``write``,
  ``read`` -- nothing else (compiled with ``cc`` when there is one; ``install-tools.sh`` brings it);
* **Python floor**: the same loop in Python (``time.sleep``, ``sendall``, ``recv``): no event
  loop, no parsing, no recording.

``hey -q 1000 -c 1`` is measured beside them (its CPU includes its start-up).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from bench import run as base

_PYTHON_FLOOR = """
import os, socket, sys, time
host, port, rate, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
conn = socket.create_connection((host, port))
conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
request = f"GET / HTTP/1.1\\r\\nHost: {host}:{port}\\r\\nUser-Agent: floor\\r\\n\\r\\n".encode()
count, step = int(rate * seconds), 1e9 / rate
before = os.times()
start = time.perf_counter_ns() + 10_000_000
for k in range(count):
    wait = start + int(k * step) - time.perf_counter_ns()
    if wait > 0:
        time.sleep(wait / 1e9)
    conn.sendall(request)
    if not conn.recv(65536):
        sys.exit("closed")
after = os.times()
print((after.user - before.user + after.system - before.system) / count * 1000)
"""

_C_FLOOR = r"""
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double cpu_s(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv) {
    if (argc != 5) return 2;
    int port = atoi(argv[2]), one = 1;
    double rate = atof(argv[3]), step = 1e9 / rate;
    long count = (long)(rate * atof(argv[4]));
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    int sock = socket(AF_INET, SOCK_STREAM, 0);
    if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1 || connect(sock, (void *)&addr, sizeof addr)) return 1;
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char request[256], buf[65536];
    int len = snprintf(request, sizeof request, "GET / HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: floor\r\n\r\n",
                       argv[1], port);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long start = now.tv_sec * 1000000000LL + now.tv_nsec + 10000000LL;
    double before = cpu_s();
    for (long k = 0; k < count; k++) {
        long long due = start + (long long)(k * step);
        struct timespec at = {due / 1000000000LL, due % 1000000000LL};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL);
        if (write(sock, request, len) != len || read(sock, buf, sizeof buf) <= 0) return 1;
    }
    printf("%f\n", (cpu_s() - before) / count * 1000);
    return 0;
}
"""


class Floors:
    """The floor clients of one bench run (the C one built once into a temporary folder)."""

    def __init__(self, url: str, cpus: base.Cpus, work: Path) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", str(parts.port)
        self.url, self.cpus = url, cpus
        self.c_binary = _build_c(work)

    def python(self, rate: float, seconds: float) -> float:
        """The Python floor's CPU-seconds per 1,000 requests."""
        script = [sys.executable, "-c", _PYTHON_FLOOR, self.host, self.port, f"{rate:g}", f"{seconds:g}"]
        return float(base.run([*self.cpus.pin(self.cpus.client), *script], seconds + 60))

    def c(self, rate: float, seconds: float) -> float | None:
        """The C floor's CPU-seconds per 1,000 requests (None: no C compiler here)."""
        if self.c_binary is None:
            return None
        args = [str(self.c_binary), self.host, self.port, f"{rate:g}", f"{seconds:g}"]
        return float(base.run([*self.cpus.pin(self.cpus.client), *args], seconds + 60))

    def hey(self, rate: float, seconds: float) -> float:
        """``hey -q rate -c 1``'s CPU-seconds per 1,000 answered requests (start-up included)."""
        result = base.hey(self.url, [self.cpus.client], self.cpus, seconds, 1, qps=rate)
        return 1000.0 / result["per_cpu_s"] if result["per_cpu_s"] else float("nan")


def _build_c(work: Path) -> Path | None:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        base.log("(h) no C compiler: the C floor is not measured")
        return None
    source, binary = work / "floor.c", work / "floor"
    source.write_text(_C_FLOOR)
    subprocess.run([compiler, "-O2", "-o", str(binary), str(source)], check=True, capture_output=True, timeout=120)
    return binary


def one_round(floors: Floors, rate: float, seconds: float) -> dict[str, float | None]:
    """One round of every floor client at ``rate``: CPU-seconds per 1,000 requests each."""
    c_floor = floors.c(rate, seconds)
    return {"c_floor": None if c_floor is None else round(c_floor, 4),
            "python_floor": round(floors.python(rate, seconds), 4), "hey": round(floors.hey(rate, seconds), 4)}


@contextmanager
def floor_clients(url: str, cpus: base.Cpus) -> Iterator[Floors]:
    """The floor clients for ``url`` (the C one built in a temporary folder, removed after)."""
    with tempfile.TemporaryDirectory(prefix="perf-bench-floor-") as work:
        yield Floors(url, cpus, Path(work))
