"""`make bench` rows (i): can the regressions of ``perf_trends`` be trusted? (issue 15)

Thousands of synthetic nightly p95 series from the two scenarios the issue pins, judged by the
change-point detector (``perf_profiler.analysis.changepoints``) and, on the same series in the
same run, by the previous median+MAD threshold (``analysis.trends.baseline``'s rule, vectorised):

* **A**: each night's p95 from 200 lognormal samples (median 50 ms, σ 0.5) times 5 % night-to-night
  lognormal noise (log-p95 spread ≈ 0.088);
* **B**: 10,000 samples a night and 2 % night noise (spread ≈ 0.022).

A night's p95 is drawn exactly: the sample p95 of ``n`` draws is the draw of rank ``k = ceil(0.95 n)``,
i.e. ``exp(μ + σ Φ⁻¹(U))`` with ``U ~ Beta(k, n + 1 - k)``. Every series has ``NIGHTS`` nights; the
change (step, spike or the start of a creep) is at night ``CHANGE``. Seeds are fixed and reported.

**E** (the error-rate series, ``analysis.error_changepoints``): 1,000 requests a night, each night's
errors binomial -- at a flat 1 % (false alarms), stepping from 0 % to 2 % at night ``CHANGE``, or at 1 %
with one night at 5 % (a burst).

On its own: ``.venv/bin/python bench/changepoints.py [--series 2000]``
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))
from perf_profiler.analysis.changepoints import DEFAULT, scan
from perf_profiler.analysis.error_changepoints import scan_errors

NIGHTS = 100
CHANGE = 60
SEED = 15_000
SCENARIOS = {"A": (200, 0.05), "B": (10_000, 0.02)}
FAMILIES = ("none", "step50", "step10", "spike", "creep")
MU, SIGMA, P = math.log(50.0), 0.5, 0.95
_INV = np.frompyfunc(NormalDist().inv_cdf, 1, 1)


def p95_series(rng: np.random.Generator, series: int, samples: int, night_noise: float) -> np.ndarray:
    """``series`` × ``NIGHTS`` p95 values (ms) of an unchanged endpoint."""
    k = math.ceil(P * samples)
    u = rng.beta(k, samples + 1 - k, size=(series, NIGHTS))
    log_p95 = MU + SIGMA * np.asarray(_INV(u), dtype=np.float64)
    return np.exp(log_p95 + rng.normal(0.0, math.log1p(night_noise), size=(series, NIGHTS)))


def with_change(values: np.ndarray, family: str) -> np.ndarray:
    """The series with the family's change from night ``CHANGE`` on."""
    out = values.copy()
    if family == "step50":
        out[:, CHANGE:] *= 1.5
    elif family == "step10":
        out[:, CHANGE:] *= 1.1
    elif family == "spike":
        out[:, CHANGE] *= 1.5
    elif family == "creep":
        out[:, CHANGE:] *= 1.01 ** np.arange(1, NIGHTS - CHANGE + 1)
    return out


def median_mad_flags(values: np.ndarray, window: int = 20, k: float = 3.0) -> np.ndarray:
    """The previous rule per night: p95 > median + max(3·1.4826·MAD, 10 %, 1 ms) of the last 20 runs."""
    flags = np.zeros(values.shape, dtype=bool)
    hist = np.lib.stride_tricks.sliding_window_view(values[:, :-1], window, axis=1)  # nights window..T-1
    median = np.median(hist, axis=2)
    mad = np.median(np.abs(hist - median[..., None]), axis=2)
    margin = np.maximum(np.maximum(k * 1.4826 * mad, 0.10 * median), 1.0)
    flags[:, window:] = values[:, window:] > median + margin
    return flags


def oracle_attribution(log_values: np.ndarray, ratio: float) -> float:
    """The share of series an oracle that knows both levels and the noise attributes within ±2 runs:
    the maximum-likelihood change point over all nights (the information limit of attribution)."""
    before = float(log_values[:, :CHANGE].mean())
    after = before + math.log(ratio)
    # log-likelihood ratio of "new level from night c on" (up to a constant): sum over t >= c
    gain = (log_values - (before + after) / 2.0) * (after - before)
    total = np.cumsum(gain[:, ::-1], axis=1)[:, ::-1]
    return float(np.mean(np.abs(np.argmax(total, axis=1) - CHANGE) <= 2))


