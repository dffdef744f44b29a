#!/usr/bin/env python3
"""A tiny HTTP/1.1 keep-alive server that stalls: every response is held while the server is in a
stall window, ``--stall`` S seconds out of every ``--period`` T seconds (windows start at
multiples of T after the server started), and answered at once otherwise.

Standard library only (uvloop is used when installed), so the benchmark and the tests can start
it with any Python. It prints ``LISTENING <port>`` on stdout once ready, serves until killed.

Ground truth for an open loop at a constant rate over a whole number of periods: an arrival at
phase u (0 <= u < T) of the cycle waits ``S - u`` when ``u < S`` and nothing otherwise; u is
uniform, so P(latency > x) = (S - x) / T for 0 <= x < S, i.e. the q-quantile is
``S - T * (1 - q)`` when ``q > 1 - S/T`` and the bare service time otherwise
(see ``analytic_quantile_s``).

    python bench/stall_server.py --port 0 --stall 0.4 --period 1.0
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import time

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n"


def analytic_quantile_s(q: float, stall_s: float, period_s: float) -> float:
    """Latency (s, service time excluded) at quantile ``q`` (0..1) under the stall pattern."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile must be within [0, 1], not {q}")
    return max(0.0, stall_s - period_s * (1.0 - q))


class StallServer:
    def __init__(self, stall_s: float, period_s: float) -> None:
        if not 0 <= stall_s <= period_s or period_s <= 0:
            raise ValueError("need 0 <= stall <= period and period > 0")
        self.stall_s = stall_s
        self.period_s = period_s
        self.epoch = time.monotonic()

    def hold_s(self) -> float:
        """How long a response due now must wait for the current stall window to end."""
        phase = (time.monotonic() - self.epoch) % self.period_s
        return self.stall_s - phase if phase < self.stall_s else 0.0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = _content_length(head)
                if length:
                    await reader.readexactly(length)
                hold = self.hold_s()
                if hold > 0:
                    await asyncio.sleep(hold)
                writer.write(RESPONSE)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            return int(line[15:].strip() or 0)
    return 0


async def serve(host: str, port: int, stall_s: float, period_s: float) -> None:
    app = StallServer(stall_s, period_s)
    server = await asyncio.start_server(app.handle, host, port, backlog=4096)
    print(f"LISTENING {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--stall", type=float, required=True, help="S: seconds held per period")
    parser.add_argument("--period", type=float, required=True, help="T: period in seconds")
    args = parser.parse_args(argv)
    coro = serve(args.host, args.port, args.stall, args.period)
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
