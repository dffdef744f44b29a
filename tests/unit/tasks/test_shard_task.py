"""Which start lines a shard meets at: its run's, and a cleared run's own."""
from __future__ import annotations

from types import SimpleNamespace

from perf_profiler.tasks.shard_start import ShardTask


def _context(clear_number: int, try_number: int = 1) -> dict:
    ti = SimpleNamespace(dag_id="perf_profiler", run_id="manual__1", hostname="w1", try_number=try_number)
    return {"ti": ti, "dag_run": SimpleNamespace(clear_number=clear_number)}


def test_a_retry_keeps_the_runs_start_lines_a_cleared_run_gets_fresh_ones():
    first, retry = ShardTask.from_context(_context(0)), ShardTask.from_context(_context(0, try_number=2))
    cleared = ShardTask.from_context(_context(1, try_number=3))
    assert first.run_id == retry.run_id == "manual__1"
    assert (retry.host, retry.try_number) == ("w1", 2)
    assert cleared.run_id == "manual__1#clear1"
