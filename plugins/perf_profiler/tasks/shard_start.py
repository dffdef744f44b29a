"""The shards' start line through the metrics database: a ``StartLine`` for ``run_probe``.

Before each endpoint's counted phase every shard checks in (``storage.shard_repo``); once all N
are in, the first shard to see it writes one agreed start a moment ahead on the database
server's clock, and every shard starts then. When ``load.shard_start_timeout_s`` passes after
the first check-in, the shards present go on and the start says so (``timed_out``). A shard that
arrives after the start has passed (it was retried, or a pool serialised the shards) runs
alone, at once. Each shard measures its offset to the server's clock at check-in and converts
the agreed instant to its own clock (workers need NTP for their counted windows to be
comparable; the offset is logged and stored). Each crossing is kept as an outcome for ``store``.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from perf_profiler.storage.shard_repo import ShardKey, ShardLineRepo, Start
from perf_profiler.tasks.sharding import shard_label

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

    from perf_profiler.engine.plan import Share
    from perf_profiler.model.targets import Service

log = logging.getLogger(__name__)

#: The start is written this long ahead, so that every polling shard sees it before it comes.
START_LEAD_S = 1.0
#: How often a waiting shard looks at the table.
POLL_S = 0.2
#: An offset to the server's clock above this is warned about (are the workers on NTP?).
OFFSET_WARN_S = 0.5


@dataclass(frozen=True)
class ShardTask:
    """Where a shard runs: its DAG run, its worker's host name (Airflow's ``hostname_callable``) and try."""

    dag_id: str
    run_id: str
    host: str
    try_number: int

    @classmethod
    def from_context(cls, context: Any) -> ShardTask:
        """From an Airflow task context. A cleared run meets at fresh start lines: its
        ``clear_number`` is part of the key (a retry keeps it, so a retried shard finds its
        siblings' line, passed, and runs alone; a shard cleared on its own waits its timeout)."""
        ti = context["ti"]
        cleared = int(getattr(context.get("dag_run"), "clear_number", 0) or 0)
        run_id = ti.run_id if not cleared else f"{ti.run_id}#clear{cleared}"
        return cls(dag_id=ti.dag_id, run_id=run_id, host=str(ti.hostname or ""), try_number=int(ti.try_number))


class DbStartLine:
    """Crossed once per endpoint, in the order ``probe_service`` probes them."""

    def __init__(self, hook: DbApiHook, service: Service, shard: Share, task: ShardTask) -> None:
        self.hook = hook
        self.service = service
        self.shard = shard
        self.task = task
        self.timeout_s = service.load.shard_start_timeout_s
        self.outcomes: list[dict[str, Any]] = []
        self.label = shard_label(service.name, shard.index, shard.count)

    async def start_line(self) -> int:
        endpoint = self.service.endpoints[len(self.outcomes)].name
        key = ShardKey(self.task.dag_id, self.task.run_id, self.service.name, endpoint)
        repo = ShardLineRepo(self.hook)
        try:
            offset_s = _offset(repo)
            checked_in = repo.check_in(key, self.shard.index, self.shard.count, self.task.host, self.task.try_number)
            start = await self._await_start(repo, key, checked_in)
        finally:
            repo.close()
        alone = start.start_at < checked_in
        self.outcomes.append(self._outcome(endpoint, start, alone, offset_s))
        if alone:
            return time.perf_counter_ns()  # nobody to wait for: start now
        t0_ns = time.perf_counter_ns() + int((start.start_at - offset_s - time.time()) * 1e9)
        delay = (t0_ns - time.perf_counter_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        return t0_ns

    async def _await_start(self, repo: ShardLineRepo, key: ShardKey, checked_in: float) -> Start:
        """The agreed start: read, or decided by this shard when all are in or the timeout passed."""
        while (start := repo.agreed_start(key)) is None:
            seen = repo.attendance(key)
            if seen.present >= self.shard.count:
                return repo.decide_start(key, self.shard.count, seen.present, False, START_LEAD_S)
            if seen.now - seen.first_at >= self.timeout_s:
                return repo.decide_start(key, self.shard.count, seen.present, True, START_LEAD_S)
            await asyncio.sleep(POLL_S)
        return start

    def _outcome(self, endpoint: str, start: Start, alone: bool, offset_s: float) -> dict[str, Any]:
        """What happened at this endpoint's line, logged, and kept for the row's ``shards`` JSON."""
        if alone:
            why = (f"{self.label} {endpoint}: RUNS ALONE -- checked in after its siblings' start line had passed "
                   f"(try {self.task.try_number}); its counted window cannot overlap theirs, the row will be "
                   "flagged shards_not_concurrent")
            log.warning("%s", why)
        elif start.timed_out:
            why = (f"{self.label} {endpoint}: start line TIMED OUT after {self.timeout_s:g} s with "
                   f"{start.present} of {start.shards} shards in (is the pool or the worker count smaller than "
                   "the shard count?); the present shards go on, the row will be flagged shards_not_concurrent")
            log.warning("%s", why)
        else:
            why = f"{self.label} {endpoint}: all {start.shards} shards in; starting together"
            log.info("%s (server clock offset %.1f ms)", why, 1000 * offset_s)
        return {"endpoint": endpoint, "present": start.present, "shards": start.shards,
                "timed_out": start.timed_out, "alone": alone, "start_at": start.start_at,
                "offset_s": offset_s, "note": why}


def _offset(repo: ShardLineRepo) -> float:
    """Server clock minus this machine's clock (seconds), from one round trip's midpoint."""
    before = time.time()
    server = repo.server_now()
    offset = server - (before + time.time()) / 2
    if abs(offset) > OFFSET_WARN_S:
        log.warning("this worker's clock is %.3f s off the metrics database server's: keep workers on NTP "
                    "(the start line corrects for it, the stored windows of other workers may not)", -offset)
    return offset