def judge(values: np.ndarray, family: str) -> dict[str, Any]:
    """The detector's and the old rule's numbers on one family of series."""
    n = values.shape[0]
    found = scan(np.log(values), DEFAULT, drift=family in ("none", "creep"))
    regressions = [c for c in found.changes if c.regression]
    flags = median_mad_flags(values)
    out: dict[str, Any] = {"series": n}
    if family == "none":
        out["false_per_night"] = len(regressions) / (n * NIGHTS)
        out["false_improvements_per_night"] = (len(found.changes) - len(regressions)) / (n * NIGHTS)
        out["false_drift_per_night"] = len(found.drifts) / (n * NIGHTS)
        out["old_false_per_night"] = float(flags.mean())
        return out
    if family == "spike":
        out["reported"] = len({c.series for c in regressions if abs(c.index - CHANGE) <= 2}) / n
        out["old_reported"] = float(flags[:, CHANGE].mean())
        return out
    if family == "creep":
        drift_nights: dict[int, int] = {}
        for d in found.drifts:
            if d.at >= CHANGE and d.series not in drift_nights:
                drift_nights[d.series] = d.at - CHANGE + 1
        out["drift_within_30"] = sum(v <= 30 for v in drift_nights.values()) / n
        out["drift_nights_median"] = float(np.median(list(drift_nights.values()))) if drift_nights else None
        old_first = [int(np.argmax(row[CHANGE:])) + 1 for row in flags if row[CHANGE:].any()]
        out["old_first_flag_median"] = float(np.median(old_first)) if old_first else None
        out["old_flags_per_series"] = float(flags[:, CHANGE:].sum() / n)
        return out
    first: dict[int, Any] = {}
    for c in regressions:
        if c.confirmed_at >= CHANGE and c.series not in first:
            first[c.series] = c
    nights = {s: c.confirmed_at - CHANGE + 1 for s, c in first.items()}
    for within in (3, 25):
        out[f"within_{within}"] = sum(v <= within for v in nights.values()) / n
        out[f"old_within_{within}"] = float(flags[:, CHANGE:CHANGE + within].any(axis=1).mean())
    out["attributed_2"] = (sum(abs(c.index - CHANGE) <= 2 for c in first.values()) / len(first)) if first else None
    out["oracle_attributed_2"] = oracle_attribution(np.log(values), 1.5 if family == "step50" else 1.1)
    out["nights_median"] = float(np.median(list(nights.values()))) if nights else None
    return out


ERROR_REQUESTS = 1000
ERROR_FAMILIES = {"none": (0.01, 0.01, False), "step0to2": (0.0, 0.02, False), "burst": (0.01, 0.01, True)}


def judge_errors(rng: np.random.Generator, series: int, family: str) -> dict[str, Any]:
    """The error-rate detector on ``series`` binomial series of one family (scenario E)."""
    before, after, burst = ERROR_FAMILIES[family]
    rates = np.full((series, NIGHTS), before)
    rates[:, CHANGE:] = after
    if burst:
        rates[:, CHANGE] = 0.05
    errors = rng.binomial(ERROR_REQUESTS, rates)
    found = scan_errors(errors, np.full(errors.shape, ERROR_REQUESTS))
    regressions = [c for c in found.changes if c.regression]
    if family == "none":
        return {"series": series, "false_per_night": len(regressions) / (series * NIGHTS)}
    if family == "burst":
        return {"series": series, "reported": len({c.series for c in regressions if abs(c.index - CHANGE) <= 2})
                / series}
    first: dict[int, Any] = {}
    for c in regressions:
        if c.confirmed_at >= CHANGE and c.series not in first:
            first[c.series] = c
    return {"series": series,
            "within_3": sum(c.confirmed_at - CHANGE + 1 <= 3 for c in first.values()) / series,
            "attributed_2": (sum(abs(c.index - CHANGE) <= 2 for c in first.values()) / len(first)) if first else None}


def bench(series: int = 2000, log: Any = print) -> dict[str, Any]:
    """Every scenario × family, ``series`` series each; seeds ``SEED + index``."""
    started = time.perf_counter()
    results: dict[str, Any] = {"series_per_family": series, "nights": NIGHTS, "change_at": CHANGE,
                               "params": DEFAULT.__dict__, "seeds": {}}
    for i, (name, (samples, noise)) in enumerate(SCENARIOS.items()):
        for j, family in enumerate(FAMILIES):
            seed = SEED + 10 * i + j
            results["seeds"][f"{name}.{family}"] = seed
            values = with_change(p95_series(np.random.default_rng(seed), series, samples, noise), family)
            results[f"{name}.{family}"] = judge(values, family)
            log(f"(i) {name}.{family}: {results[f'{name}.{family}']}")
    for j, family in enumerate(ERROR_FAMILIES):
        seed = SEED + 100 + j
        results["seeds"][f"E.{family}"] = seed
        results[f"E.{family}"] = judge_errors(np.random.default_rng(seed), series, family)
        log(f"(i) E.{family}: {results[f'E.{family}']}")
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    return results


