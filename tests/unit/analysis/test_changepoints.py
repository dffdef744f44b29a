"""The change-point detector, the per-run quantile interval and the regression states (issue 15)."""
from __future__ import annotations

import math

import numpy as np

from perf_profiler.analysis import changepoints, histogram, quantile_ci, regression_states
from perf_profiler.analysis.changepoints import Change, scan


def _noise(seed: int, nights: int, spread: float = 0.02) -> np.ndarray:
    return math.log(100.0) + np.random.default_rng(seed).normal(0.0, spread, nights)


def test_a_flat_series_has_no_change_point() -> None:
    found = scan(_noise(1, 120)[None, :])
    assert found.changes == [] and found.drifts == []


def test_a_step_is_attributed_to_the_first_run_of_the_new_level_and_confirmed_soon() -> None:
    x = _noise(2, 100)
    x[70:] += math.log(1.2)
    [change] = scan(x[None, :]).changes
    assert abs(change.index - 70) <= 1 and change.regression
    assert change.confirmed_at <= 72 + 2
    assert 0.1 < change.effect < 0.3


def test_a_one_night_spike_is_not_a_change_point() -> None:
    x = _noise(3, 100)
    x[70] += math.log(3.0)
    assert scan(x[None, :]).changes == []


def test_a_step_down_is_an_improvement_and_each_series_is_judged_on_its_own() -> None:
    x = np.stack([_noise(4, 100), _noise(5, 100)])
    x[1, 50:] -= math.log(1.3)
    [change] = scan(x).changes
    assert change.series == 1 and not change.regression


def test_a_creep_is_reported_as_drift() -> None:
    x = _noise(6, 100, spread=0.01)
    x[40:] += np.arange(1, 61) * math.log(1.01)
    drifts = scan(x[None, :]).drifts
    assert drifts and 40 < drifts[0].at <= 70 and drifts[0].effect >= changepoints.DEFAULT.min_effect


def test_the_rank_bounds_hold_the_quantile_and_narrow_with_more_samples() -> None:
    low, high = quantile_ci.rank_bounds(200, 95.0)
    assert low < 190 <= high
    wide = (high - low) / 200
    low, high = quantile_ci.rank_bounds(100_000, 95.0)
    assert (high - low) / 100_000 < wide / 10


def test_the_interval_of_a_histogram_brackets_its_p95() -> None:
    h = histogram.new_histogram()
    histogram.record_many(h, np.arange(1, 1001) * 1000)  # 1 .. 1000 ms
    interval = quantile_ci.quantile_interval(histogram.counts_snapshot(h))
    assert interval is not None
    assert interval.low_ms < interval.value_ms < interval.high_ms
    assert abs(interval.value_ms - 950) < 2 and interval.low_ms > 930 and interval.high_ms < 970


def test_a_night_is_suspect_only_when_the_intervals_separate() -> None:
    level = math.log(100.0)
    assert quantile_ci.suspect(quantile_ci.Interval(130, 140, 150), level, 0.05) == 1
    assert quantile_ci.suspect(quantile_ci.Interval(100, 140, 190), level, 0.05) == 0
    assert quantile_ci.suspect(quantile_ci.Interval(60, 65, 70), level, 0.05) == -1


def test_states_confirmed_then_recovered_and_a_suspect_latest_night() -> None:
    up, down = Change(0, 30, 32, 0.5, 9.0), Change(0, 60, 62, 1 / 1.5 - 1, -9.0)
    [regression] = regression_states.findings([up])
    assert regression.state == regression_states.CONFIRMED and regression.index == 30
    regression, improvement = regression_states.findings([up, down])
    assert regression.state == regression_states.RECOVERED and regression.recovered_at == 60
    assert improvement.kind == regression_states.IMPROVEMENT
    [suspect] = regression_states.findings([], latest_index=80, latest_suspect=1)
    assert suspect.state == regression_states.SUSPECTED and suspect.confirmed_at is None
