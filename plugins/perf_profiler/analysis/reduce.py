"""Reduce benchmark results to one summary per (service, endpoint).

Input: benchmark results as ``probe`` returns them (see docs/CONTRACTS.md). Several probes of the
same endpoint (retries, shards, backfill slices) merge into one summary that equals what a
single probe with all their samples would give: histograms add exactly, counts add, and the
span is ``min(started_at) .. max(finished_at)``.

* throughput = successful requests / wall seconds of the merged span (0.0 when the span is empty);
* error_rate = failed requests / counted requests (0.0 when nothing was counted);
* latency percentiles come from the successful responses only (see ``histogram``); in the open
  loop that histogram is the corrected one (from each intended send time), the service-time
  histogram (from the actual send) is summarised as ``service_*_ms`` next to it; which
  statistics of which histogram a summary carries is the column registry's (``model.columns``);
* load fidelity: ``dropped`` sends add up (they are *not* requests, so they are outside
  ``error_rate``, but any drop makes the summary ``client_saturated``); ``client_saturated`` is
  true when any part was; the lag histograms merge and ``lag_p50_ms``/``lag_p99_ms`` come from
  the merge. Parts written before these fields existed read as a closed loop without drops.

Pure functions, no I/O.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

from perf_profiler.analysis import histogram
from perf_profiler.model.columns import HistogramName
from perf_profiler.model.result import add_counts


@dataclass(frozen=True)
class EndpointSummary:
    """Merged metrics of one endpoint of one service (latencies in ms, epoch seconds)."""

    service: str
    endpoint: str
    method: str
    requests: int
    ok_count: int
    error_count: int
    errors_by_class: dict[str, int]
    status_codes: dict[str, int]
    throughput: float
    error_rate: float
    started_at: float
    finished_at: float
    wall_s: float
    latency_hist: str
    error_hist: str
    # load fidelity (probe: open/closed loop, drops, the generator's own scheduling lag)
    model: str = "closed"
    target_rate: float | None = None  # open loop: arrivals per second asked for (all parts)
    scheduled: int = 0  # sends planned = requests + dropped
    dropped: int = 0
    client_saturated: bool = False
    saturation_reasons: tuple[str, ...] = ()
    service_hist: str = ""
    lag_hist: str = ""
    #: every histogram-derived column of the registry (p50_ms, ..., service_p99_ms), in ms;
    #: also readable as attributes (``summary.p95_ms``)
    derived: Mapping[str, float] = field(default_factory=dict)

    def __getattr__(self, name: str) -> float:
        derived = self.__dict__.get("derived", {})
        if name not in derived:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return derived[name]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly flat dict (``saturation_reasons`` as a list, derived values as keys)."""
        d = asdict(self)
        d.update(d.pop("derived"))
        d["saturation_reasons"] = list(self.saturation_reasons)
        return d


def summarize_endpoint(
    service: str, endpoint: str, parts: Sequence[Mapping[str, Any]]
) -> EndpointSummary:
    """Merge the endpoint entries (``result["endpoints"][i]``) of one endpoint into a summary.

    A part may carry a ``"service"`` key; when present it must equal ``service``. A part naming
    another service or endpoint, or with inconsistent counts, raises ValueError.
    """
    if not parts:
        raise ValueError(f"no results for service {service!r} endpoint {endpoint!r}")
    for number, part in enumerate(parts):
        _check_part(service, endpoint, number, part)
    method = _common_method(service, endpoint, parts)
    ok = sum(int(part["ok"]) for part in parts)
    requests = sum(int(part["requests"]) for part in parts)
    errors = add_counts(part["errors"] for part in parts)
    error_count = sum(errors.values())
    started_at = min(float(part["started_at"]) for part in parts)
    finished_at = max(float(part["finished_at"]) for part in parts)
    wall_s = finished_at - started_at
    latency, latency_hist = _merge([part["latency_hist"] for part in parts])
    _, error_hist = _merge([part["error_hist"] for part in parts])
    fidelity, other_stats = _fidelity(service, endpoint, parts, latency_hist)
    stats = {"latency": histogram.summarize(latency), **other_stats}
    return EndpointSummary(
        service=service,
        endpoint=endpoint,
        method=method,
        requests=requests,
        ok_count=ok,
        error_count=error_count,
        errors_by_class=errors,
        status_codes=dict(sorted(add_counts(part["status_codes"] for part in parts).items())),
        throughput=ok / wall_s if wall_s > 0 else 0.0,
        error_rate=error_count / requests if requests else 0.0,
        started_at=started_at,
        finished_at=finished_at,
        wall_s=wall_s,
        latency_hist=latency_hist,
        error_hist=error_hist,
        derived=histogram.column_values(stats),
        **fidelity,
    )