_TARGETS = (  # key, result path, target text, test
    ("i_false_A", "A.none", "false_per_night", "≤ 0.1 % per endpoint-night", lambda v: v <= 0.001),
    ("i_false_B", "B.none", "false_per_night", "≤ 0.1 % per endpoint-night", lambda v: v <= 0.001),
    ("i_step50_A", "A.step50", "within_3", "≥ 90 % within 3 nights", lambda v: v >= 0.9),
    ("i_step10_A", "A.step10", "within_25", "≥ 90 % within 25 nights", lambda v: v >= 0.9),
    ("i_step10_B", "B.step10", "within_3", "≥ 90 % within 3 nights", lambda v: v >= 0.9),
    ("i_attr_A50", "A.step50", "attributed_2", "≥ 90 % within ±2 runs", lambda v: v >= 0.9),
    ("i_attr_A10", "A.step10", "attributed_2", "≥ 90 % within ±2 runs", lambda v: v >= 0.9),
    ("i_attr_B10", "B.step10", "attributed_2", "≥ 90 % within ±2 runs", lambda v: v >= 0.9),
    ("i_spike_A", "A.spike", "reported", "≤ 2 %", lambda v: v <= 0.02),
    ("i_spike_B", "B.spike", "reported", "≤ 2 %", lambda v: v <= 0.02),
    ("i_creep_A", "A.creep", "drift_within_30", "reported within 30 nights (≥ 90 %)", lambda v: v >= 0.9),
    ("i_creep_B", "B.creep", "drift_within_30", "reported within 30 nights (≥ 90 %)", lambda v: v >= 0.9),
    ("i_err_false", "E.none", "false_per_night", "≤ 0.1 % per endpoint-night", lambda v: v <= 0.001),
    ("i_err_step", "E.step0to2", "within_3", "≥ 90 % within 3 nights", lambda v: v >= 0.9),
    ("i_err_attr", "E.step0to2", "attributed_2", "≥ 90 % within ±2 runs", lambda v: v >= 0.9),
    ("i_err_burst", "E.burst", "reported", "≤ 2 %", lambda v: v <= 0.02),
)


def targets(h: dict[str, Any] | None) -> dict[str, Any]:
    if not h:
        return {}
    out = {}
    for key, path, field_name, text, test in _TARGETS:
        value = h.get(path, {}).get(field_name)  # rows from before a target existed: not measured
        out[key] = {"target": text, "value": value, "met": value is not None and bool(test(value))}
    return out


_OLD = {"false_per_night": "old_false_per_night", "within_3": "old_within_3", "within_25": "old_within_25",
        "reported": "old_reported", "attributed_2": "oracle_attributed_2", "drift_within_30": "old_first_flag_median"}


def rows(h: dict[str, Any] | None) -> list[str]:
    """The markdown rows (h) of bench/results/latest.md."""
    if not h:
        return []
    met = targets(h)
    lines = []
    for key, path, field_name, text, _ in _TARGETS:
        if path not in h:  # a row from before this scenario existed
            continue
        value, old_key = h[path].get(field_name), _OLD[field_name]
        old = h[path].get(old_key) if old_key else None
        if old is None:
            old_text = "–"
        elif old_key == "old_first_flag_median":
            old_text = f"median+MAD: first flag after {old:g} nights (median)"
        elif old_key == "oracle_attributed_2":
            old_text = f"oracle knowing both levels (the information limit): {old:.2%}"
        else:
            old_text = f"median+MAD {old:.2%}"
        lines.append(
            f"| i | {path} {field_name} ({h['series_per_family']:,} series × {h['nights']} nights, "
            f"seed {h['seeds'][path]}) | {'–' if value is None else f'{value:.2%}'} "
            f"| {old_text} | – | {text} | {'**met**' if met[key]['met'] else '**not met**'} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=2000)
    args = parser.parse_args()
    h = bench(args.series)
    print(json.dumps(targets(h), indent=2, default=str))
    print("\n".join(rows(h)))
    print(f"elapsed {h['elapsed_s']} s")


if __name__ == "__main__":
    main()
