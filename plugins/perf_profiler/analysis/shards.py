"""Sharded services in ``store``: which are complete, and did their shards run together?

A service with ``load.shards = N`` comes back as N benchmark results, each with its ``shard``
record (``tasks.sharding.with_shard``). Its rows are written only when every shard is there (a
retried shard's XCom is its last successful try, so it counts once); ``reduce`` merges the parts
exactly like processes' parts. Each row also gets the shards' own record (host, try, counted
window on the metrics database server's clock, counts, start-line outcome) and a flag when their
counted windows did not all overlap -- such a row is stored but never passed off as concurrent.

Pure functions, no I/O.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Completeness:
    """The results of services whose shards all arrived, and the services missing some."""

    results: list[Mapping[str, Any]]
    missing: dict[str, list[str]] = field(default_factory=dict)  # service -> labels of missing shards


def complete_services(results: Iterable[Mapping[str, Any]], expected: Mapping[str, int]) -> Completeness:
    """Keep the results of services whose every expected part (shard, or the one result) is present."""
    by_service: dict[str, list[Mapping[str, Any]]] = {}
    for result in results:
        by_service.setdefault(str(result["service"]), []).append(result)
    kept: list[Mapping[str, Any]] = []
    missing: dict[str, list[str]] = {}
    for service, count in expected.items():
        got = by_service.get(service, [])
        have = {int(r["shard"]["index"]) for r in got if "shard" in r} if count > 1 else set(range(len(got[:1])))
        lost = [f"{service}[{i + 1}/{count}]" if count > 1 else service for i in range(count) if i not in have]
        if lost:
            missing[service] = lost
        else:
            kept.extend(got)
    return Completeness(kept, missing)


@dataclass(frozen=True)
class ShardCheck:
    """One sharded row's ``shards`` record and whether its shards failed to run together (why)."""

    record: dict[str, Any]
    reasons: list[str]

    @property
    def not_concurrent(self) -> bool:
        return bool(self.reasons)


def check_endpoint(endpoint: str, results: Sequence[Mapping[str, Any]]) -> ShardCheck:
    """The shards of one endpoint: their windows (server clock), counts and start lines, checked."""
    shards = sorted(results, key=lambda r: int(r["shard"]["index"]))
    items = [_shard_item(endpoint, result) for result in shards]
    reasons = [reason for item in items for reason in _line_reasons(item)]
    latest_start = max(item["started_at"] for item in items)
    earliest_end = min(item["finished_at"] for item in items)
    overlap_s = earliest_end - latest_start
    if overlap_s <= 0:
        reasons.append(f"the shards' counted windows do not overlap (the last started {-overlap_s:.3f} s after "
                       "the first finished)")
    record = {"count": len(items), "overlap_s": round(max(0.0, overlap_s), 6), "not_concurrent": reasons,
              "shards": items}
    return ShardCheck(record, reasons)


def _shard_item(endpoint: str, result: Mapping[str, Any]) -> dict[str, Any]:
    """One shard of the row: who, where, its window on the server's clock and its counts."""
    shard = result["shard"]
    entry = next(e for e in result["endpoints"] if e["endpoint"] == endpoint)
    line = next((o for o in shard.get("start_lines", []) if o["endpoint"] == endpoint), None)
    offset = float(line["offset_s"]) if line else 0.0
    return {
        "shard": shard["label"], "index": int(shard["index"]), "host": shard.get("host", ""),
        "try_number": shard.get("try_number", 0),
        "started_at": round(float(entry["started_at"]) + offset, 6),
        "finished_at": round(float(entry["finished_at"]) + offset, 6),
        "requests": int(entry["requests"]), "ok": int(entry["ok"]),
        "start_line": None if line is None else {k: line[k] for k in ("present", "shards", "timed_out", "alone")},
    }


def _line_reasons(item: Mapping[str, Any]) -> list[str]:
    line = item["start_line"]
    if line is None:
        return [f"shard {item['shard']} had no start line (it was probed without the metrics database's)"]
    if line["alone"]:
        return [f"shard {item['shard']} (try {item['try_number']}, host {item['host']}) ran alone: it checked in "
                "after its siblings' start line had passed"]
    if line["timed_out"]:
        return [f"shard {item['shard']}: the start line timed out with {line['present']} of {line['shards']} "
                "shards in"]
    return []
