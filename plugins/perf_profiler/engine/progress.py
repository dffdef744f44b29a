"""Live progress: what a running probe has done so far, for a display read a few times a second.

The engine does nothing per request for it beyond what the recorders already do: the probe
names the phase in progress and its recorder on the process-wide :data:`PROGRESS` board
(:meth:`ProgressBoard.begin`, once per phase), and a reader -- the CLI's live line, the
``benchmark`` task's periodic log line -- takes a :class:`Snapshot` whenever it wants one: the
counts, and a copy of the latency and lag histograms' bucket counts (``histogram.counts_snapshot``).
Readers run in another thread, so a snapshot may be a little torn (a count ahead of a histogram);
the final result is built from the recorders once the phase is over and stays exact.

Worker processes (``processes``) publish their snapshot every :data:`PUBLISH_EVERY_S` to their
parent (:func:`publish_loop`), whose board merges the latest of each (:meth:`ProgressBoard.receive`):
counts add, histograms add; the merged percentiles are *approximate* (the parts were taken at
slightly different times) and :class:`ProgressLine` says so. :class:`ProgressLine` turns successive
snapshots into the one-line status (rates and percentiles over the last :data:`WINDOW_S`).
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from perf_profiler.analysis import histogram
from perf_profiler.engine.recorders import EndpointRecorder
from perf_profiler.engine.saturation import saturation_limit_ms

if TYPE_CHECKING:
    import numpy as np

#: Worker processes: how often each sends its snapshot to the parent.
PUBLISH_EVERY_S = 0.5
#: The live line's req/s and percentiles are over (about) this many last seconds.
WINDOW_S = 5.0


@dataclass(frozen=True, eq=False)
class Snapshot:
    """One phase of one endpoint so far (``latency``/``lag``: bucket counts of the HDR histograms)."""

    service: str
    endpoint: str
    phase: str  # "warm-up" | "counted"
    position: tuple[int, int]  # (endpoint number from 1, endpoints of the service)
    elapsed_s: float
    planned_s: float | None  # by duration (closed loop by duration, open loop)
    planned_requests: int | None  # closed loop by number
    requests: int
    ok: int
    errors: int
    dropped: int
    latency: np.ndarray
    lag: np.ndarray
    processes: int = 1

    def to_wire(self) -> dict[str, Any]:
        """A small picklable dict for the parent process (histograms as sparse index/count lists)."""
        import numpy as np

        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in ("latency", "lag")}
        for key in ("latency", "lag"):
            counts = getattr(self, key)
            index = np.flatnonzero(counts)
            out[key] = (index.tolist(), counts[index].tolist())
        return out

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> Snapshot:
        import numpy as np

        arrays = {}
        for key in ("latency", "lag"):
            counts = histogram.counts_snapshot(histogram.new_histogram())
            index, values = wire[key]
            counts[np.asarray(index, dtype=np.int64)] = np.asarray(values, dtype=np.uint64)
            arrays[key] = counts
        fields = {**wire, **arrays, "position": tuple(wire["position"])}
        return cls(**fields)


def merge_snapshots(parts: list[Snapshot]) -> Snapshot:
    """The worker processes' latest snapshots as one (approximate: taken at slightly different times)."""
    first = max(parts, key=lambda p: (p.position, p.phase == "counted"))
    same = [p for p in parts if (p.position, p.phase) == (first.position, first.phase)]
    return replace(
        first,
        elapsed_s=max(p.elapsed_s for p in same),
        planned_requests=None if first.planned_requests is None else sum(p.planned_requests or 0 for p in same),
        requests=sum(p.requests for p in same), ok=sum(p.ok for p in same), errors=sum(p.errors for p in same),
        dropped=sum(p.dropped for p in same),
        latency=sum((p.latency for p in same[1:]), same[0].latency.copy()),
        lag=sum((p.lag for p in same[1:]), same[0].lag.copy()),
        processes=len(parts),
    )


