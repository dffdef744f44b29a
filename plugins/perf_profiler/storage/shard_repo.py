"""The shards' start line in the metrics database (``sql/*/009_shard_checkins.sql``).

Every time here is epoch seconds of the database server's clock (``server_now``): the one clock
all shards agree on, whatever their machines' clocks say. A shard checks in
(:func:`check_in`), counts who is in (:func:`attendance`), and the first shard that may decide
writes the start (:func:`decide_start`); a start already written is never changed, so every
shard reads the same one (:func:`agreed_start`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from perf_profiler.storage.dialect import Dialect, dialect_of

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

__all__ = ["Attendance", "ShardKey", "ShardLineRepo", "Start"]

#: The server's clock as epoch seconds (PostgreSQL: the statement's own instant, not the transaction's).
_NOW_EPOCH: dict[Dialect, str] = {
    "postgres": "extract(epoch from clock_timestamp())::double precision",
    "sqlite": "(julianday('now') - 2440587.5) * 86400.0",
}
_KEY = "dag_id = {m} AND run_id = {m} AND service = {m} AND endpoint = {m}"


@dataclass(frozen=True)
class ShardKey:
    """One start line: the shards of one service x endpoint in one DAG run."""

    dag_id: str
    run_id: str
    service: str
    endpoint: str

    def params(self) -> list[str]:
        return [self.dag_id, self.run_id, self.service, self.endpoint]


@dataclass(frozen=True)
class Attendance:
    """Who is in: how many shards checked in, when the first did, and the server's time now."""

    present: int
    first_at: float
    now: float


@dataclass(frozen=True)
class Start:
    """The agreed start (server clock) and how it was decided."""

    start_at: float
    decided_at: float
    present: int
    shards: int
    timed_out: bool


class ShardLineRepo:
    """The start line's statements on one open connection (each committed at once: the other
    shards must see them)."""

    def __init__(self, hook: DbApiHook) -> None:
        self.dialect = dialect_of(hook)
        self.mark = hook.placeholder
        self.conn: Any = hook.get_conn()

    def close(self) -> None:
        self.conn.close()

    def _run(self, sql: str, params: list[Any], fetch: bool = True) -> Any:
        cur = self.conn.cursor()
        try:
            cur.execute(sql.format(m=self.mark, now=_NOW_EPOCH[self.dialect]), params)
            row = cur.fetchone() if fetch else None
            self.conn.commit()
            return row
        except BaseException:
            self.conn.rollback()
            raise
        finally:
            cur.close()

    def server_now(self) -> float:
        """The database server's clock, epoch seconds."""
        return float(self._run("SELECT {now}", [])[0])

    def check_in(self, key: ShardKey, shard: int, shards: int, host: str, try_number: int) -> float:
        """Record (or renew, for a retried shard) this shard's arrival; the server time of it."""
        self._run(
            "INSERT INTO perf_shard_checkins (dag_id, run_id, service, endpoint, shard, shards, host, try_number, "
            "checked_in_at) VALUES ({m}, {m}, {m}, {m}, {m}, {m}, {m}, {m}, {now}) "
            "ON CONFLICT (dag_id, run_id, service, endpoint, shard) DO UPDATE SET shards = excluded.shards, "
            "host = excluded.host, try_number = excluded.try_number, checked_in_at = excluded.checked_in_at",
            [*key.params(), shard, shards, host, try_number], fetch=False)
        row = self._run("SELECT checked_in_at FROM perf_shard_checkins WHERE " + _KEY + " AND shard = {m}",
                        [*key.params(), shard])
        return float(row[0])

    def attendance(self, key: ShardKey) -> Attendance:
        row = self._run("SELECT count(*), min(checked_in_at), {now} FROM perf_shard_checkins WHERE " + _KEY,
                        key.params())
        return Attendance(present=int(row[0]), first_at=float(row[1]), now=float(row[2]))

    def agreed_start(self, key: ShardKey) -> Start | None:
        row = self._run("SELECT start_at, decided_at, present, shards, timed_out FROM perf_shard_starts WHERE "
                        + _KEY, key.params())
        if row is None:
            return None
        return Start(start_at=float(row[0]), decided_at=float(row[1]), present=int(row[2]), shards=int(row[3]),
                     timed_out=bool(row[4]))

    def decide_start(self, key: ShardKey, shards: int, present: int, timed_out: bool, lead_s: float) -> Start:
        """Write the start (``lead_s`` after the server's now) unless one exists; the one that stands."""
        self._run(
            "INSERT INTO perf_shard_starts (dag_id, run_id, service, endpoint, shards, present, timed_out, "
            "decided_at, start_at) VALUES ({m}, {m}, {m}, {m}, {m}, {m}, {m}, {now}, {now} + {m}) "
            "ON CONFLICT (dag_id, run_id, service, endpoint) DO NOTHING",
            [*key.params(), shards, present, timed_out, lead_s], fetch=False)
        start = self.agreed_start(key)
        assert start is not None  # written by this call or by another shard
        return start
