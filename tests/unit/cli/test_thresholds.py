"""cli.thresholds and cli.values: threshold flags, a targets file's budgets, exit-code precedence."""
from __future__ import annotations

import argparse
import dataclasses

import pytest

from endpoint_summaries import summary
from perf_profiler.cli.thresholds import (
    Threshold,
    exit_code,
    file_thresholds,
    flag_thresholds,
    judge,
)
from perf_profiler.cli.values import parse_header, parse_latency_ms, parse_rate
from perf_profiler.model.targets import Service


def test_values() -> None:
    assert (parse_latency_ms("800ms"), parse_latency_ms("1.5s"), parse_latency_ms("20")) == (800.0, 1500.0, 20.0)
    assert (parse_rate("1%"), parse_rate("0.01"), parse_rate("100%")) == (0.01, 0.01, 1.0)
    assert parse_header("Authorization:  Bearer x ") == ("Authorization", "Bearer x")
    for bad, parser in (("fast", parse_latency_ms), ("0ms", parse_latency_ms), ("150%", parse_rate),
                        ("2", parse_rate)):
        with pytest.raises(argparse.ArgumentTypeError):
            parser(bad)
    with pytest.raises(argparse.ArgumentTypeError) as info:
        parse_header("Bearer hunter2")
    assert "hunter2" not in str(info.value)


def _flags(**given: float) -> list[Threshold]:
    names = ("p50_max", "p90_max", "p95_max", "p99_max", "max_error_rate")
    return flag_thresholds(argparse.Namespace(**{name: given.get(name) for name in names}))


def test_flags_are_judged_with_the_measured_value() -> None:
    s = summary()  # 2,000 ok, 20 failed: error rate 0.99 %
    p95 = s.derived["p95_ms"]
    outcomes = judge([s], _flags(p95_max=p95, p99_max=1.0, max_error_rate=0.01), {})
    assert [(o.metric, o.passed) for o in outcomes] == [("p95_ms", True), ("p99_ms", False), ("error_rate", True)]
    assert outcomes[1].text().startswith("✗ p99 ") and outcomes[1].text().endswith("(limit <= 1 ms)")
    assert outcomes[2].measured == pytest.approx(20 / 2020)


def test_a_files_budgets_apply_unless_a_flag_replaces_them() -> None:
    s = summary()
    service = Service.model_validate({"name": "svc", "base_url": "http://h", "budget": {"p95_ms": 1.0},
                                      "endpoints": [{"path": "/x"}]})
    budgets = file_thresholds([service])
    by_file = judge([s], [], budgets)
    assert [(o.metric, o.op, o.source, o.passed) for o in by_file] == [
        ("p95_ms", "<", "targets file", False), ("error_rate", "<=", "targets file", True)]  # 0.99 % <= 1 %
    flagged = judge([s], _flags(p95_max=1e6), budgets)
    assert [(o.metric, o.source, o.passed) for o in flagged] == [
        ("error_rate", "targets file", True), ("p95_ms", "flag", True)]


def test_no_successful_response_has_no_latency_to_judge() -> None:
    s = dataclasses.replace(summary(), ok_count=0)
    (outcome,) = judge([s], _flags(p95_max=1e9), {})
    assert (outcome.measured, outcome.passed) == (None, False) and "n/a" in outcome.text()


def test_exit_code_precedence() -> None:
    ok, none_ok = summary(), dataclasses.replace(summary(), ok_count=0)
    failed = judge([ok], _flags(p99_max=0.001), {})
    assert exit_code([ok], [], None) == 0
    assert exit_code([ok], failed, None) == 3
    assert exit_code([none_ok], failed, None) == 1  # every request failed wins over a threshold
    assert exit_code([none_ok], failed, "SIGINT") == 130  # interrupted wins over both
    assert exit_code([], [], None) == 1
