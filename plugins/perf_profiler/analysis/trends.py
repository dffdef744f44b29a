"""Regressions against each endpoint's own history, and the daily rollup (DAG ``perf_trends``).

Method (robust baseline, documented in the README): for each new perf_metrics row, take the p95
of the same tenant × service × endpoint in the last ``WINDOW`` earlier runs. With at least
``MIN_HISTORY`` of them, the baseline is their median and the spread their MAD (median absolute
deviation, scaled by 1.4826 so it estimates a standard deviation for normal data). The row
regressed when

    p95 > median + max(K · 1.4826 · MAD, MIN_RELATIVE · median, MIN_ABSOLUTE_MS)

The median and MAD ignore a few outliers in the history (unlike mean ± k·σ), and the relative
and absolute floors keep a perfectly flat history (MAD = 0) from flagging noise.
"""
from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from perf_profiler.storage.repository import placeholder

WINDOW = 20
MIN_HISTORY = 5
K = 3.0
MAD_SCALE = 1.4826
MIN_RELATIVE = 0.10
MIN_ABSOLUTE_MS = 1.0
METHOD = f"median+max({K:g}*1.4826*MAD,{MIN_RELATIVE:.0%},{MIN_ABSOLUTE_MS:g}ms) over last {WINDOW} runs"


@dataclass(frozen=True)
class Baseline:
    median_ms: float
    mad_ms: float
    threshold_ms: float
    runs: int


def baseline(history_p95_ms: Sequence[float]) -> Baseline | None:
    """The robust baseline of a history of p95 values (None when the history is too short)."""
    if len(history_p95_ms) < MIN_HISTORY:
        return None
    median = statistics.median(history_p95_ms)
    mad = statistics.median(abs(x - median) for x in history_p95_ms)
    margin = max(K * MAD_SCALE * mad, MIN_RELATIVE * median, MIN_ABSOLUTE_MS)
    return Baseline(median, mad, median + margin, len(history_p95_ms))


def is_regression(p95_ms: float, base: Baseline | None) -> bool:
    return base is not None and p95_ms > base.threshold_ms


def _history(cur, mark: str, row: Mapping[str, Any]) -> list[float]:
    cur.execute(
        f"SELECT p95_ms FROM perf_metrics WHERE tenant_id = {mark} AND dag_id = {mark} AND service = {mark} "
        f"AND endpoint = {mark} AND measured_at < {mark} AND id <> {mark} ORDER BY measured_at DESC LIMIT {WINDOW}",
        (row["tenant_id"], row["dag_id"], row["service"], row["endpoint"], row["measured_at"], row["id"]),
    )
    return [float(value) for (value,) in cur.fetchall()]


def _record(cur, mark: str, row: Mapping[str, Any], base: Baseline) -> None:
    values = (row["id"], row["tenant_id"], row["dag_id"], row["run_id"], row["service"], row["endpoint"],
              row["measured_at"], float(row["p95_ms"]), base.median_ms, base.mad_ms, base.threshold_ms,
              base.runs, METHOD)
    cur.execute(
        "INSERT INTO perf_regressions (metric_id, tenant_id, dag_id, run_id, service, endpoint, measured_at, "
        "p95_ms, baseline_p95_ms, mad_ms, threshold_ms, history_runs, method) VALUES "
        f"({', '.join([mark] * len(values))}) ON CONFLICT (metric_id) DO UPDATE SET "
        "p95_ms = excluded.p95_ms, baseline_p95_ms = excluded.baseline_p95_ms, mad_ms = excluded.mad_ms, "
        "threshold_ms = excluded.threshold_ms, history_runs = excluded.history_runs, method = excluded.method",
        values,
    )


def _clear(cur, mark: str, row: Mapping[str, Any]) -> None:
    cur.execute(f"DELETE FROM perf_regressions WHERE metric_id = {mark}", (row["id"],))


def detect(hook, rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Judge each row against its history; record regressions (idempotently) and return them."""
    mark = placeholder(hook)
    found = []
    with closing(hook.get_conn()) as conn, closing(conn.cursor()) as cur:
        for row in rows:
            base = baseline(_history(cur, mark, row))
            if is_regression(float(row["p95_ms"]), base):
                _record(cur, mark, row, base)
                found.append({"service": row["service"], "endpoint": row["endpoint"], "run_id": row["run_id"],
                              "p95_ms": float(row["p95_ms"]), "baseline_p95_ms": base.median_ms,
                              "threshold_ms": base.threshold_ms})
            else:
                _clear(cur, mark, row)  # a re-derived row may no longer be a regression
        conn.commit()
    return found


def rollup(hook, rows: Iterable[Mapping[str, Any]]) -> int:
    """Recompute the daily rollup of every (tenant, service, endpoint, day) these rows touch."""
    mark = placeholder(hook)
    keys = sorted({(r["tenant_id"], r["service"], r["endpoint"], r["measured_at"][:10]) for r in rows})
    with closing(hook.get_conn()) as conn, closing(conn.cursor()) as cur:
        for tenant, service, endpoint, day in keys:
            cur.execute(
                "SELECT p95_ms, requests, error_count, throughput, verdict FROM perf_metrics WHERE tenant_id = "
                f"{mark} AND service = {mark} AND endpoint = {mark} AND measured_at >= {mark} AND measured_at < {mark}",
                (tenant, service, endpoint, f"{day}T00:00:00+00:00", _next_day(day)),
            )
            _upsert_rollup(cur, mark, (tenant, service, endpoint, day), cur.fetchall())
        conn.commit()
    return len(keys)


def _next_day(day: str) -> str:
    return f"{(date.fromisoformat(day) + timedelta(days=1)).isoformat()}T00:00:00+00:00"


def _upsert_rollup(cur, mark: str, key: tuple[str, str, str, str], records: Sequence[tuple]) -> None:
    if not records:
        return
    p95 = [float(r[0]) for r in records]
    values = (*key, len(records), sum(r[4] == "fail" for r in records), sum(int(r[1]) for r in records),
              sum(int(r[2]) for r in records), statistics.median(p95), max(p95),
              statistics.fmean(float(r[3]) for r in records))
    cur.execute(
        "INSERT INTO perf_daily_rollup (tenant_id, service, endpoint, day, runs, failing_runs, requests, errors, "
        f"p95_median_ms, p95_max_ms, throughput_mean) VALUES ({', '.join([mark] * len(values))}) "
        "ON CONFLICT (tenant_id, service, endpoint, day) DO UPDATE SET runs = excluded.runs, "
        "failing_runs = excluded.failing_runs, requests = excluded.requests, errors = excluded.errors, "
        "p95_median_ms = excluded.p95_median_ms, p95_max_ms = excluded.p95_max_ms, "
        "throughput_mean = excluded.throughput_mean, updated_at = CURRENT_TIMESTAMP",
        values,
    )