def _fidelity(
    service: str, endpoint: str, parts: Sequence[Mapping[str, Any]], latency_hist: str
) -> tuple[dict[str, Any], dict[HistogramName, histogram.LatencyStats]]:
    """The load-fidelity fields of a summary (optional keys of a part; see the module docstring),
    and the summaries of its service-time and lag histograms."""
    models = sorted({str(part.get("model") or "closed") for part in parts})
    if len(models) != 1:
        raise ValueError(f"{service} {endpoint} was probed with several load models: {models}")
    # closed loop: no separate service-time histogram, its latency is the service time
    service_parts = [part.get("service_hist") or part["latency_hist"] for part in parts]
    service_h, service_hist = _merge(service_parts)
    lag_parts = [part["lag_hist"] for part in parts if part.get("lag_hist")]
    lag_h, lag_hist = _merge(lag_parts) if lag_parts else (histogram.new_histogram(), "")
    rates = [part.get("rate") for part in parts]
    dropped = sum(int(part.get("dropped", 0)) for part in parts)
    reasons = list(dict.fromkeys(r for part in parts for r in part.get("saturation_reasons", ())))
    return {
        "model": models[0],
        "target_rate": None if models[0] != "open" or None in rates else float(sum(r for r in rates if r is not None)),
        "scheduled": sum(int(part.get("scheduled", part["requests"])) for part in parts),
        "dropped": dropped,
        "client_saturated": any(bool(part.get("client_saturated")) for part in parts) or dropped > 0,
        "saturation_reasons": tuple(reasons),
        "service_hist": latency_hist if models[0] == "closed" else service_hist,
        "lag_hist": lag_hist,
    }, {"service": histogram.summarize(service_h), "lag": histogram.summarize(lag_h)}


def summarize_results(results: Iterable[Mapping[str, Any]]) -> list[EndpointSummary]:
    """One summary per (service, endpoint) over all results, sorted by (service, endpoint)."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for result in results:
        service = _require(result, "service", "benchmark result")
        for part in _require(result, "endpoints", f"benchmark result of {service!r}"):
            name = _require(part, "endpoint", f"endpoint entry of {service!r}")
            groups.setdefault((service, name), []).append({**part, "service": service})
    return [summarize_endpoint(svc, name, groups[svc, name]) for svc, name in sorted(groups)]


_PART_KEYS = ("endpoint", "method", "started_at", "finished_at", "requests", "ok", "errors",
              "status_codes", "latency_hist", "error_hist")


def _check_part(service: str, endpoint: str, number: int, part: Mapping[str, Any]) -> None:
    """Raise ValueError unless ``part`` is a complete, consistent entry of service/endpoint."""
    where = f"part {number} of {service} {endpoint}"
    for key in _PART_KEYS:
        _require(part, key, where)
    if part.get("service", service) != service:
        raise ValueError(f"{where} belongs to service {part['service']!r}")
    if part["endpoint"] != endpoint:
        raise ValueError(f"{where} belongs to endpoint {part['endpoint']!r}")
    errors = sum(int(count) for count in part["errors"].values())
    if int(part["requests"]) != int(part["ok"]) + errors:
        raise ValueError(f"{where}: requests ({part['requests']}) != ok ({part['ok']}) + errors ({errors})")


def _merge(encoded: list[str]) -> tuple[HdrHistogram, str]:
    """Merged histogram and its encoding (a single part's valid encoding is reused as is)."""
    merged = histogram.merge(encoded)
    return merged, encoded[0] if len(encoded) == 1 else histogram.encode(merged)


def _common_method(service: str, endpoint: str, parts: Sequence[Mapping[str, Any]]) -> str:
    methods = sorted({str(part["method"]) for part in parts})
    if len(methods) != 1:
        raise ValueError(f"{service} {endpoint} was probed with several methods: {methods}")
    return methods[0]


def _require(mapping: Mapping[str, Any], key: str, where: str) -> Any:
    try:
        return mapping[key]
    except (KeyError, TypeError):
        raise ValueError(f"{where} has no {key!r}") from None
