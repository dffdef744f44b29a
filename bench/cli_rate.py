"""The CLI's request rate with and without uvloop, side by side with hey, in one run.

    .venv/bin/python bench/cli_rate.py [--requests 20000] [--concurrency 50] [--rounds 2]

Starts a throwaway aiohttp server in its own process on a free loopback port (pinned to CPU 1
when taskset exists; the clients to CPU 0), then alternates `perf-profiler probe` with uvloop,
with the stock asyncio loop, and `hey`, each for the same number of requests. Prints each
client's best rate of the rounds and the ratios to hey. Needs hey (`apt-get install hey`).
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
SERVER = """
from aiohttp import web
async def ok(request): return web.Response(text="ok")
app = web.Application(); app.router.add_get("/healthz", ok)
web.run_app(app, host="127.0.0.1", port={port}, access_log=None, print=None)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pin(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if shutil.which("taskset") else []


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


def _wait_for(port: int) -> None:
    for _ in range(100):
        if _listening(port):
            return
        time.sleep(0.1)
    raise SystemExit("test server did not start")


def ours(url: str, n: int, c: int, uvloop: bool) -> float:
    args = [*_pin(0), str(BIN / "perf-profiler"), "probe", url, "-n", str(n), "-c", str(c), "--warmup", "200", "--json"]
    if not uvloop:
        args.append("--no-uvloop")
    out = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)
    summary = out["summaries"][0]
    return summary["requests"] / summary["wall_s"]


def hey(url: str, n: int, c: int) -> float:
    out = subprocess.run([*_pin(0), "hey", "-n", str(n), "-c", str(c), url], check=True, capture_output=True, text=True)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
    if rate is None:
        raise RuntimeError(f"hey printed no request rate: {out.stdout[-500:]!r}")
    return float(rate.group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if not shutil.which("hey"):
        raise SystemExit("hey is missing: apt-get install -y hey")
    port = _free_port()
    server = subprocess.Popen([*_pin(1), sys.executable, "-c", SERVER.format(port=port)])
    try:
        _wait_for(port)
        url = f"http://127.0.0.1:{port}/healthz"
        best = {"perf-profiler (uvloop)": 0.0, "perf-profiler (asyncio)": 0.0, "hey": 0.0}
        for _ in range(args.rounds):
            rates = {
                "perf-profiler (uvloop)": ours(url, args.requests, args.concurrency, True),
                "perf-profiler (asyncio)": ours(url, args.requests, args.concurrency, False),
                "hey": hey(url, args.requests, args.concurrency),
            }
            for name, rate in rates.items():
                best[name] = max(best[name], rate)
    finally:
        server.terminate()
        server.wait(10)
    print(f"{args.requests} requests, {args.concurrency} in flight, best of {args.rounds} rounds, client on CPU 0")
    for name, rate in best.items():
        print(f"  {name:<24} {rate:9.0f} req/s   {rate / best['hey']:.2f}x hey")
    print(f"  uvloop / asyncio: {best['perf-profiler (uvloop)'] / best['perf-profiler (asyncio)']:.2f}x")


if __name__ == "__main__":
    main()
