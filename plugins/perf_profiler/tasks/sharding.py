"""Shards: one mapped ``benchmark`` instance per service x shard, and how an instance names itself.

``load_targets`` returns one item per instance: the service's JSON as today when it has one
shard, else one copy per shard with the key ``shard`` (0-based) added. The grid labels an
instance ``service[i/N]`` (1-based), the way ``probe_label`` numbers processes.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from perf_profiler.engine.plan import Share
    from perf_profiler.model.result import BenchmarkResult

#: The key an item of a sharded service carries besides the service's own fields.
SHARD_KEY = "shard"


def expand(service_dicts: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The mapped instances: each service once, or ``load.shards`` times with its shard number."""
    items: list[dict[str, Any]] = []
    for service in service_dicts:
        count = int(service["load"].get("shards", 1))
        if count == 1:
            items.append(dict(service))
        else:
            items.extend({**service, SHARD_KEY: index} for index in range(count))
    return items


def shard_of(item: Mapping[str, Any]) -> tuple[dict[str, Any], int | None]:
    """The service's JSON without the shard key, and the shard number (None: not sharded)."""
    service = {key: value for key, value in item.items() if key != SHARD_KEY}
    index = item.get(SHARD_KEY)
    return service, None if index is None else int(index)


def label(item: Mapping[str, Any]) -> str:
    """``api`` or ``api[2/4]``: the instance's label in the grid and in log lines."""
    service, index = shard_of(item)
    return service["name"] if index is None else shard_label(service["name"], index, int(service["load"]["shards"]))


def shard_label(service: str, index: int, count: int) -> str:
    """``api[2/4]`` for shard index 1 of 4."""
    return f"{service}[{index + 1}/{count}]"


def expected_shards(service_dicts: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Service name -> how many shards store must receive for it."""
    return {service["name"]: int(service["load"].get("shards", 1)) for service in service_dicts}


def with_shard(
    result: BenchmarkResult, shard: Share, host: str, try_number: int, start_lines: list[dict[str, Any]]
) -> BenchmarkResult:
    """``result`` with its ``shard`` record: number, label, host, try and the start-line outcomes."""
    return {**result, "shard": {
        "index": shard.index, "count": shard.count, "label": shard_label(result["service"], shard.index, shard.count),
        "host": host, "try_number": try_number, "start_lines": start_lines,
    }}
