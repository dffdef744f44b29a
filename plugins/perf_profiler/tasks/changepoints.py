"""perf_trends: change points of every series the new rows touch, and the notification of new
confirmed regressions (issue 15; the maths: ``analysis.series_eval``, the table: ``storage.changepoints_repo``).

Each affected series is judged again over its whole stored history (``HISTORY_RUNS`` runs), so a
backfill or a re-derivation that changes history re-evaluates its change points. A confirmed
regression is handed to ``notify_regressions`` once (``take_notifications`` marks it); an
acknowledged one never.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

    from perf_profiler.analysis.changepoints import Params
    from perf_profiler.analysis.quantile_ci import Interval

log = logging.getLogger(__name__)

#: How many of a series' latest runs the detector reads.
HISTORY_RUNS = 400
#: The latency series judged per endpoint: column -> the percentile its interval is read at.
METRICS = {"p50_ms": 50.0, "p95_ms": 95.0, "p99_ms": 99.0}
#: The error-rate series (judged as a proportion: ``analysis.error_changepoints``).
ERROR_RATE = "error_rate"
#: (dag_id, service, endpoint) -> that endpoint's detector parameters (``detector_params``).
ParamsBySeries = Mapping[tuple[str, str, str], "Params"]


def evaluate_changepoints(hook: DbApiHook, rows: Sequence[Mapping[str, Any]],
                          params: ParamsBySeries | None = None) -> dict[str, Any]:
    """Judge every series ``rows`` touch, each with its endpoint's parameters (``params``; the
    defaults where it has none); return the findings count and the regressions to notify."""
    from perf_profiler.analysis.changepoints import DEFAULT
    from perf_profiler.storage.changepoints_repo import open_changepoints

    keys = sorted({(r["tenant_id"], r["dag_id"], r["service"], r["endpoint"]) for r in rows})
    counted = 0
    with open_changepoints(hook) as repo:
        for tenant_id, dag_id, service, endpoint in keys:
            endpoint_key = {"tenant_id": tenant_id, "dag_id": dag_id, "service": service, "endpoint": endpoint}
            own = (params or {}).get((dag_id, service, endpoint), DEFAULT)
            history = repo.series(endpoint_key, HISTORY_RUNS)
            intervals = [run_intervals(run.get("latency_hist")) for run in history]
            for metric, percentile in METRICS.items():
                findings = series_findings(history, metric, [None if i is None else i[percentile] for i in intervals],
                                           own)
                repo.replace_series({**endpoint_key, "metric": metric}, findings)
                counted += len(findings)
            findings = error_rate_findings(history, own)
            repo.replace_series({**endpoint_key, "metric": ERROR_RATE}, findings)
            counted += len(findings)
        notify = repo.take_notifications({str(r["run_id"]) for r in rows})
    from perf_profiler.analysis.regression_states import effect_text, release_text

    for row in notify:
        log.warning("confirmed %s regression: service=%s endpoint=%s from run %s, %s (%s, z=%.1f)", row["metric"],
                    row["service"], row["endpoint"], row["run_id"], release_text(row),
                    effect_text(row["metric"], float(row["effect"])), float(row["z"]))
    log.info("perf_trends: %s series judged for change points, %s findings, %s new confirmed regressions",
             len(keys), counted, len(notify))
    return {"changepoints": counted, "notify": [_brief(row) for row in notify]}


def series_findings(history: Sequence[Mapping[str, Any]], metric: str = "p95_ms",
                    intervals: Sequence[Interval | None] | None = None,
                    params: Params | None = None) -> list[dict[str, Any]]:
    """The findings of one latency series (column ``metric`` of ``history``, oldest first; ``intervals``:
    each run's interval of that percentile) as ``perf_changepoints`` rows."""
    from perf_profiler.analysis import series_eval
    from perf_profiler.analysis.changepoints import DEFAULT

    own = params or DEFAULT
    values = [float(run[metric]) for run in history]
    found = series_eval.evaluate(values, intervals if intervals is not None else [None] * len(values), own)
    return finding_rows(history, found, series_eval.method(own))


def error_rate_findings(history: Sequence[Mapping[str, Any]], params: Params | None = None) -> list[dict[str, Any]]:
    """The findings of one error-rate series (each run's ``error_count`` of ``requests``; runs without
    requests skipped) as ``perf_changepoints`` rows (``effect`` absolute: 0.02 = +2 percentage points)."""
    from perf_profiler.analysis import error_changepoints
    from perf_profiler.analysis.changepoints import DEFAULT

    own = params or DEFAULT
    found = error_changepoints.evaluate([int(run["error_count"] or 0) for run in history],
                                        [int(run["requests"] or 0) for run in history], own)
    return finding_rows(history, found, error_changepoints.method(own))


def finding_rows(history: Sequence[Mapping[str, Any]], found: Sequence[Any], method: str) -> list[dict[str, Any]]:
    """Findings (``regression_states.Finding``, indices into ``history``) as ``perf_changepoints`` rows."""

    def run_id(index: int | None) -> str | None:
        return None if index is None else str(history[index]["run_id"])

    def version_before(index: int) -> str | None:  # the latest release stored before run ``index``
        return next((str(run["service_version"]) for run in reversed(history[:index])
                     if run.get("service_version") is not None), None)

    out: dict[tuple[str, str], dict[str, Any]] = {}
    for f in found:
        run = history[f.index]
        out[(f.kind, str(run["run_id"]))] = {
            "kind": f.kind, "run_id": str(run["run_id"]), "metric_id": str(run["id"]),
            "data_interval_start": run["data_interval_start"], "data_interval_end": run["data_interval_end"],
            "measured_at": run["measured_at"], "state": f.state, "effect": float(f.effect), "z": float(f.z),
            "confirmed_run_id": run_id(f.confirmed_at), "recovered_run_id": run_id(f.recovered_at),
            "method": method, "first_version": run.get("service_version"), "previous_version": version_before(f.index),
        }
    return list(out.values())


def run_intervals(encoded: str | None) -> dict[float, Interval] | None:
    """Each ``METRICS`` percentile's interval of a run from its stored latency histogram (None without one)."""
    from perf_profiler.analysis import histogram, quantile_ci

    if not encoded:
        return None
    try:
        counts = histogram.counts_snapshot(histogram.decode(encoded))
    except ValueError:
        return None
    found = {p: quantile_ci.quantile_interval(counts, p) for p in METRICS.values()}
    return {p: interval for p, interval in found.items() if interval is not None} if all(found.values()) else None


def detector_settings(service_dicts: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    """``[service, endpoint, {parameter: value}]`` for every configured endpoint whose ``regressions``
    (after ``defaults`` < service < endpoint) differ from the built-in ones: what ``store`` hands
    ``perf_trends`` in the Asset event (small: endpoints on the defaults are left out)."""
    from perf_profiler.model.targets import Regressions, Service

    builtin = Regressions()
    out = []
    for service_dict in service_dicts:
        service = Service.model_validate(service_dict)
        for endpoint in service.endpoints:
            own = service.regressions_for(endpoint)
            if own != builtin:
                out.append([service.name, endpoint.name, own.model_dump()])
    return out


def detector_params(asset_extras: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str, str], Params]:
    """(dag_id, service, endpoint) -> ``Params`` from the Asset events' ``regressions`` (later events win;
    events from before the key existed, and endpoints not listed, get the defaults)."""
    from dataclasses import replace

    from perf_profiler.analysis.changepoints import DEFAULT
    from perf_profiler.model.targets import Regressions

    out: dict[tuple[str, str, str], Params] = {}
    for extra in asset_extras:
        for service, endpoint, values in extra.get("regressions") or ():
            checked = Regressions.model_validate(values)  # an event's extra is input too
            out[(str(extra["dag_id"]), str(service), str(endpoint))] = replace(DEFAULT, **checked.model_dump())
    return out


def notify_regressions(result: Mapping[str, Any]) -> int:
    """Fail (without retries) when ``analyse`` found new confirmed regressions: Airflow's alerting fires once."""
    from airflow.sdk.exceptions import AirflowFailException

    from perf_profiler.analysis.regression_states import effect_text, release_text

    notify = result.get("notify") or []
    for row in notify:
        log.error("confirmed %s regression: %s %s %s from run %s, %s (%s); acknowledge it with "
                  "`perf-profiler regressions ack`", row["metric"], row["tenant_id"], row["service"],
                  row["endpoint"], row["run_id"], release_text(row), effect_text(row["metric"], float(row["effect"])))
    if notify:
        raise AirflowFailException(f"{len(notify)} new confirmed regression(s): see the log")
    return 0


def _brief(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"tenant_id": row["tenant_id"], "dag_id": row["dag_id"], "service": row["service"],
            "endpoint": row["endpoint"], "metric": row["metric"], "run_id": row["run_id"],
            "effect": float(row["effect"]), "first_version": row.get("first_version"),
            "previous_version": row.get("previous_version")}

