"""Pass/fail thresholds of ``perf-profiler probe`` (like k6's), and the exit code of a run.

Flags: ``--p50-max``/``--p90-max``/``--p95-max``/``--p99-max LATENCY`` and ``--max-error-rate
RATE``, each judged on every endpoint: a latency passes when the measured percentile is at most
the limit, the error rate when it is at most the limit. With ``--targets``, each endpoint's
budget from the file applies by default (policy P-6: p95 strictly below ``budget.p95_ms``, error
rate at most ``budget.error_rate``); a flag replaces the file's threshold of the same metric.
A latency threshold of an endpoint without a successful response has nothing to judge: it
fails, measured "n/a".

Exit codes (README "The command line"); when several apply, the first in this order wins.
"""
from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from perf_profiler.analysis.reduce import EndpointSummary
from perf_profiler.model.targets import Service

EXIT_OK = 0
EXIT_ALL_FAILED = 1
EXIT_USAGE = 2
EXIT_THRESHOLD = 3
EXIT_INTERRUPTED = 130

#: Latency threshold flags: (flag, summary key, label).
LATENCY_FLAGS = (("p50_max", "p50_ms", "p50"), ("p90_max", "p90_ms", "p90"), ("p95_max", "p95_ms", "p95"),
                 ("p99_max", "p99_ms", "p99"))


@dataclass(frozen=True)
class Threshold:
    """One limit on one metric: ``op`` is "<=" (flags) or "<" (P-6's p95 budget)."""

    metric: str  # a summary key: p95_ms, error_rate, ...
    limit: float
    op: str = "<="
    source: str = "flag"


@dataclass(frozen=True)
class Outcome:
    """A threshold judged on one endpoint (``measured`` None: no latency to judge)."""

    service: str
    endpoint: str
    metric: str
    op: str
    limit: float
    measured: float | None
    passed: bool
    source: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        """``✓ p95 12.30 ms <= 800 ms`` / ``✗ error rate 5.00% <= 1.00%`` / ``✗ p99 n/a <= 5 ms``."""
        mark = "✓" if self.passed else "✗"
        if self.metric == "error_rate":
            value = "n/a" if self.measured is None else f"{self.measured:.2%}"
            return f"{mark} error rate {value} (limit {self.op} {self.limit:.2%})"
        label = self.metric.removesuffix("_ms")
        value = "n/a" if self.measured is None else f"{self.measured:.2f} ms"
        return f"{mark} {label} {value} (limit {self.op} {self.limit:g} ms)"


def flag_thresholds(args: argparse.Namespace) -> list[Threshold]:
    """The thresholds given as flags."""
    found = [Threshold(key, getattr(args, flag)) for flag, key, _ in LATENCY_FLAGS if getattr(args, flag) is not None]
    if args.max_error_rate is not None:
        found.append(Threshold("error_rate", args.max_error_rate))
    return found


def file_thresholds(services: Sequence[Service]) -> dict[tuple[str, str], list[Threshold]]:
    """Each endpoint's budget from a targets file, as thresholds (P-6's semantics)."""
    out: dict[tuple[str, str], list[Threshold]] = {}
    for service in services:
        for endpoint in service.endpoints:
            budget = service.budget_for(endpoint)
            out[service.name, endpoint.name] = [Threshold("p95_ms", budget.p95_ms, "<", "targets file"),
                                                Threshold("error_rate", budget.error_rate, "<=", "targets file")]
    return out


def judge(summaries: Sequence[EndpointSummary], flags: Sequence[Threshold],
          budgets: Mapping[tuple[str, str], list[Threshold]]) -> list[Outcome]:
    """Every threshold of every endpoint judged (flags replace the file's of the same metric)."""
    outcomes: list[Outcome] = []
    for summary in summaries:
        given = {t.metric for t in flags}
        budget = [t for t in budgets.get((summary.service, summary.endpoint), []) if t.metric not in given]
        outcomes.extend(_judge_one(summary, threshold) for threshold in [*budget, *flags])
    return outcomes


def _judge_one(summary: EndpointSummary, threshold: Threshold) -> Outcome:
    if threshold.metric == "error_rate":
        measured: float | None = summary.error_rate
    else:
        measured = summary.derived[threshold.metric] if summary.ok_count else None
    if measured is None:
        passed = False
    elif threshold.op == "<":
        passed = measured < threshold.limit
    else:
        passed = measured <= threshold.limit
    return Outcome(summary.service, summary.endpoint, threshold.metric, threshold.op, threshold.limit, measured,
                   passed, threshold.source)


def exit_code(summaries: Sequence[EndpointSummary], outcomes: Sequence[Outcome], interrupted: str | None) -> int:
    """130 interrupted, else 1 when every request failed, else 3 when a threshold failed, else 0.

    (2, a usage or config error, is decided before anything runs and wins over all of these.)
    """
    if interrupted:
        return EXIT_INTERRUPTED
    if not summaries or all(s.ok_count == 0 for s in summaries):
        return EXIT_ALL_FAILED
    if any(not o.passed for o in outcomes):
        return EXIT_THRESHOLD
    return EXIT_OK
