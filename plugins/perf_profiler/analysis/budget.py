"""Policy P-6: evaluate endpoint summaries against their performance budgets.

An endpoint passes when its p95 is strictly below the p95 budget (P-6 says "p95 < 800 ms") and
its error rate is at or below the error-rate budget. An endpoint that answered nothing
successfully has no latency to judge, so its error rate (1.0) fails it.
"""
from __future__ import annotations

from dataclasses import dataclass

from perf_profiler.model.targets import Budget

PASS = "pass"
FAIL = "fail"


@dataclass(frozen=True)
class Verdict:
    verdict: str
    reasons: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.verdict == PASS


def evaluate(p95_ms: float, error_rate: float, budget: Budget) -> Verdict:
    """Judge one endpoint's p95 and error rate against its budget."""
    reasons = []
    if p95_ms >= budget.p95_ms:
        reasons.append(f"p95 {p95_ms:.1f} ms >= budget {budget.p95_ms:g} ms")
    if error_rate > budget.error_rate:
        reasons.append(f"error rate {error_rate:.2%} > budget {budget.error_rate:.2%}")
    return Verdict(FAIL if reasons else PASS, tuple(reasons))


def violations(rows: list[dict]) -> list[dict]:
    """The stored rows whose verdict is a failure."""
    return [row for row in rows if row["verdict"] == FAIL]


def describe_violation(row: dict) -> str:
    """One log line for a violating row: service, endpoint, p95 against budget, error rate."""
    return (
        f"P-6 violation: service={row['service']} endpoint={row['endpoint']} "
        f"p95={float(row['p95_ms']):.1f}ms budget={float(row['budget_p95_ms']):g}ms "
        f"error_rate={float(row['error_rate']):.2%} budget_error_rate={float(row['budget_error_rate']):.2%}"
    )
