"""The benchmark result: what a probe returns and what travels over XCom (docs/CONTRACTS.md).

Types only (and the one helper every reader of a result needs): the engine builds these dicts,
``analysis.reduce`` and storage read them. Results are plain JSON-serialisable dicts, so the
types are ``TypedDict``s: they cost nothing at run time and a result read back from XCom or a
database is the same value as the one the engine returned.

Keys of an endpoint entry that results written before the load-fidelity fields (issue 4) lack
are optional (``total=False``); readers use the defaults the contract names for them.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

from typing_extensions import NotRequired


class Drops(TypedDict):
    """Open loop: sends never made, by reason (closed loop: both 0)."""

    in_flight_cap: int  # due while ``concurrency`` requests were in flight
    behind_schedule: int  # still unsent a grace period after the end of the schedule


class _EndpointCore(TypedDict):
    """The keys every endpoint entry has had since the first version of the contract."""

    endpoint: str  # the endpoint's name (unique within its service)
    method: str
    path: str
    started_at: float  # epoch seconds of the counted phase (warm-up excluded)
    finished_at: float
    requests: int  # counted requests (warm-up excluded) = ok + sum(errors)
    ok: int
    errors: dict[str, int]  # error class -> count, every class present (zeros included)
    status_codes: dict[str, int]  # str(code) -> count of responses that had a status
    latency_hist: str  # encoded HDR histogram (µs) of successful responses (open loop: corrected)
    error_hist: str  # encoded HDR histogram (µs) of failed requests


class EndpointResult(_EndpointCore, total=False):
    """One endpoint of a benchmark result; the load-fidelity keys may be absent in old results."""

    model: str  # "closed" | "open"                                  (absent: "closed")
    rate: float | None  # open: arrivals/s generated; closed: max_rate pace cap or None
    concurrency: int  # closed: workers; open: cap on requests in flight
    duration_s: float | None  # None: closed loop counted by number
    scheduled: int  # sends planned = requests + dropped                (absent: requests)
    dropped: int  # sends never made = sum(drops)                       (absent: 0)
    drops: Drops
    service_hist: str | None  # open: from the actual send; closed: None
    lag_hist: str  # the generator's scheduling lag (µs)
    lag_p50_ms: float
    lag_p99_ms: float
    client_saturated: bool  # (absent: False)
    saturation_reasons: list[str]  # plain-language reasons, empty when not saturated
    redirects: int  # redirects followed, every hop of every counted request  (absent: 0)


class _BenchmarkCore(TypedDict):
    """The keys every benchmark result has."""

    service: str
    base_url: str
    load: dict[str, Any]  # the LoadSettings as a dict
    started_at: float  # epoch seconds
    finished_at: float
    endpoints: list[EndpointResult]
    engine: NotRequired[str]  # the engine that ran: "fast" or "aiohttp" (absent in results made before it)


class BenchmarkResult(_BenchmarkCore, total=False):
    """One service's benchmark: its endpoints in the order they were probed."""

    #: Only in a result returned with ``run_probe(..., on_cancel="partial")`` after a stop: the
    #: signal's name; the endpoints are those measured until then (the last one cut short).
    interrupted: str
    #: A sharded service only: the shard's number, host, try and start-line outcomes
    #: (``tasks.sharding.with_shard``).
    shard: dict[str, Any]
    #: The service's release read from its version source (``engine.version_read``); None when it has
    #: one but the read failed. Absent without a version source (and in results made before it existed).
    service_version: str | None


def add_counts(mappings: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Key-wise sum; keys keep their first-seen order and zero counts are kept."""
    total: Counter[str] = Counter()
    for mapping in mappings:
        for key, count in mapping.items():
            total[str(key)] += int(count)
    return dict(total)
