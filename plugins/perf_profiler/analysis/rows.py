"""Turn endpoint summaries into ``perf_metrics`` rows: run identity + numbers + P-6 verdict.

The row's columns and their order are the registry's (``model.columns``); every column derived
from a histogram is taken from the summary by its column name, rounded to 3 decimals.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from perf_profiler.analysis.budget import evaluate
from perf_profiler.analysis.reduce import EndpointSummary
from perf_profiler.common.encoding import canonical_json, iso_utc
from perf_profiler.model.columns import ROW_COLUMNS
from perf_profiler.model.identity import RunIdentity, make_row_id
from perf_profiler.model.targets import Budget


def build_row(summary: EndpointSummary, budget: Budget, identity: RunIdentity) -> dict[str, Any]:
    """One perf_metrics row (see docs/CONTRACTS.md) for one endpoint of one run."""
    verdict = evaluate(summary.p95_ms, summary.error_rate, budget)
    values = {
        "id": make_row_id(identity.tenant_id, identity.dag_id, identity.run_id, summary.service, summary.endpoint),
        **identity.to_dict(),
        "service": summary.service,
        "endpoint": summary.endpoint,
        "method": summary.method,
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
        # closed loop: the latency is the service time, no second copy of the histogram
        "service_hist": summary.service_hist if summary.model == "open" else None,
        "origin": "measured",
        "rederived_at": None,
        # a sharded service's rows get these from store (tasks/persist.py annotate_shards)
        "shards": None,
        "shards_not_concurrent": False,
        # the service's release: from the benchmark results (tasks/persist.py annotate_versions)
        "service_version": None,
        **{name: round(value, 3) for name, value in summary.derived.items()},
    }
    return {name: values[name] for name in ROW_COLUMNS}


def build_rows(
    summaries: Iterable[EndpointSummary],
    budgets: Mapping[tuple[str, str], Budget],
    identity: RunIdentity,
) -> list[dict[str, Any]]:
    """Rows for every summary; ``budgets`` maps (service, endpoint) to its budget."""
    default = Budget()
    return [build_row(s, budgets.get((s.service, s.endpoint), default), identity) for s in summaries]