class ProgressBoard:
    """Process-wide: the phase in progress and its recorder (set once per phase by the probe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: tuple[str, str, str, tuple[int, int], EndpointRecorder, float, Any] | None = None
        self._parts: dict[int, Snapshot] = {}

    def begin(self, service: str, endpoint: str, phase: str, position: tuple[int, int],
              recorder: EndpointRecorder, plan: Any) -> None:
        """The probe starts ``phase`` of ``endpoint``; ``plan`` is its ``EndpointPlan``."""
        with self._lock:
            self._current = (service, endpoint, phase, position, recorder, time.perf_counter(), plan)

    def clear(self) -> None:
        """Nothing in progress (the probe is over); forget the worker processes' parts too."""
        with self._lock:
            self._current = None
            self._parts = {}

    def receive(self, index: int, wire: dict[str, Any]) -> None:
        """Parent of worker processes: the latest snapshot of worker ``index``."""
        part = Snapshot.from_wire(wire)
        with self._lock:
            self._parts[index] = part

    def snapshot(self) -> Snapshot | None:
        """What is in progress now (merged over the worker processes), or None."""
        with self._lock:
            current, parts = self._current, list(self._parts.values())
        if current is None:
            return merge_snapshots(parts) if parts else None
        service, endpoint, phase, position, recorder, started, plan = current
        return Snapshot(
            service=service, endpoint=endpoint, phase=phase, position=position,
            elapsed_s=time.perf_counter() - started,
            planned_s=plan.duration_s if phase == "counted" else None,
            planned_requests=(plan.requests if phase == "counted" else plan.warmup),
            requests=recorder.requests, ok=recorder.ok, errors=recorder.requests - recorder.ok,
            dropped=recorder.dropped_cap + recorder.dropped_late,
            # buf[:] copies under the GIL: a view of the live array would stop the probe's appends
            latency=histogram.counts_snapshot(recorder.latency.hist, recorder.latency.buf[:]),
            lag=histogram.counts_snapshot(recorder.lag.hist, recorder.lag.buf[:]),
        )


#: The one progress board of this process.
PROGRESS = ProgressBoard()


def publish_loop(index: int, channel: Any, done: threading.Event) -> None:
    """Worker process (a daemon thread): put this process's snapshot on ``channel`` until ``done``."""
    while not done.wait(PUBLISH_EVERY_S):
        snap = PROGRESS.snapshot()
        if snap is not None:
            channel.put((index, snap.to_wire()))


class ProgressLine:
    """Successive snapshots -> the one-line status (rates and percentiles over the last ``WINDOW_S``)."""

    def __init__(self, window_s: float = WINDOW_S) -> None:
        self.window_s = window_s
        self._history: deque[tuple[float, Snapshot]] = deque()

    def render(self, snap: Snapshot) -> str:
        """The status line for ``snap`` (remembered as the newest of the window)."""
        now = time.monotonic()
        history = self._history
        if history and (history[-1][1].position, history[-1][1].phase) != (snap.position, snap.phase):
            history.clear()  # a new phase: its own window
        history.append((now, snap))
        while len(history) > 2 and now - history[1][0] >= self.window_s:
            history.popleft()
        then_t, then = history[0]
        return status_line(snap, then, now - then_t)


def _window(snap: Snapshot, then: Snapshot, seconds: float) -> tuple[float, Any, Any]:
    """req/s, latency and lag stats between ``then`` and ``snap`` (since the phase start if too short)."""
    if seconds < 0.5 or snap.ok <= then.ok:
        rate = snap.requests / snap.elapsed_s if snap.elapsed_s > 0 else 0.0
        return rate, histogram.summarize_counts(snap.latency), histogram.summarize_counts(snap.lag)
    rate = (snap.requests - then.requests) / seconds
    latency = snap.latency - then.latency if snap.latency.sum() >= then.latency.sum() else snap.latency
    lag = snap.lag - then.lag if snap.lag.sum() >= then.lag.sum() else snap.lag
    return rate, histogram.summarize_counts(latency), histogram.summarize_counts(lag)


def status_line(snap: Snapshot, then: Snapshot, seconds: float) -> str:
    """``[1/2] svc /users counted 12s/30s  4,512 req  367 req/s  errors 3 (0.07%)  p50 ... p99 ...``."""
    rate, latency, lag = _window(snap, then, seconds)
    if snap.planned_s is not None:
        done = f"{snap.elapsed_s:.0f}s/{snap.planned_s:g}s"
    elif snap.planned_requests:
        done = f"{snap.elapsed_s:.0f}s, {snap.requests:,}/{snap.planned_requests:,} req"
    else:
        done = f"{snap.elapsed_s:.0f}s"
    share = snap.errors / snap.requests if snap.requests else 0.0
    approx = "≈" if snap.processes > 1 else ""
    if latency.count:
        pct = f"p50 {approx}{latency.p50_ms:.2f} ms  p99 {approx}{latency.p99_ms:.2f} ms"
    else:
        pct = "p50 n/a  p99 n/a"
    which = f"last {seconds:.0f}s" if seconds >= 0.5 and snap.ok > then.ok else "so far"
    if snap.processes > 1:
        which += f", merged from {snap.processes} processes: approximate"
    saturated = snap.dropped > 0 or (lag.count > 0 and lag.p99_ms > saturation_limit_ms(latency.p99_ms))
    n, of = snap.position
    return (f"[{n}/{of}] {snap.service} {snap.endpoint} {snap.phase} {done}  {snap.requests:,} req  "
            f"{rate:,.0f} req/s  errors {snap.errors:,} ({share:.2%})  {pct} ({which})  "
            f"dropped {snap.dropped:,}  client {'SATURATED' if saturated else 'ok'}")
