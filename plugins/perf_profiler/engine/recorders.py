"""Cheap per-sample accumulation for one phase of one endpoint (reduced once, at the end).

Latencies (µs) are buffered in arrays and recorded into HDR histograms in bulk, so the hot path
stays a few list appends and memory stays bounded whatever the number of requests.
"""
from __future__ import annotations

from array import array
from typing import Any

from perf_profiler.analysis import histogram
from perf_profiler.engine.classify import ERROR_CLASSES

#: Samples buffered per histogram before one bulk record (bounded memory, cheap hot path).
FLUSH_EVERY = 4096


class Samples:
    """Latencies in µs, buffered in an array and recorded into an HDR histogram in bulk."""

    __slots__ = ("buf", "hist")

    def __init__(self) -> None:
        self.hist = histogram.new_histogram()
        self.buf = array("q")

    def add(self, value_us: int) -> None:
        buf = self.buf
        buf.append(value_us)
        if len(buf) >= FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        """Record the buffered samples; the buffer is emptied in place (``buf.append`` stays valid)."""
        if self.buf:
            histogram.record_many(self.hist, self.buf)
            del self.buf[:]

    def finish(self) -> Any:
        """The histogram holding every sample added so far."""
        self.flush()
        return self.hist


class EndpointRecorder:
    """Counts and latencies of one phase of one endpoint, as the requests complete."""

    __slots__ = (
        "dropped_cap",
        "dropped_late",
        "errors",
        "failed",
        "first_error",
        "lag",
        "latency",
        "ok",
        "redirects",
        "scheduled",
        "service",
        "status_codes",
    )

    def __init__(self, open_loop: bool = False) -> None:
        self.ok = 0
        self.errors = dict.fromkeys(ERROR_CLASSES, 0)
        self.status_codes: dict[int, int] = {}
        self.latency = Samples()  # successful responses (open loop: from the intended send)
        self.failed = Samples()  # failed requests
        self.service = Samples() if open_loop else None  # open loop: from the actual send
        self.lag = Samples()  # scheduling lag of the generator
        self.first_error: dict[str, str] = {}  # error class -> description of its first example
        self.scheduled = 0
        self.redirects = 0  # redirects followed (every hop of every exchange)
        self.dropped_cap = 0
        self.dropped_late = 0

    @property
    def requests(self) -> int:
        return self.ok + sum(self.errors.values())


class InFlight:
    """Open loop: how many requests are in flight (a mutable int shared with the senders)."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0
