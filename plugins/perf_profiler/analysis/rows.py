"""Turn endpoint summaries into ``perf_metrics`` rows: run identity + numbers + P-6 verdict."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from perf_profiler.analysis.budget import evaluate
from perf_profiler.analysis.reduce import EndpointSummary
from perf_profiler.common.encoding import canonical_json, iso_utc
from perf_profiler.model.identity import make_row_id
from perf_profiler.model.targets import Budget


@dataclass(frozen=True)
class RunIdentity:
    """Which DAG run a measurement belongs to. Manual runs in Airflow 3 may lack an interval."""

    dag_id: str
    run_id: str
    run_type: str | None = None
    logical_date: str | None = None
    data_interval_start: str | None = None
    data_interval_end: str | None = None
    tenant_id: str = "default"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_row(summary: EndpointSummary, budget: Budget, identity: RunIdentity) -> dict[str, Any]:
    """One perf_metrics row (see docs/CONTRACTS.md) for one endpoint of one run."""
    verdict = evaluate(summary.p95_ms, summary.error_rate, budget)
    return {
        "id": make_row_id(identity.tenant_id, identity.dag_id, identity.run_id, summary.service, summary.endpoint),
        "tenant_id": identity.tenant_id,
        "dag_id": identity.dag_id,
        "run_id": identity.run_id,
        "run_type": identity.run_type,
        "logical_date": identity.logical_date,
        "data_interval_start": identity.data_interval_start,
        "data_interval_end": identity.data_interval_end,
        "service": summary.service,
        "endpoint": summary.endpoint,
        "method": summary.method,
        **{key: round(getattr(summary, key), 3) for key in _MS_FIELDS},
        "throughput": round(summary.throughput, 3),
        "error_rate": summary.error_rate,
        "requests": summary.requests,
        "ok_count": summary.ok_count,
        "error_count": summary.error_count,
        "errors_by_class": canonical_json(summary.errors_by_class),
        "status_codes": canonical_json(summary.status_codes),
        "budget_p95_ms": budget.p95_ms,
        "budget_error_rate": budget.error_rate,
        "verdict": verdict.verdict,
        "latency_hist": summary.latency_hist,
        "error_hist": summary.error_hist,
        "started_at": iso_utc(summary.started_at),
        "finished_at": iso_utc(summary.finished_at),
        "measured_at": iso_utc(summary.finished_at),
        # load fidelity: the model, what the generator dropped, whether it was itself saturated
        "load_model": summary.model,
        "target_rate": summary.target_rate,
        "dropped": summary.dropped,
        "client_saturated": summary.client_saturated,
        "saturation_reasons": canonical_json(list(summary.saturation_reasons)),
        **{key: round(getattr(summary, key), 3) for key in _FIDELITY_MS_FIELDS},
        # closed loop: the latency is the service time, no second copy of the histogram
        "service_hist": summary.service_hist if summary.model == "open" else None,
    }


_MS_FIELDS = ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms", "min_ms", "max_ms", "mean_ms")
_FIDELITY_MS_FIELDS = ("lag_p50_ms", "lag_p99_ms", "service_p50_ms", "service_p95_ms", "service_p99_ms")


def build_rows(
    summaries: Iterable[EndpointSummary],
    budgets: Mapping[tuple[str, str], Budget],
    identity: RunIdentity,
) -> list[dict[str, Any]]:
    """Rows for every summary; ``budgets`` maps (service, endpoint) to its budget."""
    default = Budget()
    return [build_row(s, budgets.get((s.service, s.endpoint), default), identity) for s in summaries]
